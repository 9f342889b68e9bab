import { afterEach, describe, expect, it } from 'vitest';
import type { SelectorSandbox } from '../../src/selector/sandbox.js';
import type { SelectOutcome, SelectorErrorKind, SelectorHandle } from '../../src/selector/types.js';
import { MAX_MESSAGE_CHARS } from '../../src/selector/host-limits.js';
import { MAX_LINE_CHARS, MAX_LINES_PER_RUN } from '../../src/selector/isolate/realm.js';
import { CANARY, config, node, request, startSandbox } from './fixtures.js';

const catalog = [node('a'), node('b', ['temp']), node('c')];
const all = [0, 1, 2];
const CALLS = 200;
// The good API's own time limit: generous, so that a loaded machine (the suite runs tests in parallel on
// few cores) cannot time its calls out; what is tested is that the bad API never makes it fail.
const GOOD_LIMITS = { timeoutMs: 1000 };

interface HostileCase {
  name: string;
  code: string;
  /**
   * What a failing call of the bad API reports before quarantine. Where two are listed, where the
   * allocation fails decides: isolated-vm's heap check (memory) or V8 itself (crash).
   */
  kinds: SelectorErrorKind[];
  timeoutMs?: number;
  /** Calls succeed until the script has grown enough to fail (and again after its isolate is rebuilt). */
  succeedsFirst?: boolean;
  /** The script takes its whole sandbox process down or the watchdog kills it; else only on a crash. */
  killsHost?: boolean;
  /** CPU a host late past the limit may burn before the watchdog kills it. */
  hangGraceMs?: number;
}

const cases: HostileCase[] = [
  { name: 'throw', code: 'function select() { throw new Error("boom"); }', kinds: ['throw'] },
  { name: 'infinite loop', code: 'function select() { for (;;) {} }', kinds: ['timeout'] },
  {
    name: 'unbounded heap allocation',
    // Chunks of a thousand, so that the heap fills well within the time limit on a busy machine.
    code: 'function select() { const a = []; for (;;) a.push(new Array(1000).fill(a.length)); }',
    kinds: ['memory'],
    timeoutMs: 1000,
  },
  { name: 'garbage result', code: 'function select() { return { nodes: "all" }; }', kinds: ['bad-result'] },
  {
    name: 'foreign ids',
    code: 'function select(r, env, nodes) { return nodes.concat(["intruder"]); }',
    kinds: ['bad-result'],
  },
  {
    name: 'new Array(5e7).fill(0) (V8 aborts the process)',
    code: 'function select(r, env, nodes) { new Array(5e7).fill(0); return nodes; }',
    kinds: ['crash'],
    killsHost: true,
    hangGraceMs: 10_000,
  },
  {
    name: 'ever-growing Map across calls (V8 may abort the process)',
    code: 'var m = new Map(); var k = 0;\nfunction select(r, env, nodes) { for (let i = 0; i < 5e4; i++) m.set(k++, i); return nodes; }',
    kinds: ['crash', 'memory'],
    timeoutMs: 500,
    succeedsFirst: true,
    hangGraceMs: 10_000,
  },
  {
    name: 'ever-growing Set across calls (V8 may abort the process)',
    code: 'var s = new Set(); var k = 0;\nfunction select(r, env, nodes) { for (let i = 0; i < 5e4; i++) s.add(k++); return nodes; }',
    kinds: ['crash', 'memory'],
    timeoutMs: 500,
    succeedsFirst: true,
    hangGraceMs: 10_000,
  },
  {
    // One native BigInt operation runs for many seconds and ignores the isolate's time limit.
    name: 'uninterruptible native work (the watchdog kills the host)',
    code: 'function select(r, env, nodes) { return [(1n << 40000000n).toString().slice(0, 3)]; }',
    kinds: ['timeout'],
    killsHost: true,
    hangGraceMs: 500,
  },
];

/** The canary's answer for call `i` of the good API: every other call asks for the canary. */
function goodRequest(i: number) {
  return i % 2 === 0 ? request({ query: { select_code: 'temp_node' } }) : request();
}
const goodExpected = (i: number) => (i % 2 === 0 ? [1] : [0, 2]);

let sandbox: SelectorSandbox | null = null;
afterEach(async () => {
  await sandbox?.close();
  sandbox = null;
});

