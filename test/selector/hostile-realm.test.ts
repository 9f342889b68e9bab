import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IsolateRunner } from '../../src/selector/isolate/runner.js';
import type { SelectorSandbox } from '../../src/selector/sandbox.js';
import type { SelectOutcome } from '../../src/selector/types.js';
import { config, node, request, startSandbox } from './fixtures.js';

// The selector realm's hidden places for state, written from the attacker's side.
//
// 1. Memoization ("auto", the default, with the static pre-filter on) must give the picks memoize:
//    false gives, call for call. The realm's check compares only what the script's top level left,
//    so everything reachable from the global object before the script ran must be frozen (the
//    global object's prototype, the console's functions, the whole of Intl), and the global object's
//    own prototype and extensibility are compared after each run.
// 2. A call's answer must not depend on whether it ran alone or in a batch: a lone call runs through
//    the batch entry too, so the stack a script sees is the same.

const catalog = [node('a'), node('b', ['temp']), node('c', ['pc']), node('d', ['mobile'])];
const all = [0, 1, 2, 3];
const variants = [
  request({ query: { select_code: 'temp_node' }, headers: { 'x-user': 'u1' } }),
  request({ query: {}, headers: { 'x-user': 'u2' } }),
];
const CALLS = 12;
const sequence = Array.from({ length: CALLS }, (_, i) => variants[i % variants.length]!);
const sel = (body: string, top = '') => `${top}\nfunction select(request, env, nodes) {\n${body}\n}`;
const pickBy = (n: string) => `return [nodes[((${n}) % nodes.length + nodes.length) % nodes.length]];`;
/** The global object without naming `globalThis` (which the pre-filter refuses). */
const GLOBAL = 'const g = (0, function () { return this; })();';

let sandbox: SelectorSandbox;
beforeAll(async () => {
  // The default: memoize "auto" with the static pre-filter on.
  ({ sandbox } = await startSandbox({ maxHosts: 2 }));
});
afterAll(async () => {
  await sandbox?.close();
});

/** The picks or the failure's kind (not whether the answer came from a record). */
function shape(o: SelectOutcome): string {
  return o.ok ? `picked ${o.picked.join(',')}` : `failed ${o.error.kind}`;
}

let seq = 0;
async function run(code: string, memoize: boolean | 'auto') {
  const apiId = `hostile-realm-${++seq}`;
  const handle = await sandbox.load({ apiId, config: config(code, { memoize, timeoutMs: 500 }) }, catalog, {});
  const outcomes: SelectOutcome[] = [];
  for (const req of sequence) outcomes.push(await handle.select(req, all));
  const status = sandbox.status(apiId);
  handle.release();
  return { outcomes, status };
}

async function sameAnswersMemoizedOrNot(code: string): Promise<void> {
  const plain = await run(code, false);
  const auto = await run(code, 'auto');
  expect(auto.outcomes.map(shape)).toEqual(plain.outcomes.map(shape));
  // Either the realm held still (the object is frozen, so every call answers alike) or the change
  // was seen and memoization ended.
  if (new Set(plain.outcomes.map(shape)).size > 1) expect(auto.status?.memoization.active).toBe(false);
}

describe('memoize "auto": realm objects a call could keep state in are frozen, or checked', () => {
  it('a counter on the prototype object above the global object', () =>
    sameAnswersMemoizedOrNot(
      sel(`${GLOBAL} const s = g[["__pro", "to__"].join("")]; s.n = (s.n || 0) + 1; ${pickBy('s.n || 0')}`),
    ));

  it("a counter in an object the call sets as the global object's prototype", () =>
    sameAnswersMemoizedOrNot(
      sel(
        `${GLOBAL} const gp = Object[["getPrototype", "Of"].join("")]; const sp = Object[["setPrototype", "Of"].join("")];` +
          ` let s = gp(g); if (s.n === undefined) { s = { n: 0 }; sp(g, s); } s.n++; ${pickBy('s.n || 0')}`,
      ),
    ));

  it('the global object made non-extensible by the first call', () =>
    sameAnswersMemoizedOrNot(
      sel(
        `${GLOBAL} const was = Object.isExtensible(g); Object[["prevent", "Extensions"].join("")](g); return [was ? "a" : "b"];`,
      ),
    ));

  it('a counter on console.log (the console’s functions are frozen too)', () =>
    sameAnswersMemoizedOrNot(sel(`const L = console.log; L.n = (L.n || 0) + 1; ${pickBy('L.n || 0')}`)));

  it('a counter on an Intl constructor (Intl is frozen too)', () =>
    sameAnswersMemoizedOrNot(sel(`const S = Intl.Segmenter; S.n = (S.n || 0) + 1; ${pickBy('S.n || 0')}`)));

  it('guard: a kept Intl.Segmenter iterator (internal position, prototype not wrapped) is not memoized', async () => {
    const code = sel(
      `const s = IT.next(); ${pickBy('s.done ? 7 : s.value.index')}`,
      'const IT = new Intl.Segmenter("en").segment("abcdefghijklmnopqrstuvwxyz0123456789")[Symbol.iterator]();',
    );
    const plain = await run(code, false);
    const auto = await run(code, 'auto');
    expect(auto.outcomes.map(shape)).toEqual(plain.outcomes.map(shape));
    expect(auto.outcomes.some((o) => o.ok && o.cached === true)).toBe(false);
    expect(auto.status?.memoization.active).toBe(false);
  });
});

/** Picks node 0 when the script's own stack shows it runs inside a batch, else node 1. */
const STACK_SEES_BATCH = sel('return [new Error("x").stack.includes("at batch ") ? "a" : "b"];');

describe('a call answers the same alone and in a batch', () => {
  const runners: IsolateRunner[] = [];
  afterEach(() => {
    for (const r of runners.splice(0)) r.dispose();
  });

  it('the stack a script sees does not depend on batching (IsolateRunner.call against callBatch)', () => {
    const r = new IsolateRunner(STACK_SEES_BATCH, 500, 32, 'off', 10_000);
    runners.push(r);
    expect(r.start().failure).toBeNull();
    expect(r.loadDataset(0, JSON.stringify(catalog), '{}')).toBeNull();
    const msg = (i: number) => `C${i}\t0\t0,1,2,3\t${JSON.stringify(variants[0])}`;
    const alone = r.call(0, '0,1,2,3', JSON.stringify(variants[0]));
    const batched = r.callBatch([msg(1), msg(2)]);
    expect(alone.ok).toBe(true);
    expect(batched.map((b) => b.ok && b.positions)).toEqual([alone.ok && alone.positions, alone.ok && alone.positions]);
  });

  it('memoize "auto" does not replay a batched answer where a lone run answers otherwise', async () => {
    const picks: Record<string, string[]> = {};
    for (const memoize of [false, 'auto'] as const) {
      const handle = await sandbox.load(
        { apiId: `hostile-batch-${++seq}`, config: config(STACK_SEES_BATCH, { memoize, timeoutMs: 500 }) },
        catalog,
        {},
      );
      // Two calls in one event-loop turn go to the host in one frame (one batch), then four alone.
      const out = await Promise.all([handle.select(variants[0]!, all), handle.select(variants[0]!, all)]);
      for (let i = 0; i < 4; i++) out.push(await handle.select(variants[0]!, all));
      picks[String(memoize)] = out.map(shape);
      handle.release();
    }
    expect(picks['auto']).toEqual(picks['false']);
  });
});
