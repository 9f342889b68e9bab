import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIRST_HITS_VERIFIED, MAX_MEMO_ENTRIES } from '../../src/selector/memo.js';
import { VERIFY_EVERY, VERIFY_MIN_INTERVAL_MS } from '../../src/selector/verifier.js';
import type { SelectorSandbox } from '../../src/selector/sandbox.js';
import type { SelectOutcome, SelectorHandle } from '../../src/selector/types.js';
import { CANARY, config, node, request, startSandbox } from './fixtures.js';

// Memoized selectors through real sandbox processes: which calls are answered from the cache, that
// the answers are those the script gives, and which scripts are never cached.
let sandbox: SelectorSandbox;
let apiSeq = 0;

beforeAll(async () => {
  ({ sandbox } = await startSandbox());
});
afterAll(async () => {
  await sandbox?.close();
});

const catalog = [node('a'), node('b', ['temp']), node('c'), node('d', ['pc'])];
const all = [0, 1, 2, 3];

/** Loads `code` for a fresh API id (memoized unless told otherwise); returns the handle and API id. */
async function load(code: string, memoize: boolean | 'auto' = true, env: Record<string, string> = {}) {
  const apiId = `memo-${++apiSeq}`;
  const handle = await sandbox.load({ apiId, config: config(code, { memoize }) }, catalog, env);
  return { handle, apiId };
}

function picked(outcome: SelectOutcome): number[] {
  if (!outcome.ok) throw new Error(`selector failed: ${JSON.stringify(outcome.error)}`);
  return [...outcome.picked];
}

/** Calls once; returns the picks and whether they came from the cache. */
async function call(handle: SelectorHandle, fields: Parameters<typeof request>[0] = {}, candidates = all) {
  const outcome = await handle.select(request(fields), candidates);
  return { picked: picked(outcome), cached: outcome.ok && outcome.cached === true };
}

function cache(apiId: string) {
  return sandbox.status(apiId)?.cache;
}