/** Fires CALLS calls at each API, interleaved, in small bursts, all in flight together. */
async function fire(
  good: SelectorHandle,
  bad: SelectorHandle,
): Promise<{ goodOut: SelectOutcome[]; badOut: SelectOutcome[] }> {
  const goodCalls: Array<SelectOutcome | Promise<SelectOutcome>> = [];
  const badCalls: Array<SelectOutcome | Promise<SelectOutcome>> = [];
  for (let i = 0; i < CALLS; i++) {
    goodCalls.push(good.select(goodRequest(i), all));
    badCalls.push(bad.select(request(), all));
    if (i % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
  }
  return { goodOut: await Promise.all(goodCalls), badOut: await Promise.all(badCalls) };
}

function expectGoodAllCorrect(outcomes: SelectOutcome[]): void {
  const wrong = outcomes
    .map((o, i) => ({ i, o }))
    .filter(({ i, o }) => !o.ok || JSON.stringify(o.picked) !== JSON.stringify(goodExpected(i)));
  expect(wrong.map(({ i, o }) => ({ i, o: JSON.stringify(o) }))).toEqual([]);
}

/** Checks the bad API's outcomes; returns the failure kind it reported. */
function expectBadFailures(outcomes: SelectOutcome[], c: HostileCase): SelectorErrorKind {
  // On a machine too busy to give a looping script its CPU time within the wall-clock limit, a call
  // is stopped as `unavailable` (not the script's fault) rather than `timeout`.
  if (c.kinds.includes('timeout')) outcomes = outcomes.filter((o) => o.ok || o.error.kind !== 'unavailable');
  const firstFailure = outcomes.findIndex((o) => !o.ok);
  expect(firstFailure).toBeGreaterThanOrEqual(0);
  if (!c.succeedsFirst) expect(firstFailure).toBe(0);
  for (const o of outcomes.slice(0, firstFailure)) expect(o.ok).toBe(true);
  const kinds = outcomes.slice(firstFailure).map((o) => (o.ok ? 'ok' : o.error.kind));
  expect(c.kinds).toContain(kinds[0]);
  const allowed = new Set<string>([...c.kinds, 'quarantined', ...(c.succeedsFirst ? ['ok'] : [])]);
  expect(kinds.filter((k) => !allowed.has(k))).toEqual([]);
  // Quarantine comes at the threshold (5) or at once after a crash, and then it stays. The gateway
  // decides it; calls its host already ran before hearing of it keep their own failure, so a burst
  // answered faster than the decision travels may have no quarantined answer (the caller checks
  // the state and the next call).
  const firstQuarantined = kinds.indexOf('quarantined');
  if (firstQuarantined >= 0) {
    expect(firstQuarantined).toBeGreaterThan(0);
    expect(kinds.slice(firstQuarantined).every((k) => k === 'quarantined')).toBe(true);
  }
  return kinds[0] as SelectorErrorKind;
}

describe.each([
  ['sharing one host process', 1],
  ['on their own host processes', 8],
])('hostile selector next to a good one, %s', (_label, maxHosts) => {
  it.each(cases)('$name: the good API is always answered right, the bad one fails and is quarantined', async (c) => {
    const started = await startSandbox({ maxHosts, hangGraceMs: c.hangGraceMs });
    sandbox = started.sandbox;
    const good = await sandbox.load({ apiId: 'good', config: config(CANARY, GOOD_LIMITS) }, catalog, {});
    const bad = await sandbox.load(
      { apiId: 'bad', config: config(c.code, { timeoutMs: c.timeoutMs ?? 20 }) },
      catalog,
      {},
    );
    const before = sandbox.hosts();

    const { goodOut, badOut } = await fire(good, bad);
    expectGoodAllCorrect(goodOut);
    const kind = expectBadFailures(badOut, c);

    const status = sandbox.status('bad')!;
    expect(status.state).toBe('quarantined');
    expect(status.lastErrors.some((e) => e.kind === kind)).toBe(true);
    expect(sandbox.status('good')).toMatchObject({ state: 'active', failures: 0 });

    const after = sandbox.hosts();
    if (c.killsHost || status.lastErrors.some((e) => e.kind === 'crash')) {
      expect(after.exits).toBe(1);
      const badSlot = maxHosts === 1 ? 0 : 1;
      expect(after.slots[badSlot]).not.toBe(before.slots[badSlot]); // replaced (by the warm spare)
      expect(after.slots[badSlot]).not.toBeNull();
      if (maxHosts > 1) expect(after.slots[0]).toBe(before.slots[0]); // the good API's host never noticed
    } else {
      expect(after.exits).toBe(0);
      expect(after.slots).toEqual(before.slots);
    }

    // After the storm: the good API still answers, the bad one answers quarantined without running.
    expectGoodAllCorrect(await Promise.all([0, 1, 2, 3].map((i) => good.select(goodRequest(i), all))));
    const later = await bad.select(request(), all);
    expect(later.ok ? 'ok' : later.error.kind).toBe('quarantined');

    // A new version of the bad API's selector starts clean.
    const fixed = await sandbox.load({ apiId: 'bad', config: config(CANARY) }, catalog, {});
    expect(await fixed.select(request(), all)).toMatchObject({ ok: true, picked: [0, 2] });
    expect(sandbox.status('bad')).toMatchObject({ state: 'active', calls: 1, failures: 0 });
  });
});

describe('trials', () => {
  it('a trial that kills its process never disturbs serving hosts', async () => {
    const started = await startSandbox({ maxHosts: 1, hangGraceMs: 10_000 });
    sandbox = started.sandbox;
    const good = await sandbox.load({ apiId: 'good', config: config(CANARY, GOOD_LIMITS) }, catalog, {});
    const before = sandbox.hosts();
    const goodCalls: Array<SelectOutcome | Promise<SelectOutcome>> = [];
    for (let i = 0; i < CALLS; i++) goodCalls.push(good.select(goodRequest(i), all));
    const trial = sandbox.trial(
      config('function select(r, env, nodes) { new Array(5e7).fill(0); return nodes; }'),
      request(),
      {},
      catalog,
    );
    for (let i = CALLS; i < 2 * CALLS; i++) goodCalls.push(good.select(goodRequest(i), all));
    const result = await trial;
    expect(result).toMatchObject({ ok: false, picked: [], error: { kind: 'crash' } });
    expectGoodAllCorrect(await Promise.all(goodCalls));
    const after = sandbox.hosts();
    expect(after.slots).toEqual(before.slots);
    expect(after.exits).toBe(1);
    expect(sandbox.status('good')).toMatchObject({ state: 'active', failures: 0 });
    // The next trial gets a new trial host.
    expect(await sandbox.trial(config(CANARY), request(), {}, catalog)).toMatchObject({ ok: true, picked: ['a', 'c'] });
  });

  it('a trial that hangs is stopped by the watchdog and reported as timeout', async () => {
    const started = await startSandbox({ hangGraceMs: 500 });
    sandbox = started.sandbox;
    const result = await sandbox.trial(
      config('function select(r, env, nodes) { return [(1n << 40000000n).toString()]; }'),
      request(),
      {},
      catalog,
    );
    expect(result).toMatchObject({ ok: false, error: { kind: 'timeout' } });
  });
});

describe('loading hostile code', () => {
  it('a top level that aborts V8 rejects the load as crash, once, and leaves the other APIs running', async () => {
    const started = await startSandbox({ maxHosts: 1, hangGraceMs: 10_000 });
    sandbox = started.sandbox;
    const good = await sandbox.load({ apiId: 'good', config: config(CANARY, GOOD_LIMITS) }, catalog, {});
    const calls = [0, 1, 2, 3, 4, 5].map((i) => good.select(goodRequest(i), all));
    const err = await sandbox
      .load(
        { apiId: 'bad', config: config('new Array(5e7).fill(0);\nfunction select(r, e, nodes) { return nodes; }') },
        catalog,
        {},
      )
      .catch((e: { failure?: { kind: string } }) => e);
    expect(err).toMatchObject({ failure: { kind: 'crash' } });
    const more = [6, 7, 8, 9].map((i) => good.select(goodRequest(i), all));
    expectGoodAllCorrect(await Promise.all([...calls, ...more]));
    expect(sandbox.hosts().exits).toBe(1);
    // Loading it again (the next config version) answers from memory instead of crashing a host again.
    const again = await sandbox
      .load(
        { apiId: 'bad', config: config('new Array(5e7).fill(0);\nfunction select(r, e, nodes) { return nodes; }') },
        catalog,
        {},
      )
      .catch((e: { failure?: { kind: string } }) => e);
    expect(again).toMatchObject({ failure: { kind: 'crash' } });
    expect(sandbox.hosts().exits).toBe(1);
  });
});

describe("built-ins rewritten to defeat the sandbox's own code", () => {
  // The realm is locked down before the script loads and the sandbox's code captured what it uses,
  // so these only break the script itself; the host caps what comes back whatever happened inside.
  // Limits generous enough that a loaded machine finishes the 5 MB strings in time.
  const rewrites: Array<{ name: string; code: string; expect: 'ok' | SelectorErrorKind; timeoutMs: number }> = [
    {
      name: 'console caps: Array.prototype.toJSON and JSON.stringify replaced, a 5 MB line, 1000 lines',
      code: [
        'try { Object.defineProperty(Array.prototype, "toJSON", { value() { return "x".repeat(4e6); } }); } catch (e) {}',
        'try { JSON.stringify = () => "y".repeat(4e6); } catch (e) {}',
        'try { String.prototype.slice = function () { return this; }; } catch (e) {}',
        'function select(r, env, nodes) { console.log([1], "z".repeat(5e6)); for (let i = 0; i < 1000; i++) console.log(i); return nodes; }',
      ].join('\n'),
      expect: 'ok',
      timeoutMs: 1000,
    },
    {
      name: 'result encoding: a node id 5 MB long',
      code: 'function select(r, env, nodes) { return [{ get id() { return "q".repeat(5e6); } }]; }',
      expect: 'bad-result',
      timeoutMs: 1000,
    },
    {
      name: 'result encoding: a result claiming 500 million elements',
      code: 'function select(r, env, nodes) { return new Proxy(nodes.slice(), { get(t, k) { return k === "length" ? 5e8 : t[0]; } }); }',
      expect: 'timeout',
      timeoutMs: 20,
    },
    {
      name: 'error reporting: a 5 MB message, a stack formatter of its own, a name that throws',
      code: [
        'try { Error.prepareStackTrace = () => "s".repeat(5e6); } catch (e) {}',
        'function select(r) {',
        '  if (r.query.n) throw { get name() { throw new Error("no"); } };',
        '  const e = new Error("x"); Object.defineProperty(e, "message", { get() { return "m".repeat(5e6); } }); throw e;',
        '}',
      ].join('\n'),
      expect: 'throw',
      timeoutMs: 1000,
    },
  ];

  it.each(rewrites)(
    '$name: the good API is answered right, and nothing over the caps leaves the sandbox',
    async (c) => {
      const started = await startSandbox({ maxHosts: 1, quarantine: { failures: 1000, windowMs: 10_000 } });
      sandbox = started.sandbox;
      const good = await sandbox.load({ apiId: 'good', config: config(CANARY, { memoize: false }) }, catalog, {});
      const bad = await sandbox.load(
        { apiId: 'bad', config: config(c.code, { timeoutMs: c.timeoutMs, memoize: false }) },
        catalog,
        {},
      );
      const latencies: number[] = [];
      const goodCalls: Array<Promise<SelectOutcome>> = [];
      const badCalls: Array<SelectOutcome | Promise<SelectOutcome>> = [];
      for (let i = 0; i < 40; i++) {
        const t0 = performance.now();
        goodCalls.push(
          Promise.resolve(good.select(goodRequest(i), all)).then((o) => (latencies.push(performance.now() - t0), o)),
        );
        badCalls.push(bad.select(request({ query: i % 2 ? { n: '1' } : {} }), all));
        if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
      }
      expectGoodAllCorrect(await Promise.all(goodCalls));
      const badOut = await Promise.all(badCalls);
      for (const o of badOut) {
        const kind = o.ok ? 'ok' : o.error.kind;
        // A busy machine may stop a looping call before its CPU limit (not the script's fault).
        expect([c.expect, ...(c.expect === 'timeout' ? ['unavailable'] : [])]).toContain(kind);
        if (!o.ok) expect(o.error.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 1);
      }
      const lines = started.records.filter((r) => r.msg === 'selector console').map((r) => String(r.line));
      expect(lines.every((line) => line.length <= MAX_LINE_CHARS + 1)).toBe(true);
      for (const e of sandbox.status('bad')!.lastErrors)
        expect(e.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 1);
      const sorted = latencies.sort((a, b) => a - b);
      console.log(
        `${c.name}: good API p50 ${sorted[20]!.toFixed(1)} ms, max ${sorted[39]!.toFixed(1)} ms over 40 calls sharing the host`,
      );
    },
  );

  it('a trial of such a script reports capped console lines and errors', async () => {
    const started = await startSandbox();
    sandbox = started.sandbox;
    const result = await sandbox.trial(config(rewrites[0]!.code, { timeoutMs: 1000 }), request(), {}, catalog);
    expect(result.ok).toBe(true);
    expect(result.console.length).toBeLessThanOrEqual(MAX_LINES_PER_RUN + 1);
    expect(result.console.every((line) => line.length <= MAX_LINE_CHARS + 1)).toBe(true);
    const failed = await sandbox.trial(config(rewrites[3]!.code, { timeoutMs: 1000 }), request(), {}, catalog);
    expect(failed.error?.kind).toBe('throw');
    expect(failed.error!.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 1);
  });
});
