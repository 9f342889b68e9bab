import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SelectorCompileError, type SelectorSandbox } from '../../src/selector/sandbox.js';
import type { SelectOutcome } from '../../src/selector/types.js';
import { CANARY, config, node, request, startSandbox } from './fixtures.js';

let sandbox: SelectorSandbox;
let records: Array<Record<string, unknown>>;
let apiSeq = 0;

beforeAll(async () => {
  ({ sandbox, records } = await startSandbox({ consoleLinesPerSecond: 5 }));
});
afterAll(async () => {
  await sandbox?.close();
});

const catalog = [node('a'), node('b', ['temp']), node('c'), node('d', ['pc'])];
const all = [0, 1, 2, 3];

/** Loads `code` for a fresh API id. */
function load(code: string, env: Record<string, string> = {}, limits = {}) {
  return sandbox.load({ apiId: `contract-${++apiSeq}`, config: config(code, limits) }, catalog, env);
}

function picked(outcome: SelectOutcome): number[] {
  if (!outcome.ok) throw new Error(`selector failed: ${JSON.stringify(outcome.error)}`);
  return [...outcome.picked];
}

function failure(outcome: SelectOutcome) {
  if (outcome.ok) throw new Error(`selector succeeded with ${JSON.stringify(outcome.picked)}`);
  return outcome.error;
}

describe('selector results', () => {
  it.each([
    ['node ids', 'function select(r, env, nodes) { return ["c", "a"]; }', [0, 1, 2, 3], [2, 0]],
    [
      'node objects',
      'function select(r, env, nodes) { return nodes.filter(n => n.id !== "b"); }',
      [0, 1, 2, 3],
      [0, 2, 3],
    ],
    [
      'copies of node objects',
      'function select(r, env, nodes) { return nodes.map(n => ({ ...n })).slice(1); }',
      [3, 1],
      [1],
    ],
    [
      'ids and objects mixed, duplicates once',
      'function select(r, env, nodes) { return ["d", nodes[1], "d"]; }',
      [3, 2],
      [3, 2],
    ],
    ['an empty array', 'function select() { return []; }', [0, 1], []],
    ['an arrow function bound with const', 'const select = (r, env, nodes) => nodes.slice(0, 1);', [2, 3], [2]],
  ])('accepts %s and returns catalog indices', async (_label, code, candidates, expected) => {
    const handle = await load(code);
    expect(picked(await handle.select(request(), candidates))).toEqual(expected);
  });

  it.each([
    [
      'an id it was not given (in the catalog, not a candidate)',
      'function select() { return ["a"]; }',
      /"a" is not one of the nodes given/,
    ],
    ['an unknown id', 'function select() { return ["zzz"]; }', /"zzz" is not one of the nodes given/],
    ['a number', 'function select() { return 1; }', /must return an array/],
    ['undefined', 'function select() {}', /must return an array/],
    ['an array of numbers', 'function select() { return [0]; }', /element 0 .* not a node or a node id/],
    ['an object that is not a node', 'function select() { return [{ name: "x" }]; }', /not a node or a node id/],
  ])('rejects %s as bad-result', async (_label, code, message) => {
    const handle = await load(code);
    const error = failure(await handle.select(request(), [1, 2]));
    expect(error.kind).toBe('bad-result');
    expect(error.message).toMatch(message);
  });

  it('gives the script the request, env and the candidate nodes', async () => {
    const handle = await load(
      `function select(request, env, nodes) {
        const ok = request.method === 'POST' && request.path === '/x' && request.query.q === '1' &&
          request.headers['x-h'] === 'v' && request.body === 'hi' && request.clientIp === '10.0.0.1' &&
          env.IP1_enable === 'true' && nodes.length === 2 && nodes[0].id === 'c' && nodes[0].url.startsWith('http') &&
          nodes[1].tags[0] === 'temp' && nodes[0].weight === 1 && nodes[0].name === 'node c';
        return ok ? [nodes[1]] : [];
      }`,
      { IP1_enable: 'true' },
    );
    const sample = request({
      method: 'POST',
      path: '/x',
      query: { q: '1' },
      headers: { 'x-h': 'v' },
      body: 'hi',
      clientIp: '10.0.0.1',
    });
    expect(picked(await handle.select(sample, [2, 1]))).toEqual([1]);
  });

  it('keeps the catalog and env intact whatever the script writes into them', async () => {
    const handle = await load(
      `function select(request, env, nodes) {
        try { nodes[0].id = 'evil'; } catch (e) {}
        try { nodes[0].tags.push('evil'); } catch (e) {}
        try { env.IP1_enable = 'evil'; } catch (e) {}
        const keep = nodes.filter(n => !n.tags.includes('evil') && env.IP1_enable === 'true');
        nodes.length = 0;
        return keep;
      }`,
      { IP1_enable: 'true' },
    );
    for (let i = 0; i < 3; i++) expect(picked(await handle.select(request(), all))).toEqual(all);
  });
});

