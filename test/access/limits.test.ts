import { describe, expect, it } from 'vitest';
import { LocalLimiter } from '../../src/access/limits/local.js';
import { reservationMs } from '../../src/access/limits/cluster.js';

// The local token bucket with a clock the test moves: burst, refill across window edges, keys.

function limiter(rate: number, perMs: number, burst: number, maxKeys = 100) {
  let now = 0;
  const l = new LocalLimiter(burst, rate / perMs, 'local', maxKeys, () => now);
  return { l, at: (ms: number) => void (now = ms) };
}

const taken = (l: LocalLimiter, key: string, n: number) =>
  Array.from({ length: n }, () => (l.take(key).allowed ? 1 : 0)).reduce((a: number, b) => a + b, 0);

describe('local token bucket', () => {
  it.each([
    // rate per period, burst, requests at once → passed
    ['10/s, burst 10', 10, 1000, 10, 15, 10],
    ['10/s, burst 1 (strict rhythm)', 10, 1000, 1, 5, 1],
    ['60/min, burst 5', 60, 60_000, 5, 8, 5],
    ['1000/h, burst 1000', 1000, 3_600_000, 1000, 1001, 1000],
  ])('%s: a burst of requests at once passes up to the burst', (_name, rate, per, burst, sent, passed) => {
    const { l } = limiter(rate, per, burst);
    expect(taken(l, 'k', sent)).toBe(passed);
  });

  it('refills at the rate: window edges never let twice the burst through', () => {
    const { l, at } = limiter(10, 1000, 10);
    expect(taken(l, 'k', 10)).toBe(10);
    at(99); // just before one token is back (10/s: one per 100 ms)
    expect(l.take('k').allowed).toBe(false);
    at(100);
    expect(l.take('k').allowed).toBe(true);
    expect(l.take('k').allowed).toBe(false);
    // Across a second boundary: over [0, 1000] at most burst + rate × 1 s = 20 in all.
    at(1000);
    const total = 11 + taken(l, 'k', 50);
    expect(total).toBe(20);
  });

  it('reports remaining, reset and retry-after', () => {
    const { l, at } = limiter(10, 1000, 10);
    const first = l.take('k');
    expect(first).toMatchObject({ allowed: true, remaining: 9, limit: 10, retryAfterMs: 0, policy: 'local' });
    expect(first.resetMs).toBeCloseTo(100);
    taken(l, 'k', 9);
    const refused = l.take('k');
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeCloseTo(100);
    at(50);
    expect(l.peek('k').allowed).toBe(false);
    at(100);
    expect(l.peek('k').allowed).toBe(true);
  });

  it('keeps one bucket per key', () => {
    const { l } = limiter(1, 1000, 2);
    expect(taken(l, 'consumer:a', 3)).toBe(2);
    expect(taken(l, 'consumer:b', 3)).toBe(2);
  });

  it('bounds its keys: full buckets go first, then the oldest (which comes back full)', () => {
    const { l, at } = limiter(1, 1000, 2, 3);
    taken(l, 'a', 2);
    taken(l, 'b', 1);
    taken(l, 'c', 2);
    at(1);
    taken(l, 'd', 1); // evicts a (oldest; none full)
    expect(l.size).toBe(3);
    expect(l.take('a').allowed).toBe(true);
  });
});

describe('cluster reservations', () => {
  it('live at most a second, and a twentieth of the period', () => {
    expect(reservationMs(1000)).toBe(50);
    expect(reservationMs(60_000)).toBe(1000);
    expect(reservationMs(3_600_000)).toBe(1000);
  });
});
