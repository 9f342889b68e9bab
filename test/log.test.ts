import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LOG_FLUSH_MS, LogOutput } from '../src/log.js';

/** A stream that records every write and completes it only when told to. */
class HeldOutput extends Writable {
  readonly writes: string[] = [];
  private pending: Array<() => void> = [];
  constructor() {
    super({ highWaterMark: 1 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error) => void): void {
    this.writes.push(chunk.toString());
    this.pending.push(() => done());
  }
  release(): void {
    for (const p of this.pending.splice(0)) p();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LogOutput', () => {
  it('hands lines over in one write per flush interval, not one per line', async () => {
    const out = new HeldOutput();
    const log = new LogOutput(out);
    for (let i = 0; i < 100; i++) log.write(`line ${i}\n`);
    expect(out.writes).toHaveLength(0);
    await sleep(LOG_FLUSH_MS * 2);
    expect(out.writes).toHaveLength(1);
    expect(out.writes[0]!.split('\n')).toHaveLength(101);
    out.release();
    await log.close(100);
  });

  it('never holds more than its bound while the output takes nothing, and says how many lines it dropped', async () => {
    const out = new HeldOutput();
    const log = new LogOutput(out);
    log.write('first\n');
    log.flush(); // taken by the output, never completed
    const line = `${'x'.repeat(1023)}\n`;
    for (let i = 0; i < 10_000; i++) log.write(line); // 10 MiB: past the 8 MiB bound
    await sleep(LOG_FLUSH_MS * 2);
    expect(out.writes).toHaveLength(1);
    out.release();
    const closed = log.close(1_000);
    await sleep(10);
    out.release();
    await closed;
    expect(out.writes[1]).toMatch(/^\{"level":40,.*dropped 1[0-9]{3}"\}\n/);
    expect(out.writes.slice(1).join('').length).toBeLessThanOrEqual(8 * 1024 * 1024 + 200);
  });

  it('close gives up after its timeout when the output never takes the last lines', async () => {
    const out = new HeldOutput();
    const log = new LogOutput(out);
    log.write('last\n');
    await log.close(200); // resolves although the write never completes
    expect(out.writes).toEqual(['last\n']);
  });

  it('gives up an output that failed (no reader any more) and takes lines without error', async () => {
    const out = new Writable({
      write: (_c, _e, done) => done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })),
    });
    const log = new LogOutput(out);
    log.write('a\n');
    log.flush();
    await sleep(10);
    expect(log.write('b\n')).toBe(true);
    await log.close(100);
  });
});
