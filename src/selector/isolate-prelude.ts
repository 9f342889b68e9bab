/** File name the user's script is compiled under; error locations are read back from it. */
export const SCRIPT_NAME = 'selector.js';

/** console.log lines one run keeps (the rest are counted as dropped). */
export const MAX_LINES_PER_RUN = 50;
/** Longest console line kept, in characters. */
export const MAX_LINE_CHARS = 1000;
/** Candidate lists remembered per catalog before the cache starts over. */
export const MAX_CACHED_CANDIDATE_SETS = 256;
/** Distinct request reads one traced call may record; a script reading more is not memoized. */
export const MAX_TRACE_READS = 64;
/** Longest trace text a traced call may return, in characters (large header or body values). */
export const MAX_TRACE_CHARS = 8192;

/**
 * Source evaluated in every selector isolate before the user's script. It evaluates to an object of
 * closures the host calls through references: bind, guard, load, drop, call, takeConsole.
 *
 * Everything it relies on is captured before user code runs, so a script that overwrites
 * `JSON.parse` or `Array.prototype.slice` only breaks itself; the host still checks every position
 * it returns. It removes the few globals that reach outside a single thread (SharedArrayBuffer,
 * Atomics, WebAssembly) and installs a frozen `console` that buffers lines.
 *
 * `call` returns one string: "-" or "+<n>:<n chars of console JSON>", then "=<positions>" on success
 * or "!<kind>\t<line>\t<column>\t<message>" when the script threw or returned the wrong shape.
 *
 * A traced call (memoized selectors) hands the script a recording view of `request` and, when the
 * run stayed cacheable, appends "\t<trace>" to a success: a JSON array of [path, valueKey] reads in
 * first-read order (value keys as in memo.ts; the two sides must agree). The run is not cacheable
 * once the script looks at structure rather than values (keys, `in`, descriptors, prototypes,
 * symbols such as an iterator, inherited members), writes to the request, reads a view kept from an
 * earlier call, calls Math.random, Date.now, Date() or new Date(), or prints with console.
 */
