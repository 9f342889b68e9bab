import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ACCESS_LOG_BATCH_CHARS, ACCESS_LOG_FLUSH_MS, AccessLog } from '../../src/gateway/access-log.js';

function capture(level = 'info') {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino({ level }, stream), lines };
}

const record = {
  method: 'GET',
  path: '/a/"quoted"\\path\u0001',
  clientIp: '127.0.0.1',
  consumer: 'acme',
  api: 'demo',
  node: null,
  status: 503,
  code: 'SELECTOR_EMPTY',
  tries: 0,
  upstreamError: null,
  ms: 1.23456,
  upstreamMs: 0,
  selector: 'empty',
  selectorUs: 42,
  version: 7,
  tls: true,
  proto: 'h2',
};

describe('AccessLog', () => {
  it('writes one pino-format JSON line per request, escaping what needs it', async () => {
    const { log, lines } = capture();
    const access = AccessLog.of(log)!;
    access.write(record);
    access.flush();
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!);
    expect(parsed).toMatchObject({ ...record, level: 30, pid: process.pid, component: 'access', ms: 1.23 });
    expect(new Date(parsed.time).toISOString()).toBe(parsed.time);
  });

  it('escapes names the same way when they repeat (they are kept once escaped)', async () => {
    const { log, lines } = capture();
    const access = AccessLog.of(log)!;
    const odd = {
      ...record,
      api: 'dé"mo\\',
      node: 'n\u2028',
      code: null,
      upstreamError: 'UND_ERR_SOCKET',
      selector: 'ok',
    };
    for (let i = 0; i < 3; i++) access.write({ ...odd, tries: i });
    access.flush();
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => JSON.parse(l))).toEqual(
      [0, 1, 2].map((tries) => expect.objectContaining({ ...odd, tries, ms: 1.23 })),
    );
  });

  it('hands the destination one batch of lines, within the flush time or at once on flush()', async () => {
    const { log, lines } = capture();
    const stream = (log as unknown as Record<symbol, { write(line: string): unknown }>)[pino.symbols.streamSym]!;
    let writes = 0;
    const write = stream.write.bind(stream);
    stream.write = (line: string) => {
      writes++;
      return write(line);
    };
    const access = AccessLog.of(log)!;
    for (let i = 0; i < 3; i++) access.write({ ...record, version: i });
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(0);
    await new Promise((r) => setTimeout(r, ACCESS_LOG_FLUSH_MS + 50));
    expect(writes).toBe(1);
    expect(lines.map((l) => JSON.parse(l).version)).toEqual([0, 1, 2]);

    access.write({ ...record, version: 3 });
    access.flush();
    await new Promise((r) => setImmediate(r));
    expect(writes).toBe(2);
    expect(JSON.parse(lines[3]!).version).toBe(3);

    // A full batch goes at once, without waiting for the timer.
    const long = { ...record, path: '/' + 'x'.repeat(1000) };
    for (let i = 0; i < Math.ceil(ACCESS_LOG_BATCH_CHARS / 1000); i++) access.write(long);
    await new Promise((r) => setImmediate(r));
    expect(writes).toBe(3);
  });

  it('puts the opt-in fields at the end of the line, and leaves the line as it was without them', async () => {
    const { log, lines } = capture();
    const access = AccessLog.of(log)!;
    expect(access.fields).toBeNull();
    access.write(record);
    access.write(record, ',"query":"a=1","host":null');
    access.flush();
    await new Promise((r) => setImmediate(r));
    expect(lines[0]!.endsWith('"tls":true,"proto":"h2"}')).toBe(true);
    expect(lines[1]!.endsWith('"tls":true,"proto":"h2","query":"a=1","host":null}')).toBe(true);
    expect(JSON.parse(lines[1]!)).toMatchObject({ ...record, ms: 1.23, query: 'a=1', host: null });
  });

  it('is off when the logger does not log at info level', () => {
    expect(AccessLog.of(capture('warn').log)).toBeNull();
  });
});
