/**
 * `stopOnce` with a moved clock: a stop that never finishes ends the process STOP_GRACE_MS after its
 * bound, saying what it cut; a stop that finishes ends it with 0 and nothing later; a second request
 * ends it at once.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { STOP_GRACE_MS, stopOnce } from '../../src/runtime/shutdown.js';

/** A stop whose graceful part is `stop`, bound 1,000 ms; records the exits, cuts and log lines. */
function harness(stop: () => Promise<void>) {
  const lines: Array<Record<string, unknown>> = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const exits: number[] = [];
  let cuts = 0;
  const request = stopOnce({
    log: pino({}, out),
    stop,
    boundMs: 1_000,
    unfinished: () => ({ requestsInProgress: 3 }),
    cut: () => cuts++,
    exit: (code) => exits.push(code),
  });
  return { request, exits, lines, cuts: () => cuts };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('stopOnce', () => {
  it('ends a stop that never finishes STOP_GRACE_MS after its bound, with 1, saying what it cut', async () => {
    const h = harness(() => new Promise<void>(() => {}));
    h.request('SIGTERM');
    await vi.advanceTimersByTimeAsync(1_000 + STOP_GRACE_MS - 1);
    expect(h.exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.exits).toEqual([1]);
    expect(h.cuts()).toBe(1);
    expect(h.lines.at(-1)).toMatchObject({ reason: 'SIGTERM', requestsInProgress: 3 });
    expect(String(h.lines.at(-1)!.msg)).toContain(`within ${1_000 + STOP_GRACE_MS} ms`);
  });

  it('ends a stop that finishes with 0, and nothing ends it again later', async () => {
    let finish = () => {};
    const h = harness(() => new Promise<void>((r) => (finish = r)));
    h.request('SIGINT');
    await vi.advanceTimersByTimeAsync(500);
    finish();
    await vi.advanceTimersByTimeAsync(2 * (1_000 + STOP_GRACE_MS));
    expect(h.exits).toEqual([0]);
    expect(h.cuts()).toBe(0);
  });

  it('ends at once on a second request, and only once', async () => {
    const h = harness(() => new Promise<void>(() => {}));
    h.request('SIGINT');
    h.request('SIGINT');
    expect(h.exits).toEqual([1]);
    expect(String(h.lines.at(-1)!.msg)).toContain('a second stop request');
    await vi.advanceTimersByTimeAsync(2 * (1_000 + STOP_GRACE_MS));
    expect(h.exits).toEqual([1]);
  });
});
