import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigCutShortError,
  ConfigSyntaxError,
  formatConfig,
  parseConfigText,
} from '../../src/config-files/format.js';
import {
  ConfigParseBusyError,
  INLINE_PARSE_MAX_BYTES,
  PARSES_AT_ONCE,
  parseConfigTextOffThread,
} from '../../src/config-files/parse-off-thread.js';
import { IsogateProcesses } from '../helpers/cluster.js';

// Large config files are parsed in a worker thread: the admin process's event loop (and /status and
// /metrics beside it in `isogate start`) keeps answering. Here from the TypeScript sources (the thread
// registers tsx), and through a built `isogate start` (the thread runs dist/).

const TOKEN = 'parse-thread-token-0123456789abcdef';
const procs = new IsogateProcesses(TOKEN);

/** A YAML export of `n` APIs with a node each (about 500 bytes per API). */
function bigFile(n: number): string {
  const apis = [];
  const nodes = [];
  for (let i = 0; i < n; i++) {
    apis.push({ name: `api-${i}`, path: `/a/${i}/*`, algorithm: 'round_robin', methods: ['GET', 'POST'] });
    nodes.push({ api: `api-${i}`, name: 'n', connector: { kind: 'simple-url', url: 'http://127.0.0.1:9' } });
  }
  return formatConfig({ isogate: 1, apis, nodes }, 'yaml');
}

/** `text` with an unclosed flow sequence on its 2,000th line (the end line kept: not cut short). */
function corrupt(text: string): string {
  const lines = text.split('\n');
  lines.splice(2_000, 0, '  - [unclosed');
  return lines.join('\n');
}

let big: string;
beforeAll(() => {
  big = bigFile(3_000);
  expect(Buffer.byteLength(big)).toBeGreaterThan(INLINE_PARSE_MAX_BYTES * 4);
});

afterAll(async () => {
  await procs.stopAll();
});

describe('parseConfigTextOffThread', () => {
  it('gives what parseConfigText gives, with its errors, and keeps the event loop free meanwhile', async () => {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = performance.now();
    const parsed = await parseConfigTextOffThread(big);
    const took = performance.now() - started;
    delay.disable();
    expect(parsed).toEqual(parseConfigText(big));
    // Fixed (was): parsed on the event loop, which stood still for the whole parse (seconds for a few MB).
    expect(delay.max / 1e6).toBeLessThan(took / 2);

    const cut = big.slice(0, big.lastIndexOf('  - api: api-'));
    await expect(parseConfigTextOffThread(cut)).rejects.toBeInstanceOf(ConfigCutShortError);
    const broken = corrupt(big);
    const err = await parseConfigTextOffThread(broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigSyntaxError);
    expect(err).not.toBeInstanceOf(ConfigCutShortError);
    expect((err as ConfigSyntaxError).line).toBeGreaterThan(1);
  });

  it(`runs at most ${PARSES_AT_ONCE} threads at once; one more is refused, and small texts never wait`, async () => {
    const running = Array.from({ length: PARSES_AT_ONCE }, () => parseConfigTextOffThread(big));
    await expect(parseConfigTextOffThread(big)).rejects.toBeInstanceOf(ConfigParseBusyError);
    expect(await parseConfigTextOffThread('isogate: 1\nvariables: []\n')).toEqual({ isogate: 1, variables: [] });
    await Promise.all(running);
    expect(await parseConfigTextOffThread(big)).toEqual(parseConfigText(big));
  });
});

describe('POST /admin/config/apply with a large YAML body (built isogate start)', () => {
  it('applies it from a thread while /status keeps answering; a YAML error is a 400 naming the line', async () => {
    const proc = await procs.start('start', ['--workers', '1', '--no-demo']);
    const apply = (body: string, query = '') =>
      fetch(`http://127.0.0.1:${proc.admin}/admin/config/apply${query}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' },
        body,
      });
    const applying = apply(big, '?dryRun=true');
    let answeredMeanwhile = 0;
    let done = false;
    void applying.then(() => (done = true));
    while (!done) {
      const status = await fetch(`http://127.0.0.1:${proc.status}/status`);
      expect(status.status).toBe(200);
      await status.arrayBuffer();
      if (!done) answeredMeanwhile++;
    }
    const answer = await applying;
    expect(answer.status).toBe(200);
    const plan = (await answer.json()) as { dryRun: boolean; changes: unknown[] };
    expect(plan.dryRun).toBe(true);
    expect(plan.changes.length).toBeGreaterThan(3_000);
    expect(answeredMeanwhile).toBeGreaterThan(1);

    const bad = await apply(corrupt(big));
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { code: string; message: string; details: Array<{ line?: number }> } };
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.message).toMatch(/^the body is not valid YAML: /);
    expect(body.error.details[0]!.line).toBeGreaterThan(1);
  });
});
