import { describe, expect, it } from 'vitest';
import { LogBudget } from '../src/log-budget.js';

// One allowance for every "log this at most N times, then once per interval, and count the rest".

describe('a log budget', () => {
  it('lets a burst through, then one line per interval, each carrying the events left out before it', () => {
    let now = 0;
    const budget = new LogBudget({ burst: 3, everyMs: 1_000, now: () => now });
    const taken: Array<number | null> = [];
    for (let i = 0; i < 10; i++) {
      taken.push(budget.take());
      now += 250;
    }
    // 3 at once (the refill goes on meanwhile); then one whenever a whole token is back (at 1 000 ms
    // and 2 000 ms), the rest counted.
    expect(taken).toEqual([0, 0, 0, null, 1, null, null, null, 3, null]);
    // Every event is a line or counted on a later one.
    now += 60_000;
    expect(budget.take()).toBe(1);
    expect(budget.take()).toBe(0); // refilled to the whole burst while quiet
  });

  it('keeps an allowance and a count per key', () => {
    let now = 0;
    const budget = new LogBudget({ burst: 1, everyMs: 60_000, maxKeys: 4, now: () => now });
    expect([budget.take('a'), budget.take('b'), budget.take('a'), budget.take('a'), budget.take('b')]).toEqual([
      0,
      0,
      null,
      null,
      null,
    ]);
    now = 60_000;
    expect([budget.take('a'), budget.take('b'), budget.take('c')]).toEqual([2, 1, 0]);
  });

  it('bounds the keys it counts for: past maxKeys the oldest count is forgotten, never the allowance of a new key', () => {
    let now = 0;
    const budget = new LogBudget({ burst: 1, everyMs: 60_000, maxKeys: 2, now: () => now });
    for (const key of ['a', 'b', 'a', 'b', 'b']) budget.take(key);
    // A third key starts with its whole allowance; a's count (the oldest) gives way to c's.
    expect(budget.take('c')).toBe(0);
    expect(budget.take('c')).toBeNull();
    now = 60_000;
    expect(budget.take('b')).toBe(2);
    expect(budget.take('c')).toBe(1);
    expect(budget.take('a')).toBe(0);
  });

  it('a budget of one line an interval is the "at once, then at most once per interval" of a single kind of line', () => {
    let now = 5;
    const budget = new LogBudget({ burst: 1, everyMs: 60_000, now: () => now });
    expect(budget.take()).toBe(0);
    now += 59_999;
    expect(budget.take()).toBeNull();
    now += 1;
    expect(budget.take()).toBe(1);
    now += 59_999;
    expect(budget.take()).toBeNull();
  });
});
