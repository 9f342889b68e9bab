import { describe, expect, it } from 'vitest';
import { FrameReader, encodeFrame, parseIndexList } from '../../src/selector/protocol.js';
import { FailureWindow, SelectorHealth } from '../../src/selector/quarantine.js';
import { LineBudget } from '../../src/selector/rate-limit.js';

describe('frames', () => {
  it('reassembles frames split across and packed into chunks', () => {
    const texts = ['R1\t5\t0,1', 'héllo\tworld', '', 'L3\t0\t["x"]'];
    const bytes = Buffer.concat(texts.map(encodeFrame));
    for (const cut of [1, 2, 3, 5, 7, bytes.length]) {
      const got: string[] = [];
      const reader = new FrameReader((buf, start, end) => got.push(buf.toString('utf8', start, end)));
      for (let i = 0; i < bytes.length; i += cut) reader.push(bytes.subarray(i, i + cut));
      expect(got).toEqual(texts);
    }
  });

  it('refuses a length beyond the limit', () => {
    const reader = new FrameReader(() => {});
    const header = Buffer.alloc(4);
    header.writeUInt32LE(0xffffffff, 0);
    expect(() => reader.push(header)).toThrow(/exceeds/);
  });

  it.each([
    ['', []],
    ['7', [7]],
    ['0,12,3', [0, 12, 3]],
    [',1', null],
    ['1,', null],
    ['1;2', null],
  ])('reads the index list %j', (text, expected) => {
    const buf = Buffer.from(`x${text}y`);
    expect(parseIndexList(buf, 1, 1 + text.length)).toEqual(expected);
  });
});

describe('quarantine window', () => {
  it('trips at the 5th failure within 10 s, not when they are spread out', () => {
    const window = new FailureWindow({ failures: 5, windowMs: 10_000 });
    expect([0, 3000, 6000, 9000].map((t) => window.record(t))).toEqual([false, false, false, false]);
    expect(window.record(10_500)).toBe(false); // 0 … 10 500 spans more than the window
    expect(window.record(11_000)).toBe(true); // 3000 … 11 000
  });

  it('quarantines at once on a crash and keeps the newest 10 errors', () => {
    const health = new SelectorHealth();
    for (let i = 0; i < 12; i++) health.fail({ kind: 'unavailable', message: `m${i}` }, i);
    expect(health.quarantined).toBe(false); // not the script's doing
    expect(health.fail({ kind: 'crash', message: 'boom' }, 100)).toBe(true);
    const status = health.status();
    expect(status.state).toBe('quarantined');
    expect(status.lastErrors).toHaveLength(10);
    expect(status.lastErrors[0]).toMatchObject({ kind: 'crash', message: 'boom' });
  });
});

describe('console budget', () => {
  it('lets N lines a second through and counts the rest', () => {
    const budget = new LineBudget(2);
    expect([0, 10, 20, 999].map((t) => budget.take(t))).toEqual([true, true, false, false]);
    expect(budget.take(1000)).toBe(true);
    expect(budget.dropped).toBe(2);
  });
});
