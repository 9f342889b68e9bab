import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyzeState, describeVerdict } from '../../src/selector/state-analysis.js';

// The static state analysis behind memoize: "auto": which scripts may be memoized, and for the
// others the first state found, with its line.

const examples = new URL('../../scripts-examples/', import.meta.url);

describe('state analysis', () => {
  it('finds every shipped example stateless', () => {
    const files = readdirSync(examples).filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const file of files) {
      const verdict = analyzeState(readFileSync(new URL(file, examples), 'utf8'));
      expect(verdict, file).toMatchObject({ stateless: true });
    }
  });

  const stateless: Array<[string, string, string[]]> = [
    ['plain select', 'function select(r, e, nodes) { return nodes; }', ['select']],
    [
      'kept data built from literals and built-ins',
      'const CODES = new Set(["a", "b"]);\nconst W = Object.freeze({ a: 1, list: [1, 2] });\nconst PARTS = "x,y".split(",");\nfunction select(r, e, nodes) { return nodes.filter((n) => CODES.has(n.name) || W.a > 0 || PARTS.includes(n.name)); }',
      ['CODES', 'W', 'PARTS', 'select'],
    ],
    [
      'locals, loops, closures over the call, shadowing',
      'let n = 0;\nfunction select(request, env, nodes) {\n  let n = 1; let hits = 0;\n  nodes.forEach((x) => { hits++; n += x.weight; });\n  for (const k in request.query) hits++;\n  { let n = 5; n++; }\n  return nodes.slice(0, (hits + n) % nodes.length + 1);\n}',
      ['n', 'select'],
    ],
    [
      'helpers and function values in kept tables',
      'const RULES = [{ tag: "temp", test: (r) => r.query.select_code === "temp_node" }];\nfunction pick(nodes, tag) { return nodes.filter((n) => n.tags.includes(tag)); }\nfunction select(r, e, nodes) { const rule = RULES.find((x) => x.test(r)); return rule ? pick(nodes, rule.tag) : nodes; }',
      ['RULES', 'pick', 'select'],
    ],
    [
      'fresh copies and classes made per call',
      'class Box { constructor(v) { this.v = v; } }\nfunction select(r, e, nodes) { const o = Object.assign({}, { a: 1 }); o.b = 2; const b = new Box(o); b.v.c = 3; return nodes; }',
      ['Box', 'select'],
    ],
    [
      'globals named, not handed around',
      'function select(r, e, nodes) { const m = new Map(); const ok = m instanceof Map && typeof Intl === "object"; return ok ? nodes.map(String).length && nodes.filter(Boolean) : nodes; }',
      ['select'],
    ],
    [
      'a non-global regular expression',
      'const MOBILE = /Mobile|Android/i;\nfunction select(r, e, nodes) { return MOBILE.test(r.headers["user-agent"] || "") ? nodes.slice(0, 1) : nodes; }',
      ['MOBILE', 'select'],
    ],
  ];
  it.each(stateless)('stateless: %s', (_name, code, kept) => {
    expect(analyzeState(code)).toEqual({ stateless: true, keptNames: kept });
  });

  const stateful: Array<[string, string, string]> = [
    [
      'a counter at the top level',
      'let count = 0;\nfunction select(r, e, nodes) {\n  count++;\n  return nodes;\n}',
      'line 3: assigns to `count`, which is kept between calls',
    ],
    [
      'an assignment in a nested arrow',
      'let last = null;\nfunction select(r, e, nodes) { nodes.forEach((n) => { last = n; }); return nodes; }',
      'line 2: assigns to `last`, which is kept between calls',
    ],
    [
      'a global made by assignment',
      'function select(r, e, nodes) {\n  seen = r.clientIp;\n  return nodes;\n}',
      'line 2: assigns to the global `seen`',
    ],
    [
      'a kept set grown',
      'const seen = new Set();\nfunction select(r, e, nodes) { seen.add(r.clientIp); return nodes; }',
      'line 2: calls `add` on `seen`, which is kept between calls',
    ],
    [
      'a kept object written',
      'const hits = {};\nfunction select(r, e, nodes) { hits[r.clientIp] = 1; return nodes; }',
      'line 2: changes `hits`, which is kept between calls',
    ],
    [
      'a kept array pushed',
      'const log = [];\nfunction select(r, e, nodes) { log.push(1); return nodes; }',
      'line 2: calls `push` on `log`, which is kept between calls',
    ],
    [
      'a built-in written',
      'function select(r, e, nodes) { Math.calls = (Math.calls || 0) + 1; return nodes; }',
      'line 1: changes `Math`, which is kept between calls',
    ],
    [
      'a closure made at load',
      'const next = (() => { let n = 0; return () => ++n; })();\nfunction select(r, e, nodes) { return next() % 2 ? nodes : nodes.slice(0, 1); }',
      "line 1: the top level runs code (a call of the script's own code); only values built from literals and built-ins are memoizable",
    ],
    [
      'a statement at the top level',
      'console.log("loaded");\nfunction select(r, e, nodes) { return nodes; }',
      'line 1: the top level runs code; only declarations of functions and of values built from literals are memoizable',
    ],
    [
      'a function handed to a built-in at load',
      'const M = [1, 2].map((x) => x * 2);\nfunction select(r, e, nodes) { return nodes; }',
      'line 1: the top level runs code (a function handed to a built-in); only values built from literals and built-ins are memoizable',
    ],
    [
      'a global regular expression kept',
      'const RE = /a/g;\nfunction select(r, e, nodes) { return nodes; }',
      'line 1: a regular expression kept at the top level with the g or y flag keeps its lastIndex between calls',
    ],
    [
      'this outside a class',
      'function select(r, e, nodes) { this.n = 1; return nodes; }',
      'line 1: writes to `this` outside a class',
    ],
    ['eval', 'function select(r, e, nodes) { return eval("nodes"); }', 'line 1: uses `eval`, which is not memoizable'],
    [
      'the Function constructor through a member',
      'function select(r, e, nodes) { return nodes.filter.constructor("return 1")() ? nodes : []; }',
      'line 1: reaches `constructor`, which is not memoizable',
    ],
    [
      'globalThis',
      'function select(r, e, nodes) { return globalThis.nodes || nodes; }',
      'line 1: uses `globalThis`, which is not memoizable',
    ],
    [
      'the global object kept at load',
      'const G = this;\nfunction select(r, e, nodes) { return nodes; }',
      'line 1: keeps `this` of the top level, which is the global object',
    ],
    [
      'a built-in kept whole',
      'const M = Math;\nfunction touch(o) { o.calls = 1; }\nfunction select(r, e, nodes) { touch(M); return nodes; }',
      'line 1: uses the global `Math` itself as a value (only its members are memoizable)',
    ],
    [
      'a built-in aliased in a call',
      'function select(r, e, nodes) {\n  const j = JSON;\n  j.seen = 1;\n  return nodes;\n}',
      'line 2: uses the global `JSON` itself as a value (only its members are memoizable)',
    ],
    [
      'RegExp legacy statics',
      'function select(r, e, nodes) { return RegExp.$1 ? nodes : []; }',
      'line 1: reads `RegExp.$1`, which carries the last match over from an earlier call',
    ],
    [
      'a static class block',
      'class K { static { } }\nfunction select(r, e, nodes) { return nodes; }',
      'line 1: a class at the top level has a static field or block (it runs when the script loads)',
    ],
  ];
  it.each(stateful)('not stateless: %s', (_name, code, reason) => {
    const verdict = analyzeState(code);
    expect(verdict.stateless).toBe(false);
    expect(describeVerdict(verdict)).toBe(reason);
  });

  it('refuses what does not parse, and `with`, with the line', () => {
    expect(describeVerdict(analyzeState('function select(r, e, nodes) {\n  return nodes;\n'))).toMatch(
      /^line 3: the script does not parse/,
    );
    expect(describeVerdict(analyzeState('function select(r, e, nodes) {\n  with (r) {}\n  return nodes;\n}'))).toBe(
      'line 2: `with` is not memoizable',
    );
  });
});
