import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AccessLog } from '../../src/gateway/access-log.js';

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
};

describe('AccessLog', () => {
  it('writes one pino-format JSON line per request, escaping what needs it', async () => {
    const { log, lines } = capture();
    AccessLog.of(log)!.write(record);
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!);
    expect(parsed).toMatchObject({ ...record, level: 30, pid: process.pid, component: 'access', ms: 1.23 });
    expect(new Date(parsed.time).toISOString()).toBe(parsed.time);
  });

  it('is off when the logger does not log at info level', () => {
    expect(AccessLog.of(capture('warn').log)).toBeNull();
  });
});
