import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SelectorSandbox } from '../../src/selector/sandbox.js';
import type { SelectOutcome } from '../../src/selector/types.js';
import { CANARY, config, example, node, request, startSandbox } from './fixtures.js';

// Memoization may never change an answer. Each selector below runs the same sequence of requests
// twice, once with memoize: false (every call runs) and once with "auto" (the default); the picks
// must be identical, call for call. The table is written from the attacker's side: scripts that
// try to keep state between calls, or to answer differently from call to call, in every way we
// could think of, most of them written to get past the static pre-filter. The stateless ones must
// stay memoized (answered from records); for scripts reading the clock or randomness the sequence
// itself is random, so the check there is that no answer came from a record.

const catalog = [node('a'), node('b', ['temp']), node('c', ['pc']), node('d', ['mobile'])];
const all = [0, 1, 2, 3];
const variants = [
  request({ query: { select_code: 'temp_node' }, headers: { 'x-user': 'u1', 'user-agent': 'Mozilla (Windows)' } }),
  request({ query: {}, headers: { 'x-user': 'u2', 'user-agent': 'iPhone Mobile', since: '2024-05-01T00:00:00Z' } }),
  request({ query: { select_code: 'x' }, headers: { 'x-user': 'u1', 'x-canary': '1' } }),
  request({ query: {}, headers: {} }),
];
const CALLS = 24;
const sequence = Array.from({ length: CALLS }, (_, i) => variants[(i * 7 + (i >> 2)) % variants.length]!);

/**
 * stateless: memoized, same answers. stateful: same answers, and the state seen (not memoized, or
 * memoization ended). defeated: an attack the locked-down realm itself makes inert (the same in both
 * modes), so the script is in fact stateless. nondeterministic: never answered from a record.
 */
type Kind = 'stateless' | 'stateful' | 'defeated' | 'nondeterministic';
interface Row {
  name: string;
  kind: Kind;
  code: string;
  /** CPU limit per call (default 500 ms, so a busy machine never cuts one mode's call short); Intl loads its data on first use. */
  timeoutMs?: number;
}

const sel = (body: string, top = '') => `${top}\nfunction select(request, env, nodes) {\n${body}\n}`;
const pickBy = (n: string) => `return [nodes[((${n}) % nodes.length + nodes.length) % nodes.length]];`;