describe('selector failures', () => {
  it('reports a throw with its line and column', async () => {
    const handle = await load('function select(request) {\n  const x = null;\n  return x.y;\n}');
    const error = failure(await handle.select(request(), all));
    expect(error).toMatchObject({ kind: 'throw', line: 3, column: 12 });
    expect(error.message).toMatch(/TypeError/);
  });

  it('reports a script that runs too long as timeout', async () => {
    const handle = await load('function select() { for (;;) {} }');
    expect(failure(await handle.select(request(), all)).kind).toBe('timeout');
  });

  it('reports exhausting the isolate heap as memory, and runs again afterwards', async () => {
    const handle = await load(
      'function select(r, env, nodes) { if (r.query.grow) { const a = []; for (;;) a.push(a.length); } return nodes; }',
      {},
      { timeoutMs: 1000 },
    );
    expect(failure(await handle.select(request({ query: { grow: '1' } }), all)).kind).toBe('memory');
    expect(picked(await handle.select(request(), [1]))).toEqual([1]);
  });

  it('reports a refused ArrayBuffer allocation as memory', async () => {
    // The engine collects garbage before it gives up, which takes longer than the default limit.
    const handle = await load(
      'function select() { new ArrayBuffer(512 * 1024 * 1024); return []; }',
      {},
      { timeoutMs: 500 },
    );
    expect(failure(await handle.select(request(), all)).kind).toBe('memory');
  });

  it('offers no require, process, timers, fetch, SharedArrayBuffer, Atomics or WebAssembly', async () => {
    const names = [
      'require',
      'process',
      'setTimeout',
      'setInterval',
      'setImmediate',
      'queueMicrotask',
      'fetch',
      'SharedArrayBuffer',
      'Atomics',
      'WebAssembly',
      'module',
      'global',
    ];
    const handle = await load(
      `function select(r, env, nodes) {
        const present = ${JSON.stringify(names)}.filter(n => { try { return typeof eval(n) !== 'undefined'; } catch (e) { return false; } });
        return present.length === 0 ? nodes : present;
      }`,
    );
    expect(picked(await handle.select(request(), [0]))).toEqual([0]);
  });
});

describe('loading', () => {
  it('rejects code that does not compile with a compile failure carrying the line', async () => {
    const err = await load('function select(request) {\n  return [\n}').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SelectorCompileError);
    expect((err as SelectorCompileError).failure).toMatchObject({ kind: 'compile', line: 3 });
  });

  it('rejects a script without a select function', async () => {
    const err = await load('function choose(request, env, nodes) { return nodes; }').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SelectorCompileError);
    expect((err as SelectorCompileError).failure.kind).toBe('compile');
    expect((err as SelectorCompileError).failure.message).toMatch(/select/);
  });

  it('rejects a script whose top level throws, with the line', async () => {
    const err = await load('const table = {};\ntable.x.y = 1;\nfunction select() { return []; }').catch(
      (e: unknown) => e,
    );
    expect((err as SelectorCompileError).failure).toMatchObject({ kind: 'throw', line: 2 });
  });

  it('reuses the compiled version for a new catalog and env; each handle keeps its own', async () => {
    const apiId = `contract-${++apiSeq}`;
    const code = 'function select(r, env, nodes) { return nodes.filter(n => n.tags.includes(env.TAG)); }';
    const first = await sandbox.load({ apiId, config: config(code) }, [node('x', ['a']), node('y', ['b'])], {
      TAG: 'a',
    });
    const second = await sandbox.load({ apiId, config: config(code) }, [node('y', ['b']), node('z', ['a'])], {
      TAG: 'b',
    });
    expect(picked(await first.select(request(), [0, 1]))).toEqual([0]);
    expect(picked(await second.select(request(), [0, 1]))).toEqual([0]);
    expect(sandbox.status(apiId)?.calls).toBe(2); // one version, counted together
    first.release();
    expect(failure(await first.select(request(), [0, 1])).kind).toBe('unavailable');
    expect(picked(await second.select(request(), [1]))).toEqual([]);
  });

  it('never rejects a call, even after close', async () => {
    const { sandbox: own } = await startSandbox();
    const handle = await own.load({ apiId: 'closing', config: config(CANARY) }, catalog, {});
    const pending = handle.select(request(), all);
    await own.close();
    await expect(pending).resolves.toMatchObject({});
    expect(failure(await handle.select(request(), all)).kind).toMatch(/unavailable|quarantined/);
    await expect(own.load({ apiId: 'closed', config: config(CANARY) }, catalog, {})).rejects.toThrow();
  });
});

