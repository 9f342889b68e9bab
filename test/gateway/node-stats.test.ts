import { describe, expect, it } from 'vitest';
import { NodeStats } from '../../src/gateway/node-stats.js';

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