export const PRELUDE = `(function () {
  'use strict';
  const g = globalThis;
  const uncurry = (f) => Function.prototype.call.bind(f);
  const parse = JSON.parse;
  const stringify = JSON.stringify;
  const freeze = Object.freeze;
  const create = Object.create;
  const defineProperty = Object.defineProperty;
  const isArray = Array.isArray;
  const toStr = String;
  const indirectEval = eval;
  const slice = uncurry(Array.prototype.slice);
  const split = uncurry(String.prototype.split);
  const strSlice = uncurry(String.prototype.slice);
  const exec = uncurry(RegExp.prototype.exec);
  const RangeErr = RangeError;
  const is = Object.is;
  const hasOwn = uncurry(Object.prototype.hasOwnProperty);
  const ProxyCtor = Proxy;
  const R = Reflect;
  const rApply = R.apply;
  const rConstruct = R.construct;
  const rHas = R.has;
  const rOwnKeys = R.ownKeys;
  const rGetOwn = R.getOwnPropertyDescriptor;
  const rDefine = R.defineProperty;
  const rDelete = R.deleteProperty;
  const rSet = R.set;
  const rGetProto = R.getPrototypeOf;
  const rSetProto = R.setPrototypeOf;
  const rIsExt = R.isExtensible;
  const rPrevent = R.preventExtensions;
  const MAX_READS = ${MAX_TRACE_READS};
  const MAX_TRACE = ${MAX_TRACE_CHARS};
  const LOCATION = /${SCRIPT_NAME.replace('.', '\\.')}:(\\d+):(\\d+)/;
  const MAX_LINES = ${MAX_LINES_PER_RUN};
  const MAX_LINE = ${MAX_LINE_CHARS};
  const MAX_CACHED = ${MAX_CACHED_CANDIDATE_SETS};

  delete g.SharedArrayBuffer;
  delete g.Atomics;
  delete g.WebAssembly;

  let lines = [];
  let dropped = 0;
  function show(v) {
    if (typeof v === 'string') return v;
    try { const s = stringify(v); if (typeof s === 'string') return s; } catch (e) {}
    try { return toStr(v); } catch (e) { return '[unprintable]'; }
  }
  function log() {
    if (lines.length >= MAX_LINES) { dropped++; return; }
    let s = '';
    for (let i = 0; i < arguments.length; i++) s += (i === 0 ? '' : ' ') + show(arguments[i]);
    if (s.length > MAX_LINE) s = strSlice(s, 0, MAX_LINE) + '\\u2026';
    lines[lines.length] = s;
  }
  defineProperty(g, 'console', {
    value: freeze({ log: log, info: log, warn: log, error: log, debug: log }),
    writable: false, configurable: false, enumerable: false,
  });

  // Sources of non-determinism a memoized run must not touch. They are wrapped for every script
  // (a program is shared by memoized and plain versions of the same code) and only raise a flag.
  let impure = false;
  const realRandom = Math.random;
  defineProperty(Math, 'random', {
    value: { random() { impure = true; return realRandom(); } }.random,
    writable: true, configurable: true, enumerable: false,
  });
  const RealDate = Date;
  const realNow = RealDate.now;
  defineProperty(RealDate, 'now', {
    value: { now() { impure = true; return realNow(); } }.now,
    writable: true, configurable: true, enumerable: false,
  });
  // Null-prototype trap tables: a script adding Object.prototype.get must not install a trap.
  const dateTraps = create(null);
  dateTraps.apply = function (target, self, args) { impure = true; return rApply(target, self, args); };
  dateTraps.construct = function (target, args, newTarget) {
    if (args.length === 0) impure = true;
    return rConstruct(target, args, newTarget === DateView ? target : newTarget);
  };
  const DateView = new ProxyCtor(RealDate, dateTraps);
  defineProperty(RealDate.prototype, 'constructor', { value: DateView, writable: true, configurable: true, enumerable: false });
  defineProperty(g, 'Date', { value: DateView, writable: true, configurable: true, enumerable: false });

  // Per traced call: the paths read so far, the trace text, and one view per object (identity holds).
  let gen = 0;
  let seen = null;
  let views = null;
  let reads = 0;
  let trace = '';

  function valueKey(v) {
    switch (typeof v) {
      case 'string': return 's' + v;
      case 'number': return is(v, -0) ? 'n-0' : 'n' + v;
      case 'boolean': return v ? 'bt' : 'bf';
      case 'undefined': return 'u';
      case 'object': return v === null ? 'z' : isArray(v) ? 'a' : 'o';
      default: return null;
    }
  }
  // A repeated read is not recorded again: with no writes allowed it finds the same value.
  function record(path, v) {
    if (seen[path] === 1) return;
    seen[path] = 1;
    const key = valueKey(v);
    if (key === null || ++reads > MAX_READS) { impure = true; return; }
    const entry = '[[' + path + '],' + stringify(key) + ']';
    trace = trace === '' ? entry : trace + ',' + entry;
    if (trace.length > MAX_TRACE) impure = true;
  }
  // path: the JSON of each key from the root, comma-separated ('' for the root).
  function view(target, path) {
    const known = views[path];
    if (known !== undefined) return known;
    const mine = gen;
    const traps = create(null);
    traps.get = function (t, key) {
      if (typeof key !== 'string' || mine !== gen) { impure = true; return t[key]; }
      let v;
      if (hasOwn(t, key)) v = t[key];
      else if (key in t) { impure = true; return t[key]; }
      const at = path === '' ? stringify(key) : path + ',' + stringify(key);
      if (!impure) record(at, v);
      return v !== null && typeof v === 'object' && views !== null ? view(v, at) : v;
    };
    traps.has = function (t, key) { impure = true; return rHas(t, key); };
    traps.ownKeys = function (t) { impure = true; return rOwnKeys(t); };
    traps.getOwnPropertyDescriptor = function (t, key) { impure = true; return rGetOwn(t, key); };
    traps.defineProperty = function (t, key, d) { impure = true; return rDefine(t, key, d); };
    traps.deleteProperty = function (t, key) { impure = true; return rDelete(t, key); };
    traps.set = function (t, key, v) { impure = true; return rSet(t, key, v); };
    traps.getPrototypeOf = function (t) { impure = true; return rGetProto(t); };
    traps.setPrototypeOf = function (t, p) { impure = true; return rSetProto(t, p); };
    traps.isExtensible = function (t) { impure = true; return rIsExt(t); };
    traps.preventExtensions = function (t) { impure = true; return rPrevent(t); };
    const p = new ProxyCtor(target, traps);
    views[path] = p;
    return p;
  }

  function takeConsole() {
    if (lines.length === 0 && dropped === 0) return '';
    const out = stringify([dropped, lines]);
    lines = [];
    dropped = 0;
    return out;
  }
  function withConsole(body) {
    const c = takeConsole();
    return c === '' ? '-' + body : '+' + c.length + ':' + c + body;
  }

  // Memoized "auto" selectors (state-analysis.ts): once the top level has run, everything its
  // bindings hold is made read-only, so a call cannot keep state in it even through an alias.
  // Built-ins are left alone: the analysis refuses direct writes to them.
  const builtins = new WeakSet();
  const wsAdd = uncurry(WeakSet.prototype.add);
  const wsHas = uncurry(WeakSet.prototype.has);
  const tagOf = uncurry(Object.prototype.toString);
  const fnText = uncurry(Function.prototype.toString);
  const mapForEach = uncurry(Map.prototype.forEach);
  const setForEach = uncurry(Set.prototype.forEach);
  const includes = uncurry(String.prototype.includes);
  const startsWith = uncurry(String.prototype.startsWith);
  const TypeErr = TypeError;
  (function () {
    const add = (v) => { if ((typeof v === 'object' || typeof v === 'function') && v !== null) wsAdd(builtins, v); };
    add(g);
    const names = rOwnKeys(g);
    for (let i = 0; i < names.length; i++) {
      const d = rGetOwn(g, names[i]);
      if (d === undefined || !('value' in d)) continue;
      add(d.value);
      if (typeof d.value === 'function') { const p = rGetOwn(d.value, 'prototype'); if (p !== undefined) add(p.value); }
    }
    add(RealDate); add(RealDate.prototype); add(DateView);
  })();
  const DATE_SETTERS = [];
  (function () {
    const names = rOwnKeys(RealDate.prototype);
    for (let i = 0; i < names.length; i++) if (typeof names[i] === 'string' && startsWith(names[i], 'set')) DATE_SETTERS[DATE_SETTERS.length] = names[i];
  })();
  const SHADOWED = create(null);
  SHADOWED.Map = ['set', 'delete', 'clear'];
  SHADOWED.Set = ['add', 'delete', 'clear'];
  SHADOWED.Date = DATE_SETTERS;
  const REFUSED = ['WeakMap', 'WeakSet', 'WeakRef', 'FinalizationRegistry', 'ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Promise'];
  function readOnly() { throw new TypeErr('this value is kept at the top level, which is read-only while the selector is memoized'); }
  function guard(namesJson) {
    const names = parse(namesJson);
    if (names.length === 0) return '';
    // The names are identifiers the analysis read from the script's own top level.
    const todo = indirectEval('[' + names.join(',') + ']');
    const found = [];
    const visited = new WeakSet();
    while (todo.length > 0) {
      const v = todo.pop();
      if ((typeof v !== 'object' && typeof v !== 'function') || v === null) continue;
      if (wsHas(builtins, v) || wsHas(visited, v)) continue;
      wsAdd(visited, v);
      if (typeof v === 'function' && includes(fnText(v), '[native code]')) continue;
      const tag = strSlice(tagOf(v), 8, -1);
      if (REFUSED.indexOf(tag) >= 0 || ArrayBuffer.isView(v)) return 'keeps a ' + tag + ' at the top level, which cannot be made read-only';
      if (tag === 'RegExp' && (v.global || v.sticky)) return 'keeps a regular expression with the g or y flag at the top level';
      if (tag === 'Map') mapForEach(v, (value, key) => { todo[todo.length] = value; todo[todo.length] = key; });
      if (tag === 'Set') setForEach(v, (value) => { todo[todo.length] = value; });
      found[found.length] = [v, tag];
      const keys = rOwnKeys(v);
      for (let i = 0; i < keys.length; i++) {
        const d = rGetOwn(v, keys[i]);
        if (d !== undefined && 'value' in d) todo[todo.length] = d.value;
      }
    }
    for (let i = 0; i < found.length; i++) {
      const v = found[i][0];
      const shadow = SHADOWED[found[i][1]];
      if (shadow !== undefined && typeof v === 'object') {
        for (let j = 0; j < shadow.length; j++) rDefine(v, shadow[j], { value: readOnly, writable: false, configurable: false, enumerable: false });
      }
      freeze(v);
    }
    return '';
  }

  let select = null;
  function bind() {
    const f = indirectEval('typeof select === "function" ? select : undefined');
    if (typeof f !== 'function') return false;
    select = f;
    return true;
  }

  let datasets = create(null);
  function load(id, catalogJson, envJson) {
    const raw = parse(catalogJson);
    const nodes = [];
    for (let i = 0; i < raw.length; i++) {
      const n = raw[i];
      nodes[i] = freeze({ id: n.id, name: n.name, url: n.url, weight: n.weight, tags: freeze(n.tags) });
    }
    datasets[id] = { nodes: nodes, env: freeze(parse(envJson)), cache: create(null), cached: 0 };
  }
  function drop(id) {
    delete datasets[id];
  }

  function entryFor(d, cands) {
    const hit = d.cache[cands];
    if (hit !== undefined) return hit;
    const list = cands === '' ? [] : split(cands, ',');
    const nodes = [];
    const pos = create(null);
    for (let i = 0; i < list.length; i++) {
      const n = d.nodes[+list[i]];
      if (n === undefined) return null;
      nodes[i] = n;
      if (pos[n.id] === undefined) pos[n.id] = i;
    }
    const entry = { nodes: freeze(nodes), pos: pos, mark: [], gen: 0 };
    if (d.cached >= MAX_CACHED) { d.cache = create(null); d.cached = 0; }
    d.cache[cands] = entry;
    d.cached++;
    return entry;
  }

  function describe(v) {
    return v === null ? 'null' : isArray(v) ? 'an array' : typeof v;
  }
  function quote(id) {
    return stringify(id.length > 100 ? strSlice(id, 0, 100) + '\\u2026' : id);
  }
  function convert(out, entry) {
    if (!isArray(out)) {
      return '!bad-result\\t\\t\\tselect must return an array of nodes or node ids, got ' + describe(out);
    }
    if (entry.gen > 1e9) { entry.mark = []; entry.gen = 0; }
    const gen = ++entry.gen;
    const n = out.length;
    let s = '';
    let first = true;
    for (let i = 0; i < n; i++) {
      const v = out[i];
      let id;
      if (typeof v === 'string') id = v;
      else if (v !== null && typeof v === 'object') id = v.id;
      if (typeof id !== 'string') {
        return '!bad-result\\t\\t\\telement ' + i + ' of the result is not a node or a node id (' + describe(v) + ')';
      }
      const p = entry.pos[id];
      if (p === undefined) return '!bad-result\\t\\t\\t' + quote(id) + ' is not one of the nodes given';
      if (entry.mark[p] !== gen) {
        entry.mark[p] = gen;
        s = first ? '' + p : s + ',' + p;
        first = false;
      }
    }
    return '=' + s;
  }

  function thrown(err) {
    let kind = 'throw';
    let message;
    let line = '';
    let column = '';
    try {
      if (err !== null && typeof err === 'object') {
        const name = err.name;
        const msg = err.message;
        const stack = err.stack;
        message = (typeof name === 'string' && name !== '' ? name + ': ' : '') + (typeof msg === 'string' ? msg : show(err));
        if (typeof stack === 'string') {
          const m = exec(LOCATION, stack);
          if (m !== null) { line = m[1]; column = m[2]; }
        }
        if (err instanceof RangeErr && msg === 'Array buffer allocation failed') kind = 'memory';
      } else message = 'threw ' + show(err);
    } catch (e) {
      message = 'threw a value that cannot be printed';
    }
    if (message.length > 500) message = strSlice(message, 0, 500) + '\\u2026';
    return '!' + kind + '\\t' + line + '\\t' + column + '\\t' + message;
  }

  function call(id, cands, requestJson, traced) {
    lines = [];
    dropped = 0;
    // Views handed out by earlier calls go stale: reading one now means the script kept state.
    gen++;
    const d = datasets[id];
    if (d === undefined) return '-!unavailable\\t\\t\\tthe catalog is not loaded in this sandbox';
    const entry = entryFor(d, cands);
    if (entry === null) return '-!unavailable\\t\\t\\tinvalid candidate list';
    let request = parse(requestJson);
    if (traced === true) {
      impure = false;
      seen = create(null);
      views = create(null);
      reads = 0;
      trace = '';
      request = view(request, '');
    }
    let body;
    try {
      body = convert(select(request, d.env, slice(entry.nodes)), entry);
    } catch (err) {
      body = thrown(err);
    }
    if (traced === true) {
      gen++;
      if (!impure && lines.length === 0 && dropped === 0 && body[0] === '=') body = body + '\\t[' + trace + ']';
      seen = null;
      views = null;
      trace = '';
    }
    return withConsole(body);
  }

  return freeze({ bind: bind, guard: guard, load: load, drop: drop, call: call, takeConsole: takeConsole });
})()`;