describe('trials', () => {
  it('returns picked ids, duration and console output', async () => {
    const result = await sandbox.trial(
      config(
        'console.log("top level");\nfunction select(r, env, nodes) { console.log("q", r.query, env.X); return nodes.slice(1); }',
      ),
      request({ query: { a: '1' } }),
      { X: 'y' },
      catalog,
    );
    expect(result).toMatchObject({ ok: true, picked: ['b', 'c', 'd'], console: ['top level', 'q {"a":"1"} y'] });
    expect(result.durationUs).toBeGreaterThanOrEqual(0);
  });

  it('reports compile errors with line and column, and failures with the console so far', async () => {
    const broken = await sandbox.trial(config('function select() {\n  return ];\n}'), request(), {}, catalog);
    expect(broken).toMatchObject({ ok: false, picked: [], error: { kind: 'compile', line: 2, column: 10 } });
    const missing = await sandbox.trial(config('var x = 1;'), request(), {}, catalog);
    expect(missing.error?.kind).toBe('compile');
    const thrown = await sandbox.trial(
      config('function select() { console.log("before"); throw new Error("no"); }'),
      request(),
      {},
      catalog,
    );
    expect(thrown).toMatchObject({ ok: false, error: { kind: 'throw', line: 1 }, console: ['before'] });
  });

  it('neither registers nor counts towards the API status', async () => {
    const apiId = `contract-${++apiSeq}`;
    const handle = await sandbox.load({ apiId, config: config(CANARY) }, catalog, {});
    for (let i = 0; i < 6; i++) await sandbox.trial(config('function select() { throw 1; }'), request(), {}, catalog);
    expect(sandbox.status(apiId)).toMatchObject({ state: 'active', calls: 0, failures: 0 });
    expect(picked(await handle.select(request(), all))).toEqual([0, 2, 3]);
  });
});

describe('console in serving', () => {
  it('forwards console.log to the gateway log, rate-limited per API, counting drops', async () => {
    const apiId = `contract-${++apiSeq}`;
    const handle = await sandbox.load(
      {
        apiId,
        config: config(
          'function select(r, env, nodes) { for (let i = 0; i < 30; i++) console.log("line", i); return nodes; }',
        ),
      },
      catalog,
      {},
    );
    expect(picked(await handle.select(request(), all))).toEqual(all);
    const lines = records.filter((r) => r.apiId === apiId && r.msg === 'selector console');
    expect(lines.map((r) => r.line)).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4']); // 5 a second
    expect(sandbox.status(apiId)!.consoleDropped).toBe(25);
  });
});

describe('quarantine and status', () => {
  it('quarantines after repeated failures until a new version is loaded', async () => {
    const apiId = `contract-${++apiSeq}`;
    const bad = await sandbox.load(
      { apiId, config: config('function select() { throw new Error("x"); }') },
      catalog,
      {},
    );
    const kinds: string[] = [];
    for (let i = 0; i < 7; i++) kinds.push(failure(await bad.select(request(), all)).kind);
    expect(kinds).toEqual(['throw', 'throw', 'throw', 'throw', 'throw', 'quarantined', 'quarantined']);
    const status = sandbox.status(apiId)!;
    expect(status).toMatchObject({ state: 'quarantined', calls: 7, failures: 7, skipped: 2 });
    expect(status.quarantinedAt).not.toBeNull();
    expect(status.lastErrors[0]).toMatchObject({ kind: 'throw', message: 'Error: x' });
    expect(records.some((r) => r.apiId === apiId && r.msg === 'selector quarantined')).toBe(true);
    expect(records.filter((r) => r.apiId === apiId && r.msg === 'selector call failed').length).toBeGreaterThanOrEqual(
      5,
    );

    // The same code and limits again stay quarantined; new code starts clean.
    const same = await sandbox.load(
      { apiId, config: config('function select() { throw new Error("x"); }') },
      catalog,
      {},
    );
    expect(failure(await same.select(request(), all)).kind).toBe('quarantined');
    const fixed = await sandbox.load({ apiId, config: config(CANARY) }, catalog, {});
    expect(picked(await fixed.select(request(), all))).toEqual([0, 2, 3]);
    expect(sandbox.status(apiId)).toMatchObject({
      state: 'active',
      calls: 1,
      failures: 0,
      quarantinedAt: null,
      lastErrors: [],
    });
  });

  it('has no status for an API without a loaded selector', () => {
    expect(sandbox.status('nobody')).toBeNull();
  });
});