/** Waits (bounded) until `done` holds. */
async function until(done: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('the verifier (answers from the cache run again, off the request path)', () => {
  it("catches hidden state the sandbox was told to trust (memoize: true on a closure counter) at an entry's first hits", async () => {
    const code =
      'const next = (() => { let n = 0; return () => ++n; })();\nfunction select(request, env, nodes) { return [nodes[next() % 2]]; }';
    const { handle, apiId } = await load(code, true);
    expect(await call(handle)).toEqual({ picked: [1], cached: false });
    // Answered from the record (wrongly, the script would now say [0]), then re-run and compared.
    expect(await call(handle)).toEqual({ picked: [1], cached: true });
    await until(() => sandbox.status(apiId)?.memoization.active === false);
    expect(sandbox.status(apiId)?.memoization.reason).toBe(
      'the verifier ran a recorded request again and got [a] where the record says [b]',
    );
    expect(cache(apiId)).toMatchObject({ mismatches: 1 });
    // From then on every call runs: the script's own rotation.
    const later = [];
    for (let i = 0; i < 3; i++) later.push(await call(handle));
    expect(later.every((r) => !r.cached)).toBe(true);
    handle.release();
  });

  it('samples one hit in VERIFY_EVERY after the first ones, at most one per VERIFY_MIN_INTERVAL_MS', async () => {
    const { handle, apiId } = await load(CANARY, 'auto');
    const temp = { query: { select_code: 'temp_node' } };
    await call(handle, temp);
    for (let round = 1; round <= 2; round++) {
      for (let i = 0; i < VERIFY_EVERY; i++) await handle.select(request(temp), all);
      await until(() => cache(apiId)!.verified + cache(apiId)!.skipped === FIRST_HITS_VERIFIED + round);
      // The next later sample is due only once the interval has passed.
      await new Promise((resolve) => setTimeout(resolve, VERIFY_MIN_INTERVAL_MS + 20));
    }
    expect(cache(apiId)).toMatchObject({ hits: VERIFY_EVERY * 2, mismatches: 0 });
    handle.release();
  });
});

describe('memoized selector results', () => {
  it('runs once per distinct select_code, then answers from the cache with the same picks', async () => {
    const { handle, apiId } = await load(CANARY);
    const temp = { query: { select_code: 'temp_node' } };
    const other = { query: { select_code: 'other' } };

    expect(await call(handle, temp)).toEqual({ picked: [1], cached: false });
    expect(await call(handle, temp)).toEqual({ picked: [1], cached: true });
    expect(await call(handle, other)).toEqual({ picked: [0, 2, 3], cached: false });
    expect(await call(handle, {})).toEqual({ picked: [0, 2, 3], cached: false });
    for (let i = 0; i < 5; i++) {
      expect(await call(handle, temp)).toEqual({ picked: [1], cached: true });
      expect(await call(handle, other)).toEqual({ picked: [0, 2, 3], cached: true });
      expect(await call(handle, {})).toEqual({ picked: [0, 2, 3], cached: true });
    }
    // Unrelated fields are not part of the key: the script never read them.
    expect(await call(handle, { ...temp, headers: { 'x-other': '1' }, path: '/elsewhere' })).toEqual({
      picked: [1],
      cached: true,
    });
    expect(cache(apiId)).toMatchObject({ hits: 17, misses: 3, entries: 3, refused: 0, uncacheable: 0, mismatches: 0 });
    expect(sandbox.status(apiId)).toMatchObject({ calls: 20, failures: 0 });
    // The verifier ran the first two hits of each entry again, off the request path, and agreed.
    await until(() => cache(apiId)!.verified + cache(apiId)!.skipped === 3 * FIRST_HITS_VERIFIED);
    expect(cache(apiId)).toMatchObject({ mismatches: 0 });
    expect(sandbox.status(apiId)?.memoization.active).toBe(true);
  });

  it('keys each candidate list separately', async () => {
    const { handle } = await load(CANARY);
    const temp = { query: { select_code: 'temp_node' } };
    expect(await call(handle, temp, [1, 2])).toEqual({ picked: [1], cached: false });
    expect(await call(handle, temp, [0, 2])).toEqual({ picked: [], cached: false });
    expect(await call(handle, temp, [1, 2])).toEqual({ picked: [1], cached: true });
    expect(await call(handle, temp, [0, 2])).toEqual({ picked: [], cached: true });
  });

  it('caches branches that read different fields (a header only in one mode)', async () => {
    const { handle, apiId } = await load(`function select(request, env, nodes) {
      if (request.query.mode === 'h') return request.headers['x-a'] === '1' ? ['a'] : ['b'];
      return ['c'];
    }`);
    const cases: Array<[Parameters<typeof request>[0], number[]]> = [
      [{ query: { mode: 'h' }, headers: { 'x-a': '1' } }, [0]],
      [{ query: { mode: 'h' }, headers: { 'x-a': '2' } }, [1]],
      [{ query: { mode: 'h' } }, [1]],
      [{ query: { mode: 'q' }, headers: { 'x-a': '1' } }, [2]],
      [{ query: {} }, [2]],
    ];
    for (const [fields, expected] of cases)
      expect(await call(handle, fields)).toEqual({ picked: expected, cached: false });
    for (const [fields, expected] of cases)
      expect(await call(handle, fields)).toEqual({ picked: expected, cached: true });
    // Another x-a in mode q does not matter; in mode h it is a new leaf.
    expect(await call(handle, { query: { mode: 'q' }, headers: { 'x-a': '9' } })).toEqual({
      picked: [2],
      cached: true,
    });
    expect(await call(handle, { query: { mode: 'h' }, headers: { 'x-a': '9' } })).toEqual({
      picked: [1],
      cached: false,
    });
    expect(cache(apiId)).toMatchObject({ entries: 6 });
  });

  it('tells a repeated query key (an array) from a single value at the same name', async () => {
    const { handle } = await load(`function select(request, env, nodes) {
      const v = request.query.v;
      return v[0] === 'x' ? ['a'] : ['b'];
    }`);
    expect(await call(handle, { query: { v: ['x', 'y'] } })).toEqual({ picked: [0], cached: false });
    expect(await call(handle, { query: { v: 'xz' } })).toEqual({ picked: [0], cached: false });
    expect(await call(handle, { query: { v: ['y', 'x'] } })).toEqual({ picked: [1], cached: false });
    expect(await call(handle, { query: { v: 'yx' } })).toEqual({ picked: [1], cached: false });
    expect(await call(handle, { query: { v: ['x', 'q'] } })).toEqual({ picked: [0], cached: true });
    expect(await call(handle, { query: { v: 'yx' } })).toEqual({ picked: [1], cached: true });
  });

  it('sees the env of its own config version only', async () => {
    const code = 'function select(request, env, nodes) { return request.method === "GET" ? [env.PICK] : ["d"]; }';
    const first = await load(code, true, { PICK: 'a' });
    expect(await call(first.handle)).toEqual({ picked: [0], cached: false });
    expect(await call(first.handle)).toEqual({ picked: [0], cached: true });
    // A new config version (new env, same code) gets a new handle and starts with an empty cache.
    const second = await sandbox.load({ apiId: first.apiId, config: config(code, { memoize: true }) }, catalog, {
      PICK: 'c',
    });
    expect(await call(second)).toEqual({ picked: [2], cached: false });
    expect(await call(second)).toEqual({ picked: [2], cached: true });
    first.handle.release();
    expect(cache(first.apiId)).toMatchObject({ entries: 1 });
    second.release();
  });

  it('with memoize: false runs every call', async () => {
    const { handle, apiId } = await load(CANARY, false);
    for (let i = 0; i < 3; i++)
      expect(await call(handle, { query: { select_code: 'temp_node' } })).toEqual({ picked: [1], cached: false });
    expect(sandbox.status(apiId)?.cache).toBeUndefined();
  });

  it('stops storing at the bound and keeps answering uncached, and right', async () => {
    const { handle, apiId } = await load(
      'function select(request, env, nodes) { return request.query.n.length % 2 ? ["a"] : ["b"]; }',
    );
    const value = (i: number) => 'x'.repeat(i % 7) + String(i);
    const outcomes = await Promise.all(
      Array.from({ length: MAX_MEMO_ENTRIES + 20 }, (_, i) => handle.select(request({ query: { n: value(i) } }), all)),
    );
    outcomes.forEach((o, i) => expect(picked(o)).toEqual(value(i).length % 2 ? [0] : [1]));
    expect(cache(apiId)).toMatchObject({ entries: MAX_MEMO_ENTRIES, misses: MAX_MEMO_ENTRIES + 20, refused: 20 });
    // Stored values still hit; values past the bound are run every time, with the right answer.
    expect(await call(handle, { query: { n: value(5) } })).toEqual({
      picked: value(5).length % 2 ? [0] : [1],
      cached: true,
    });
    for (const i of [MAX_MEMO_ENTRIES + 30, MAX_MEMO_ENTRIES + 31]) {
      expect(await call(handle, { query: { n: value(i) } })).toEqual({
        picked: value(i).length % 2 ? [0] : [1],
        cached: false,
      });
    }
    expect(cache(apiId)).toMatchObject({ entries: MAX_MEMO_ENTRIES, hits: 1 });
  });
});

describe('runs that are never cached', () => {
  it.each([
    ['Math.random', 'return Math.random() < 2 ? ["a"] : ["b"];'],
    ['Date.now', 'return Date.now() > 0 ? ["a"] : ["b"];'],
    ['new Date()', 'return new Date().getTime() > 0 ? ["a"] : ["b"];'],
    ['Date()', 'return Date().length > 0 ? ["a"] : ["b"];'],
    ['console.log', 'console.log("hi", request.query.k); return ["a"];'],
    ['console.warn', 'console.warn(request.query.k); return ["a"];'],
    ['Object.keys(request.query)', 'return Object.keys(request.query).length ? ["a"] : ["b"];'],
    ['JSON.stringify(request)', 'return JSON.stringify(request).length > 0 ? ["a"] : ["b"];'],
    ['JSON.stringify of a sub-object', 'return JSON.stringify(request.headers).length > 0 ? ["a"] : ["b"];'],
    ['the in operator', 'return "k" in request.query ? ["a"] : ["b"];'],
    ['spreading', 'const q = { ...request.query }; return q.k ? ["a"] : ["b"];'],
    ['for…in', 'for (const k in request.query) return ["a"]; return ["b"];'],
    ['iterating a repeated query key', 'for (const v of request.query.k) if (v === "1") return ["a"]; return ["b"];'],
    ['an inherited member', 'return request.query.hasOwnProperty("k") ? ["a"] : ["b"];'],
    ['a write to the request', 'request.query.k = "2"; return request.query.k === "2" ? ["a"] : ["b"];'],
  ])('%s', async (_label, body) => {
    const { handle, apiId } = await load(`function select(request, env, nodes) { ${body} }`);
    const sample = { query: { k: ['1', '2'] } };
    for (let i = 0; i < 3; i++) {
      const outcome = await handle.select(request(sample), all);
      expect(outcome.ok).toBe(true);
      expect(outcome.ok && outcome.cached).toBeFalsy();
    }
    expect(cache(apiId)).toMatchObject({ hits: 0, misses: 3, entries: 0 });
  });

  it('a script that keeps the request in a global stops being memoized at its first run, and answers as unmemoized', async () => {
    const { handle, apiId } = await load(
      'function select(request) { globalThis.kept ??= request; return globalThis.kept.query.k === "1" ? ["a"] : ["b"]; }',
    );
    expect(await call(handle, { query: { k: '1' } })).toEqual({ picked: [0], cached: false });
    expect(await call(handle, { query: { k: '2' } })).toEqual({ picked: [0], cached: false });
    expect(await call(handle, { query: { k: '1' } })).toEqual({ picked: [0], cached: false });
    expect(sandbox.status(apiId)?.memoization).toEqual({
      mode: true,
      active: false,
      reason: 'a call added the global `kept`',
    });
    expect(cache(apiId)).toMatchObject({ entries: 0, hits: 0 });
  });

  it('a Date made from a request value is still cached (it does not read the clock)', async () => {
    const { handle } = await load(
      'function select(request) { return new Date(request.headers.since).getUTCFullYear() > 2020 ? ["a"] : ["b"]; }',
    );
    const since = { headers: { since: '2024-01-01T00:00:00Z' } };
    expect(await call(handle, since)).toEqual({ picked: [0], cached: false });
    expect(await call(handle, since)).toEqual({ picked: [0], cached: true });
    expect(await call(handle, { headers: { since: '2001-01-01T00:00:00Z' } })).toEqual({ picked: [1], cached: false });
  });

  it('errors are never cached: a throwing input keeps failing until the selector is quarantined', async () => {
    const { handle, apiId } = await load(`function select(request, env, nodes) {
      if (request.query.boom) throw new Error('boom');
      return ['a'];
    }`);
    expect(await call(handle)).toEqual({ picked: [0], cached: false });
    for (let i = 0; i < 5; i++) {
      const outcome = await handle.select(request({ query: { boom: '1' } }), all);
      expect(outcome.ok ? null : outcome.error.kind).toBe('throw');
    }
    const status = sandbox.status(apiId)!;
    expect(status).toMatchObject({ state: 'quarantined', failures: 5 });
    // Quarantine comes first, even for a request whose answer is cached.
    const after = await handle.select(request(), all);
    expect(after.ok ? null : after.error.kind).toBe('quarantined');
    expect(cache(apiId)).toMatchObject({ hits: 0, misses: 6, entries: 1 });
  });

  it('a bad result is a failure, never cached', async () => {
    const { handle, apiId } = await load(
      'function select(request) { return request.query.k === "1" ? ["zzz"] : ["a"]; }',
    );
    for (let i = 0; i < 2; i++) {
      const outcome = await handle.select(request({ query: { k: '1' } }), all);
      expect(outcome.ok ? null : outcome.error.kind).toBe('bad-result');
    }
    expect(cache(apiId)).toMatchObject({ entries: 0, misses: 2 });
  });

  it('a trial never uses the cache', async () => {
    const code = 'function select(request) { console.log("ran"); return request.query.k === "1" ? ["a"] : ["b"]; }';
    const cfg = config(code, { memoize: true });
    for (let i = 0; i < 2; i++) {
      const result = await sandbox.trial(cfg, request({ query: { k: '1' } }), {}, catalog);
      expect(result).toMatchObject({ ok: true, picked: ['a'], console: ['ran'] });
    }
  });

  describe('memoize: "auto"', () => {
    it('memoizes a stateless script, with the same answers as running it', async () => {
      const { handle, apiId } = await load(CANARY, 'auto');
      expect(sandbox.status(apiId)?.memoization).toEqual({ mode: 'auto', active: true, reason: null });
      const temp = { query: { select_code: 'temp_node' } };
      expect(await call(handle, temp)).toEqual({ picked: [1], cached: false });
      expect(await call(handle, temp)).toEqual({ picked: [1], cached: true });
      expect(await call(handle, {})).toEqual({ picked: [0, 2, 3], cached: false });
      expect(await call(handle, {})).toEqual({ picked: [0, 2, 3], cached: true });
      handle.release();
    });

    it('runs every call of a script that keeps state, and says why', async () => {
      const code = 'let n = 0;\nfunction select(request, env, nodes) {\n  n++;\n  return [nodes[n % nodes.length]];\n}';
      const { handle, apiId } = await load(code, 'auto');
      expect(sandbox.status(apiId)?.memoization).toEqual({
        mode: 'auto',
        active: false,
        reason: 'line 3: assigns to `n`, which is kept between calls',
      });
      const seen: number[][] = [];
      for (let i = 0; i < 5; i++) {
        const r = await call(handle, {});
        expect(r.cached).toBe(false);
        seen.push(r.picked);
      }
      // The script's own rotation, which a cache would have frozen at its first answer.
      expect(seen).toEqual([[1], [2], [3], [0], [1]]);
      expect(sandbox.status(apiId)?.cache).toBeUndefined();
      handle.release();
    });

    it("state kept through an alias ends memoization at the first run that changes it; every answer is the script's own", async () => {
      const code = [
        'const hits = { n: 0 };',
        'function bump(counter) { counter.n++; }',
        'function select(request, env, nodes) {',
        '  bump(hits);',
        '  return [nodes[hits.n % nodes.length]];',
        '}',
      ].join('\n');
      const { handle, apiId } = await load(code, 'auto');
      expect(sandbox.status(apiId)?.memoization.active).toBe(true);
      const seen: number[][] = [];
      for (let i = 0; i < 5; i++) seen.push((await call(handle, {})).picked);
      expect(seen).toEqual([[1], [2], [3], [0], [1]]);
      expect(sandbox.status(apiId)?.memoization).toEqual({
        mode: 'auto',
        active: false,
        reason: 'a call changed `hits`, which the top level kept',
      });
      expect(sandbox.status(apiId)?.cache).toMatchObject({ entries: 0, hits: 0 });
      handle.release();
    });

    it('notices a write to a kept Set through an alias (its hidden state), and answers as unmemoized', async () => {
      const code =
        'const seen = new Set(["x"]);\nfunction remember(s, v) { s.add(v); }\nfunction select(request, env, nodes) { remember(seen, request.headers.id); return [nodes[seen.size % nodes.length]]; }';
      const { handle, apiId } = await load(code, 'auto');
      const picks: number[][] = [];
      for (const id of ['a', 'b', 'a', 'c']) picks.push((await call(handle, { headers: { id } })).picked);
      expect(picks).toEqual([[2], [3], [3], [0]]);
      expect(sandbox.status(apiId)?.memoization.reason).toBe(
        'a call changed the hidden state of a kept value (Set.prototype.add)',
      );
      handle.release();
    });

    it('does not memoize a script keeping a value whose contents the sandbox does not compare (a typed array)', async () => {
      const code = 'const buf = new Uint8Array(4);\nfunction select(request, env, nodes) { return nodes.slice(0, 1); }';
      const { handle, apiId } = await load(code, 'auto');
      expect(sandbox.status(apiId)?.memoization).toEqual({
        mode: 'auto',
        active: false,
        reason: 'keeps a typed array or DataView (`buf`)',
      });
      expect(await call(handle, {})).toEqual({ picked: [0], cached: false });
      expect(await call(handle, {})).toEqual({ picked: [0], cached: false });
      handle.release();
    });

    it('checks a script loaded with memoize: true too, where it can: a visible change still ends memoization', async () => {
      const code =
        'const hits = { n: 0 };\nfunction bump(c) { c.n++; }\nfunction select(request, env, nodes) { bump(hits); return nodes.slice(0, 1); }';
      const { handle, apiId } = await load(code, true);
      expect(sandbox.status(apiId)?.memoization).toEqual({ mode: true, active: true, reason: null });
      expect(await call(handle, {})).toEqual({ picked: [0], cached: false });
      expect(await call(handle, {})).toEqual({ picked: [0], cached: false });
      expect(sandbox.status(apiId)?.memoization).toMatchObject({ mode: true, active: false });
      handle.release();
    });
  });
});
