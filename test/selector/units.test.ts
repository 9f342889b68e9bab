import { describe, expect, it } from 'vitest';
import { FrameReader, OVERSIZED_HEAD_BYTES, encodeFrame, parseIndexList } from '../../src/selector/protocol.js';
import { FailureWindow, SelectorHealth } from '../../src/selector/quarantine.js';
import { LineBudget } from '../../src/selector/rate-limit.js';
import { MemoVerifier, VERIFY_EVERY, verificationCounts, type Rerun } from '../../src/selector/verifier.js';
import { request } from './fixtures.js';

describe('frames', () => {
  const noOversized = () => {
    throw new Error('no frame here is over the cap');
  };

  it('reassembles frames split across and packed into chunks', () => {
    const texts = ['R1\t5\t0,1', 'héllo\tworld', '', 'L3\t0\t["x"]'];
    const bytes = Buffer.concat(texts.map(encodeFrame));
    for (const cut of [1, 2, 3, 5, 7, bytes.length]) {
      const got: string[] = [];
      const reader = new FrameReader(
        (buf, start, end) => got.push(buf.toString('utf8', start, end)),
        1024,
        noOversized,
      );
      for (let i = 0; i < bytes.length; i += cut) reader.push(bytes.subarray(i, i + cut));
      expect(got).toEqual(texts);
    }
  });

  it('skips a frame over the cap as it arrives, reports its head and length, and goes on with the next', () => {
    const big = 'R7\t1\t' + 'x'.repeat(5000);
    const bytes = Buffer.concat([encodeFrame('A1'), encodeFrame(big), encodeFrame('A2')]);
    for (const cut of [1, 3, 64, 1000, bytes.length]) {
      const got: string[] = [];
      const over: Array<[string, number]> = [];
      const reader = new FrameReader(
        (buf, start, end) => got.push(buf.toString('utf8', start, end)),
        1024,
        (head, size) => over.push([head.toString(), size]),
      );
      for (let i = 0; i < bytes.length; i += cut) reader.push(bytes.subarray(i, i + cut));
      expect(got).toEqual(['A1', 'A2']);
      expect(over).toEqual([[big.slice(0, OVERSIZED_HEAD_BYTES), Buffer.byteLength(big)]]);
    }
  });

  it('assembles a large frame from 64 KiB chunks with one copy of each byte (linear), and skips one over the cap without copying it', () => {
    for (const mb of [5, 40]) {
      const frame = encodeFrame('R1\t1\t' + 'y'.repeat(mb * 1024 * 1024));
      let got = 0;
      const reader = new FrameReader((_buf, start, end) => (got += end - start), 64 * 1024 * 1024, noOversized);
      const t0 = process.cpuUsage();
      for (let i = 0; i < frame.length; i += 65536) reader.push(frame.subarray(i, i + 65536));
      const used = process.cpuUsage(t0);
      expect(got).toBe(frame.length - 4);
      expect(reader.copiedBytes).toBe(frame.length);
      console.log(`frame of ${mb} MB in 64 KiB chunks: ${((used.user + used.system) / 1000).toFixed(1)} ms CPU`);

      let over = 0;
      const capped = new FrameReader(
        () => {},
        1024 * 1024,
        (_head, size) => (over = size),
      );
      for (let i = 0; i < frame.length; i += 65536) capped.push(frame.subarray(i, i + 65536));
      expect(over).toBe(frame.length - 4);
      expect(capped.copiedBytes).toBe(4 + OVERSIZED_HEAD_BYTES);
    }
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

describe('memo verifier sampling', () => {
  /** A verifier whose re-runs agree at once, on a clock the test moves; returns it and the re-run count. */
  function verifier(minIntervalMs: number) {
    let clock = 0;
    let reruns = 0;
    const agree: Rerun = { ok: true, picked: [0], cacheable: true };
    const v = new MemoVerifier(
      () => {
        reruns++;
        return Promise.resolve(agree);
      },
      () => {},
      minIntervalMs,
      () => clock,
    );
    const target = { verification: verificationCounts(), nodeIds: ['a'], memoized: true };
    const leaf = { hit: { ok: true as const, picked: [0], cached: true as const, durationUs: 0 }, unverified: 2 };
    let hits = 0;
    const hit = (n: number) => {
      for (let i = 0; i < n; i++) v.onHit(target, leaf, ++hits, request(), [0]);
    };
    return { hit, reruns: () => reruns, tick: (ms: number) => (clock += ms) };
  }

  it('re-runs the first hits of an entry, then one in VERIFY_EVERY, at most one of those per interval', () => {
    const v = verifier(100);
    v.hit(2);
    expect(v.reruns()).toBe(2); // the entry's first two hits
    v.hit(VERIFY_EVERY * 4 - 2);
    expect(v.reruns()).toBe(3); // four due at the same instant: one taken
    v.tick(99);
    v.hit(VERIFY_EVERY);
    expect(v.reruns()).toBe(3); // still inside the interval
    v.tick(1);
    v.hit(VERIFY_EVERY - 1);
    expect(v.reruns()).toBe(3); // the interval passed, but this hit is not a multiple of VERIFY_EVERY
    v.hit(1);
    expect(v.reruns()).toBe(4);
  });

  it('with no interval, samples every VERIFY_EVERY-th hit', () => {
    const v = verifier(0);
    v.hit(2 + VERIFY_EVERY * 3);
    expect(v.reruns()).toBe(2 + 3);
  });
});