const rows: Row[] = [
  // ---- stateless: must be memoized, with the script's own answers ----
  { name: 'canary by query (scripts-examples)', kind: 'stateless', code: CANARY },
  { name: 'canary by header (scripts-examples)', kind: 'stateless', code: example('canary-by-header.js') },
  {
    name: 'user id hashed into a percentage (scripts-examples)',
    kind: 'stateless',
    code: example('by-user-percent.js'),
  },
  { name: 'client type from the User-Agent (scripts-examples)', kind: 'stateless', code: example('by-client-type.js') },
  {
    name: 'a frozen lookup table and a non-global regular expression',
    kind: 'stateless',
    code: sel(
      'const t = ROUTES[request.query.select_code] || "a"; return MOBILE.test(request.headers["user-agent"] || "") ? ["d"] : [t];',
      'const ROUTES = Object.freeze({ temp_node: "b", x: "c" });\nconst MOBILE = /iphone|android/i;',
    ),
  },
  {
    name: 'a kept Map and Set read, never written',
    kind: 'stateless',
    code: sel(
      'const id = M.get(request.headers["x-user"]); return id && !BLOCKED.has(id) ? [id] : ["a"];',
      'const M = new Map([["u1", "c"], ["u2", "b"]]);\nconst BLOCKED = new Set(["b"]);',
    ),
  },
  {
    name: 'helpers, a class, iterators and closures made per call',
    kind: 'stateless',
    code: sel(
      'const out = []; for (const n of nodes) if (new Box(n).hot(request.query.select_code)) out.push(n); return out.length ? out : nodes.filter((n) => !n.tags.includes("temp"));',
      'class Box { constructor(n) { this.n = n; } hot(code) { return code === "temp_node" && this.n.tags.includes("temp"); } }',
    ),
  },
  {
    name: 'a Date built from a request value, JSON.parse and try/catch',
    kind: 'stateless',
    code: sel(
      'try { const y = new Date(request.headers.since).getUTCFullYear(); JSON.parse(request.headers.since || "{"); return [y > 2020 ? "c" : "a"]; } catch (e) { return [String(e.name).length % 2 ? "b" : "d"]; }',
    ),
  },
  {
    name: 'env read per call',
    kind: 'stateless',
    code: sel('return [env.PICK || "a", request.query.select_code ? "b" : "c"];'),
  },
  {
    name: 'a method of a kept object and a registered symbol',
    kind: 'stateless',
    code: sel(
      'const k = Symbol.for("k"); const o = { [k]: 1 }; return [CFG.pick(request.query.select_code), o[Symbol.for("k")] ? "c" : "d"];',
      'const CFG = { pick(code) { return code === "temp_node" ? "b" : "a"; } };',
    ),
  },
  {
    name: 'an error thrown and caught per call, with its stack read',
    kind: 'stateless',
    code: sel('try { null.x; } catch (e) { return [e.stack.split("\\n").length > 1 ? "a" : "b"]; }'),
  },

  // ---- state kept between calls ----
  { name: 'a top-level let counter', kind: 'stateful', code: sel('n++; ' + pickBy('n'), 'let n = 0;') },
  {
    name: 'a counter in a kept object, written through an alias',
    kind: 'stateful',
    code: sel('bump(hits); ' + pickBy('hits.n'), 'const hits = { n: 0 };\nfunction bump(c) { c.n++; }'),
  },
  {
    name: 'a closure counter made by an immediately called function',
    kind: 'stateful',
    code: sel(pickBy('next()'), 'const next = (() => { let n = 0; return () => ++n; })();'),
  },
  {
    name: 'a closure made by a callback of a built-in at the top level',
    kind: 'stateful',
    code: sel(pickBy('fns[0]()'), 'const fns = [0].map(() => { let n = 0; return () => ++n; });'),
  },
  {
    name: 'a closure made by a getter run while the top level loads',
    kind: 'stateful',
    code: sel(
      pickBy('holder.f()'),
      'const holder = {};\nconst maker = { get x() { let n = 0; const h = holder; h.f = () => ++n; return 1; } };\nconst one = maker.x;',
    ),
  },
  {
    name: 'a closure over a block-scoped let at the top level',
    kind: 'stateful',
    code: sel(pickBy('tick()'), 'var tick;\n{ let n = 0; tick = function () { return ++n; }; }'),
  },
  {
    name: 'an array iterator kept at the top level (its position is internal)',
    kind: 'stateful',
    code: sel(
      'const s = t.next(); ' + pickBy('s.done ? 7 : s.value'),
      'const t = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24].keys();',
    ),
  },
  {
    name: 'a string iterator kept, advanced by spreading one step',
    kind: 'stateful',
    code: sel(
      'const [c] = [it.next().value]; ' + pickBy('c ? c.charCodeAt(0) : 5'),
      'const it = "abcdefghijklmnopqrstuvwxyz0123456789"[Symbol.iterator]();',
    ),
  },
  {
    name: 'a generator kept at the top level',
    kind: 'stateful',
    code: sel(pickBy('g.next().value'), 'function* count() { let i = 0; for (;;) yield i++; }\nconst g = count();'),
  },
  {
    name: 'a kept Map written through a helper',
    kind: 'stateful',
    code: sel(
      'put(m, request.headers["x-user"]); ' + pickBy('m.size + m.get(request.headers["x-user"])'),
      'const m = new Map();\nfunction put(map, k) { map.set(k, (map.get(k) || 0) + 1); }',
    ),
  },
  {
    name: 'a kept Set written through Set.prototype.add.call',
    kind: 'stateful',
    code: sel(
      'Set.prototype.add.call(s, request.headers["x-user"] + s.size); ' + pickBy('s.size'),
      'const s = new Set();',
    ),
  },
  {
    name: 'a kept Date moved with a setter (its time is internal)',
    kind: 'stateful',
    code: sel('Date.prototype.setTime.call(d, d.getTime() + 1); ' + pickBy('d.getTime()'), 'const d = new Date(0);'),
  },
  {
    name: 'a WeakMap keyed by the (frozen, shared) node objects',
    kind: 'stateful',
    code: sel(
      'const k = nodes[0]; add(wm, k); ' + pickBy('wm.get(k)'),
      'const wm = new WeakMap();\nfunction add(w, k) { w.set(k, (w.get(k) || 0) + 1); }',
    ),
  },
  {
    name: 'RegExp lastIndex of a sticky expression built at run time',
    kind: 'stateful',
    code: sel(
      'const m = RegExp.prototype.exec.call(R, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); ' +
        pickBy('m ? R.lastIndex : 3'),
      'const R = new RegExp("a", ["y"].join(""));',
    ),
  },
  {
    name: "the global object reached through a sloppy function's this",
    kind: 'stateful',
    code: sel('const g = (0, function () { return this; })(); g.count = (g.count || 0) + 1; ' + pickBy('g.count')),
  },
  {
    name: 'a global written under a computed name',
    kind: 'stateful',
    code: sel(
      'const g = (function () { return this; })(); const k = ["co", "unt"].join(""); g[k] = (g[k] || 0) + 1; ' +
        pickBy('g[k]'),
    ),
  },
  {
    name: 'a getter that counts its reads',
    kind: 'stateful',
    code: sel(pickBy('o.next'), 'const o = { n: 0, get next() { return this.n++; } };'),
  },
  {
    name: 'a Proxy whose handler keeps the count',
    kind: 'stateful',
    code: sel(pickBy('P.anything'), 'const P = new Proxy({}, { n: 0, get(t, k) { return this.n++; } });'),
  },
  {
    name: 'private fields stamped onto the shared node objects',
    kind: 'stateful',
    code: sel(
      'const n = nodes[0]; if (!S.has(n)) new S(n); ' + pickBy('S.inc(n)'),
      'class Base { constructor(o) { return o; } }\nclass S extends Base { #n = 0; static has(o) { return #n in o; } static inc(o) { return ++o.#n; } }',
    ),
  },
  {
    name: 'Error.stackTraceLimit changed through the prototype of a built-in',
    kind: 'stateful',
    code: sel(
      'const E = Reflect.getPrototypeOf(RangeError); E.stackTraceLimit = (E.stackTraceLimit % 9) + 1; ' +
        pickBy('E.stackTraceLimit'),
    ),
  },
  {
    name: 'state kept in a default parameter value',
    kind: 'stateful',
    code: sel('', 'const STATE = { n: 0 };').replace(
      'function select(request, env, nodes) {\n',
      'function select(request, env, nodes, s = STATE) {\ns.n++; ' + pickBy('s.n') + '\n',
    ),
  },
  {
    name: 'a kept array grown with Array.prototype.push.call',
    kind: 'stateful',
    code: sel('Array.prototype.push.call(seen, 1); ' + pickBy('seen.length'), 'const seen = [];'),
  },
  {
    name: 'a kept object made non-extensible once',
    kind: 'stateful',
    code: sel(
      'const was = Object.isExtensible(box); Object.preventExtensions(box); return [was ? "a" : "b"];',
      'const box = {};',
    ),
  },
  {
    name: 'built-ins rewritten by the top level (the realm is locked down, so in both modes alike)',
    kind: 'defeated',
    code: sel(
      'return [typeof nodes.last === "function" ? nodes.last().id : "c"];',
      'try { Array.prototype.last = function () { return this[this.length - 1]; }; } catch (e) {}',
    ),
  },
  {
    name: 'the Function constructor reached through a prototype',
    kind: 'defeated',
    code: sel(
      'let g; try { g = (function () {}).constructor("return this")(); } catch (e) { return ["d"]; } g.k = (g.k || 0) + 1; ' +
        pickBy('g.k'),
    ),
  },

  // ---- non-determinism: never answered from a record ----
  { name: 'Math.random', kind: 'nondeterministic', code: sel(pickBy('Math.floor(Math.random() * 1000)')) },
  {
    name: 'Math.random reached under a computed name',
    kind: 'nondeterministic',
    code: sel(pickBy('Math[["ran", "dom"].join("")]() * 1000 | 0')),
  },
  { name: 'Date.now', kind: 'nondeterministic', code: sel(pickBy('Date.now()')) },
  { name: 'new Date() without arguments', kind: 'nondeterministic', code: sel(pickBy('new Date().getMilliseconds()')) },
  {
    name: 'Date() called as a function',
    kind: 'nondeterministic',
    code: sel(pickBy('Date().length + new Date(Date()).getSeconds()')),
  },
  {
    name: 'Intl date formatting without a date (time-of-day routing)',
    kind: 'nondeterministic',
    code: sel(pickBy('Number(new Intl.DateTimeFormat("en", { second: "numeric", timeZone: "UTC" }).format())')),
    timeoutMs: 2000,
  },
  {
    name: 'Intl formatToParts without a date',
    kind: 'nondeterministic',
    code: sel(pickBy('Number(new Intl.DateTimeFormat("en", { second: "numeric" }).formatToParts()[0].value)')),
    timeoutMs: 2000,
  },
  {
    name: 'randomness read once by the top level',
    kind: 'nondeterministic',
    code: sel(pickBy('SEED'), 'const SEED = Math.floor(Math.random() * 1000);'),
  },
];

