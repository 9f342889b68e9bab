import { afterEach, describe, expect, it } from 'vitest';
import { IsolateRunner, type RunResult } from '../../src/selector/isolate/runner.js';
import type { SelectorSandbox } from '../../src/selector/sandbox.js';
import type { SelectOutcome } from '../../src/selector/types.js';
import { config, node, request, startSandbox } from './fixtures.js';

// Calls of one version that arrive together run in one isolate entry (IsolateRunner.callBatch); each
// keeps its own limits, answer and blame.

const catalog = [node('a'), node('b', ['temp']), node('c')];

/** Picks the node named by `?pick=`; `?mode=` makes this one call hostile. */
const MIXED = `function select(r, env, nodes) {
  if (r.query.mode === 'loop') for (;;) {}
  if (r.query.mode === 'throw') throw new Error('boom');
  if (r.query.mode === 'heap') { const a = []; for (;;) a.push(new Array(1000).fill(a.length)); }
  return nodes.filter((n) => n.id === r.query.pick);
}`;

/** A C message as the gateway writes it (the runner reads the fields after the tag). */
function msg(i: number, query: Record<string, string>, traced = false): string {
  return `${traced ? 'M' : 'C'}${i}\t0\t0,1,2\t${JSON.stringify(request({ query }))}`;
}

const picks = ['a', 'b', 'c'];
const position = (i: number) => String(i % 3);

const runners: IsolateRunner[] = [];
afterEach(() => {
  for (const r of runners.splice(0)) r.dispose();
});

/**
 * A started runner with the catalog loaded as dataset 0. `wide`: a start window so wide that a batch
 * never splits, however slow the machine (only for scripts that never loop: the window also
 * lengthens the entry's time limit).
 */
function runner(code: string, limits: { timeoutMs?: number } = {}, memo: 'off' | 'checked' = 'off', wide = false) {
  const r = new IsolateRunner(code, limits.timeoutMs ?? 50, 32, memo, wide ? 10_000 : undefined);
  runners.push(r);
  expect(r.start().failure).toBeNull();
  expect(r.loadDataset(0, JSON.stringify(catalog), '{}')).toBeNull();
  return r;
}

function positions(results: RunResult[]): string[] {
  return results.map((r) => (r.ok ? r.positions : `!${r.failure.kind}`));
}

describe('a batch of calls in one isolate entry', () => {
  it('answers every call as one by one would, in one entry', () => {
    const r = runner(MIXED, {}, 'off', true);
    const msgs = Array.from({ length: 12 }, (_, i) => msg(i, { pick: picks[i % 3]! }));
    const results = r.callBatch(msgs);
    expect(positions(results)).toEqual(msgs.map((_, i) => position(i)));
    expect(r.entries).toBe(1);
  });

  it('runs the calls in order, each seeing what the one before it left', () => {
    const r = runner(
      'let n = 0;\nfunction select(r, env, nodes) { return [nodes[n++ % nodes.length]]; }',
      {},
      'off',
      true,
    );
    const results = r.callBatch(Array.from({ length: 7 }, (_, i) => msg(i, {})));
    expect(positions(results)).toEqual(['0', '1', '2', '0', '1', '2', '0']);
    expect(r.entries).toBe(1);
  });

  it.each([
    ['throw', ['throw']],
    ['loop', ['timeout', 'unavailable']],
    ['heap', ['memory']],
  ])('a call that fails with %s is blamed alone: the others of its batch get their answers', (mode, kinds) => {
    const r = runner(MIXED, mode === 'heap' ? { timeoutMs: 2000 } : {});
    const msgs = Array.from({ length: 9 }, (_, i) => msg(i, i === 4 ? { mode } : { pick: picks[i % 3]! }));
    const results = r.callBatch(msgs);
    const got = positions(results);
    expect(got.filter((_, i) => i !== 4)).toEqual(msgs.map((_, i) => position(i)).filter((_, i) => i !== 4));
    expect(kinds.map((k) => `!${k}`)).toContain(got[4]);
  });

  it('a promise job failing after the batch fails one call, and the version then runs its calls one by one', () => {
    const code =
      'function select(r, env, nodes) { if (r.query.reject) Promise.reject(new Error("later")); return nodes; }';
    const r = runner(code, {}, 'off', true);
    const results = r.callBatch(Array.from({ length: 5 }, (_, i) => msg(i, i === 2 ? { reject: '1' } : {})));
    // Alone, the call that left the job fails; in a batch the job runs after every call answered.
    expect(positions(results)).toEqual(['0,1,2', '0,1,2', '0,1,2', '0,1,2', '!throw']);
    const entries = r.entries;
    expect(positions(r.callBatch(Array.from({ length: 4 }, (_, i) => msg(i, {}))))).toEqual(Array(4).fill('0,1,2'));
    expect(r.entries - entries).toBe(4);
  });

  it('reports a memoized version changing its kept state at the call that changed it', () => {
    const code = 'var seen = {};\nfunction select(r, env, nodes) { if (r.query.mark) seen.x = 1; return nodes; }';
    const r = runner(code, {}, 'checked');
    const msgs = Array.from({ length: 6 }, (_, i) => msg(i, i === 2 ? { mark: '1' } : {}, true));
    const results = r.callBatch(msgs);
    expect(results.map((x) => x.ok)).toEqual([true, true, true, true, true, true]);
    expect(results.map((x) => x.stateChange !== null)).toEqual([false, false, true, false, false, false]);
    expect(results[2]!.stateChange).toContain('seen');
  });
});

describe('a hostile call among good calls of the same selector, through the sandbox', () => {
  let sandbox: SelectorSandbox | null = null;
  afterEach(async () => {
    await sandbox?.close();
    sandbox = null;
  });

  it.each([
    ['loop', ['timeout', 'unavailable']],
    ['throw', ['throw']],
  ])('%s: only that call fails; the version is not quarantined', async (mode, kinds) => {
    ({ sandbox } = await startSandbox({ maxHosts: 1 }));
    const handle = await sandbox.load({ apiId: 'mixed', config: config(MIXED, { timeoutMs: 50 }) }, catalog, {});
    // All in one event-loop turn: one frame, consecutive calls of one version, run as a batch.
    const calls: Array<SelectOutcome | Promise<SelectOutcome>> = [];
    for (let i = 0; i < 30; i++)
      calls.push(handle.select(request({ query: i === 13 ? { mode } : { pick: picks[i % 3]! } }), [0, 1, 2]));
    const out = await Promise.all(calls);
    const wrong = out
      .map((o, i) => ({ i, o }))
      .filter(({ i, o }) => i !== 13 && (!o.ok || JSON.stringify(o.picked) !== JSON.stringify([i % 3])));
    expect(wrong).toEqual([]);
    const bad = out[13]!;
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(kinds).toContain(bad.error.kind);
    expect(sandbox.status('mixed')).toMatchObject({ state: 'active', failures: 1 });
  });
});
