import { describe, expect, it } from 'vitest';
import { NodeStats } from '../../src/gateway/node-stats.js';
import { mergeNodeStats } from '../../src/runtime/cluster/messages.js';

describe('NodeStats', () => {
  const t0 = 1_700_000_000_000; // a slot boundary (multiple of 10 s)

  it('counts requests and errors per node over the last minute and five minutes', () => {
    const s = new NodeStats();
    for (let i = 0; i < 90; i++) s.record('a', false, 2, t0 + i * 100);
    for (let i = 0; i < 10; i++) s.record('a', true, 40, t0 + i * 100);
    s.record('b', false, 1, t0);
    const v = s.view('a', t0 + 9_999);
    expect(v.lastMinute.requests).toBe(100);
    expect(v.lastMinute.errors).toBe(10);
    expect(v.lastMinute.errorRate).toBeCloseTo(0.1);
    expect(v.lastMinute.p99Ms).toBe(50); // the bucket holding the 99th request (40 ms) ends at 50
    expect(s.view('b', t0 + 9_999).lastMinute.requests).toBe(1);
  });

  it('drops slots older than the window', () => {
    const s = new NodeStats();
    s.record('a', false, 1, t0);
    expect(s.view('a', t0 + 61_000).lastMinute.requests).toBe(0);
    expect(s.view('a', t0 + 61_000).lastFiveMinutes.requests).toBe(1);
    expect(s.view('a', t0 + 301_000).lastFiveMinutes.requests).toBe(0);
    // A slot reused after wrapping around starts from zero.
    s.record('a', false, 1, t0 + 300_000);
    expect(s.view('a', t0 + 300_000).lastFiveMinutes.requests).toBe(1);
  });

  it('an idle node has zeros and no p99', () => {
    expect(new NodeStats().view('x').lastMinute).toEqual({ requests: 0, errors: 0, rps: 0, errorRate: 0, p99Ms: null });
  });
});

describe('NodeStats.recent', () => {
  const t0 = 1_700_000_000_000;

  it('lists the last five minutes slot by slot, oldest first, with each slot’s p99', () => {
    const s = new NodeStats();
    for (let i = 0; i < 5; i++) s.record('a', false, 2, t0 + i);
    s.record('a', true, 80, t0 + 20_000);
    const recent = s.view('a', t0 + 25_000).recent;
    expect(recent).toHaveLength(30);
    expect(recent.at(-1)!.at).toBe(t0 + 20_000);
    expect(recent.at(-3)).toEqual({ at: t0, requests: 5, errors: 0, p99Ms: 2 });
    expect(recent.at(-2)).toEqual({ at: t0 + 10_000, requests: 0, errors: 0, p99Ms: null });
    expect(recent.at(-1)).toEqual({ at: t0 + 20_000, requests: 1, errors: 1, p99Ms: 100 });
    expect(recent[0]!.at).toBe(t0 + 20_000 - 29 * 10_000);
  });

  it('merges workers’ slots by their start time, summing counts and keeping the higher p99', () => {
    const w1 = new NodeStats();
    const w2 = new NodeStats();
    w1.record('a', false, 2, t0 + 1);
    w2.record('a', true, 40, t0 + 2);
    w2.record('a', false, 1, t0 + 10_001);
    // w1 answered just before the slot boundary, w2 just after it.
    const merged = mergeNodeStats([{ a: w1.view('a', t0 + 9_999) }, { a: w2.view('a', t0 + 10_001) }], ['a']).a!;
    expect(merged.recent).toHaveLength(30);
    expect(merged.recent.at(-1)).toEqual({ at: t0 + 10_000, requests: 1, errors: 0, p99Ms: 1 });
    expect(merged.recent.at(-2)).toEqual({ at: t0, requests: 2, errors: 1, p99Ms: 50 });
  });

  it('forgets keys with nothing in the window (deleted nodes, APIs, codes) when a new key comes, at most once per slot', () => {
    const stats = new NodeStats();
    stats.record('gone', false, 1, t0);
    stats.record('kept', false, 1, t0);
    // Five minutes on, `kept` still answers and `gone` (a deleted node) does not.
    const later = t0 + 300_000;
    stats.record('kept', false, 1, later);
    expect(stats.size).toBe(2); // no new key yet: nothing swept
    stats.record('new', false, 1, later);
    expect(stats.size).toBe(2);
    expect(stats.view('gone', later).lastFiveMinutes.requests).toBe(0);
    expect(stats.view('kept', later).lastFiveMinutes.requests).toBe(1);
    // A key that went quiet just now is swept only after its slots leave the window.
    stats.record('other', false, 1, later + 10_000);
    expect(stats.size).toBe(3);
  });
});