let sandbox: SelectorSandbox;
let bare: SelectorSandbox;
beforeAll(async () => {
  ({ sandbox } = await startSandbox({ maxHosts: 4 }));
  // The same table with the static pre-filter off: what the realm records and checks decides alone.
  ({ sandbox: bare } = await startSandbox({ maxHosts: 4, stateAnalysis: false }));
});
afterAll(async () => {
  await sandbox?.close();
  await bare?.close();
});

/** One outcome as compared between the two runs: the picks, or the failure's kind. */
function shape(outcome: SelectOutcome): string {
  return outcome.ok ? `picked ${outcome.picked.join(',')}` : `failed ${outcome.error.kind}`;
}

let seq = 0;
async function run(sandbox: SelectorSandbox, row: Row, memoize: boolean | 'auto') {
  const apiId = `diff-${++seq}`;
  const handle = await sandbox.load(
    { apiId, config: config(row.code, { memoize, timeoutMs: row.timeoutMs ?? 500 }) },
    catalog,
    { PICK: 'd' },
  );
  const outcomes: SelectOutcome[] = [];
  for (const req of sequence) outcomes.push(await handle.select(req, all));
  const status = sandbox.status(apiId);
  handle.release();
  return { outcomes, status };
}

async function compare(sandbox: SelectorSandbox, row: Row): Promise<void> {
  const plain = await run(sandbox, row, false);
  const auto = await run(sandbox, row, 'auto');
  const cachedCalls = auto.outcomes.filter((o) => o.ok && o.cached === true).length;
  if (row.kind === 'nondeterministic') {
    expect(cachedCalls).toBe(0);
    expect(auto.outcomes.every((o) => o.ok)).toBe(true);
    return;
  }
  expect(auto.outcomes.map(shape)).toEqual(plain.outcomes.map(shape));
  if (row.kind === 'stateless') {
    expect(auto.status?.memoization).toEqual({ mode: 'auto', active: true, reason: null });
    expect(cachedCalls).toBeGreaterThan(CALLS / 2);
  } else if (row.kind === 'stateful') {
    // The state was seen: refused when loaded or ended by the run that changed it.
    expect(auto.status?.memoization.active).toBe(false);
  }
}

describe('memoization never changes an answer (memoize: false against "auto", call for call)', () => {
  it('has at least 30 selectors, attacks of every kind', () => {
    expect(rows.length).toBeGreaterThanOrEqual(30);
    expect(rows.filter((r) => r.kind === 'stateful').length).toBeGreaterThanOrEqual(20);
  });

  it.each(rows)('$kind: $name', (row) => compare(sandbox, row));

  describe('without the static pre-filter (the guarantee does not rest on it)', () => {
    it.each(rows)('$kind: $name', (row) => compare(bare, row));
  });
});
