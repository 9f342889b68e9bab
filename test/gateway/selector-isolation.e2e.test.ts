import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi, setSelector } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// A hostile selector, whose trigger hides behind a request header so its trial on save passes, is
// hit while two other APIs serve (one with a selector, one without): every request to them is
// answered right. Their latency before and during the attack is printed (the figures belong to the
// benchmark; the test asserts answers and that nothing times out).
let t: TestGateway;
let ups: TestUpstream[];

beforeAll(async () => {
  t = await startTestGateway();
  ups = await startUpstreams(['a', 'b', 'temp']);
});

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

const up = (name: string) => ups.find((u) => u.name === name)!;
const canary = readFileSync(new URL('../../scripts-examples/canary-by-query.js', import.meta.url), 'utf8');

const hostile = [
  'try { Object.defineProperty(Array.prototype, "toJSON", { value() { return "x".repeat(4e6); } }); } catch (e) {}',
  'function select(request, env, nodes) {',
  '  const mode = request.headers["x-mode"];',
  '  if (mode === "console") { console.log(["a"], "y".repeat(4e6)); for (let i = 0; i < 5000; i++) console.log(i); }',
  '  if (mode === "message") { const e = new Error("x"); Object.defineProperty(e, "message", { get() { return "m".repeat(4e6); } }); throw e; }',
  '  if (mode === "encode") return new Proxy(nodes.slice(), { get(t, k) { return k === "length" ? 5e8 : t[0]; } });',
  '  return nodes;',
  '}',
].join('\n');

/** Answers of `n` requests, at most `concurrency` at a time, with each one's latency in ms. */
async function load(
  paths: readonly string[],
  concurrency: number,
): Promise<Array<{ path: string; node: string; ms: number }>> {
  const out: Array<{ path: string; node: string; ms: number }> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < paths.length) {
        const path = paths[next++]!;
        const t0 = performance.now();
        const node = await t.nodeOf(path, { signal: AbortSignal.timeout(10_000) });
        out.push({ path, node, ms: performance.now() - t0 });
      }
    }),
  );
  return out;
}

function percentiles(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!.toFixed(1);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${s[s.length - 1]!.toFixed(1)} ms`;
}

describe('a hostile selector next to other APIs', () => {
  it('other APIs, with and without a selector, keep answering right while it is attacked', async () => {
    const plain = await createApi(t, { name: 'plain', path: '/plain/*', algorithm: 'round_robin', selector: null });
    const canaryApi = await createApi(t, {
      name: 'canary',
      path: '/canary/*',
      algorithm: 'round_robin',
      selector: null,
    });
    const bad = await createApi(t, { name: 'bad', path: '/bad/*', algorithm: 'round_robin', selector: null });
    for (const id of [plain, canaryApi, bad]) {
      await addNode(t, id, up('a'));
      await addNode(t, id, up('temp'), { tags: ['temp'] });
    }
    await setSelector(t, canaryApi, { code: canary, memoize: false });
    await setSelector(t, bad, { code: hostile, memoize: false, timeoutMs: 200, memoryMb: 64 });

    const others = Array.from({ length: 160 }, (_, i) =>
      i % 2 === 0 ? '/plain/x' : i % 4 === 1 ? '/canary/x?select_code=temp_node' : '/canary/x',
    );
    const check = (answers: Awaited<ReturnType<typeof load>>) => {
      const wrong = answers.filter(({ path, node }) =>
        path.startsWith('/plain')
          ? node !== 'a' && node !== 'temp'
          : path.includes('temp_node')
            ? node !== 'temp'
            : node !== 'a',
      );
      expect(wrong).toEqual([]);
    };
    const before = await load(others, 8);
    check(before);

    const attack = ['console', 'message', 'encode'].flatMap((mode) =>
      Array.from({ length: 4 }, () =>
        t.nodeOf('/bad/x', { headers: { 'x-mode': mode }, signal: AbortSignal.timeout(20_000) }),
      ),
    );
    const during = await load(others, 8);
    const attacked = await Promise.all(attack);
    check(during);
    // The bad API's own requests end (use-all: every node, or the quarantine's answer), none hangs.
    expect(attacked.every((node) => node === 'a' || node === 'temp')).toBe(true);

    for (const [name, prefix] of [
      ['without selector', '/plain'],
      ['with selector', '/canary'],
    ] as const) {
      const of = (answers: Awaited<ReturnType<typeof load>>) =>
        answers.filter((a) => a.path.startsWith(prefix)).map((a) => a.ms);
      console.log(
        `API ${name}: before ${percentiles(of(before))}; during 12 hostile requests ${percentiles(of(during))}`,
      );
    }
    const { body } = await t.admin('GET', `/admin/apis/${canaryApi}/selector`);
    expect(body.status).toMatchObject({ state: 'active', failures: 0 });
  });
});
