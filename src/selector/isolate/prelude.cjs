// @ts-check
/**
 * The selector realm's own code (a plain script, loaded as text by realm.ts): evaluated in every
 * selector isolate after SES and before the user's script. Its completion value is `setup`, which
 * the host calls once with the limits and the batch progress cell; `setup` returns the frozen functions
 * the host calls through references: bind, settle, load, drop, batch, takeBatch, check, takeConsole
 * (a lone call is a batch of one).
 *
 * What it builds, in this order, and why (docs/selector-sandbox.md has the whole design):
 *
 * 1. It captures every built-in it uses, so nothing the script does later can change what the
 *    sandbox's own code calls.
 * 2. It wraps the sources of non-determinism (Math.random, Date.now, `new Date()`, `Date()`, Intl's
 *    date formatting without a date) so that a run touching them is marked impure (never cached),
 *    and the built-ins that change hidden internal state (Map/Set/WeakSet mutators, Date setters,
 *    iterator and generator steps) so that doing so to a value the top level kept is noticed.
 * 3. It locks the realm down with SES (`lockdown()`): every intrinsic is frozen, `eval` and the
 *    Function constructors throw, RegExp's legacy statics are gone. Then it removes what reaches
 *    outside one thread or depends on the garbage collector (SharedArrayBuffer, Atomics, WebAssembly,
 *    WeakRef, FinalizationRegistry), installs a frozen buffering `console`, and makes every global
 *    that exists before the script read-only.
 * The realm is the same for every selector, memoized or not, so memoization can never change what a
 * run does; only what the sandbox records about it.
 *
 * For a memoized selector `settle` then records everything the script's top level left reachable
 * (its globals, its top-level bindings and all they reach) and refuses what it cannot check (see
 * `settle`); `check`, called after every run, compares that state with the record. A run that
 * changed it makes the selector stateful, and memoization ends for that version.
 */
(function () {
  'use strict';
  /** @param {string} configJson @param {SharedArrayBuffer} progressBuffer */
  return function setup(configJson, progressBuffer) {
    /** @type {any} */
    const g = globalThis;
    const FunctionProto = Function.prototype;
    /** @type {(f: any) => (self: any, ...args: any[]) => any} */
    const uncurry = (f) => FunctionProto.call.bind(f);
    const parse = JSON.parse;
    const stringify = JSON.stringify;
    const freeze = Object.freeze;
    const create = Object.create;
    const isFrozen = Object.isFrozen;
    const defineProperty = Object.defineProperty;
    const isArray = Array.isArray;
    const toStr = String;
    const realEval = g.eval;
    const slice = uncurry(Array.prototype.slice);
    const split = uncurry(String.prototype.split);
    const strSlice = uncurry(String.prototype.slice);
    const indexOf = uncurry(String.prototype.indexOf);
    const includes = uncurry(String.prototype.includes);
    const startsWith = uncurry(String.prototype.startsWith);
    const exec = uncurry(RegExp.prototype.exec);
    const fnText = uncurry(FunctionProto.toString);
    const RangeErr = RangeError;
    const RegExpCtor = RegExp;
    const is = Object.is;
    const hasOwn = uncurry(Object.prototype.hasOwnProperty);
    const R = Reflect;
    const rApply = R.apply;
    const rConstruct = R.construct;
    const rHas = R.has;
    const rOwnKeys = /** @type {(o: object) => any[]} */ (R.ownKeys);
    const rGetOwn = R.getOwnPropertyDescriptor;
    const rDefine = R.defineProperty;
    const rDelete = R.deleteProperty;
    const rSet = R.set;
    const rGetProto = R.getPrototypeOf;
    const rSetProto = R.setPrototypeOf;
    const rIsExt = R.isExtensible;
    const rPrevent = R.preventExtensions;
    const WeakSetCtor = WeakSet;
    const wsAdd = uncurry(WeakSet.prototype.add);
    const wsHas = uncurry(WeakSet.prototype.has);
    const mapForEach = uncurry(Map.prototype.forEach);
    const setForEach = uncurry(Set.prototype.forEach);
    /** @type {(self: any) => unknown} */
    const mapSize = uncurry(/** @type {PropertyDescriptor} */ (rGetOwn(Map.prototype, 'size')).get);
    /** @type {(self: any) => unknown} */
    const setSize = uncurry(/** @type {PropertyDescriptor} */ (rGetOwn(Set.prototype, 'size')).get);
    const weakMapHas = uncurry(WeakMap.prototype.has);
    /** @type {(self: any) => unknown} */
    const bufferLength = uncurry(/** @type {PropertyDescriptor} */ (rGetOwn(ArrayBuffer.prototype, 'byteLength')).get);
    const isView = ArrayBuffer.isView;
    const ErrorCtor = Error;
    const lockdown = g.lockdown;
    // The real clock, for the batch's start window only (the script's Date.now is wrapped below).
    const realNow = Date.now;
    /** Shared with the host: the index of the batch call running, and 1 once the batch's calls are done. */
    const progress = new Int32Array(progressBuffer);

    /** @type {{ scriptName: string, maxLines: number, maxLineChars: number, maxCachedCandidateSets: number, maxTraceReads: number, maxTraceChars: number, maxKeptObjects: number, maxKeptSlots: number, maxCheckedObjects: number }} */
    const limits = parse(configJson);
    const LOCATION = new RegExpCtor(limits.scriptName.replace('.', '\\.') + ':(\\d+):(\\d+)');

    // ---- 2. recorded non-determinism and watched internal state (before lockdown freezes them) ----

    /** A run read the clock or randomness (reset by each traced call and by settle). */
    let impure = false;
    /** What first changed the hidden state of a kept value, since the last check ('' for nothing). */
    let mutated = '';
    /** Values the top level left reachable (filled by settle); empty unless memoized. */
    const kept = new WeakSetCtor();
    /** Proxies made by the script: their handler is hidden, so a kept one cannot be checked. */
    const proxies = new WeakSetCtor();

    /**
     * Replaces `holder[name]` with a wrapper that calls `before(this, args)` first; the wrapper keeps
     * the name and length and cannot be constructed (as built-in methods cannot).
     * @param {any} holder @param {string} name @param {(self: any, args: IArguments) => void} before
     */
    function wrapMethod(holder, name, before) {
      const original = holder[name];
      if (typeof original !== 'function') return;
      const wrapped = {
        /** @this {any} */
        [name]() {
          before(this, arguments);
          return rApply(original, this, arguments);
        },
      }[name];
      defineProperty(wrapped, 'length', { value: original.length, configurable: true });
      defineProperty(holder, name, { value: wrapped, writable: true, configurable: true, enumerable: false });
    }
    /** @param {string} what */
    const watch = (what) => (/** @type {any} */ self) => {
      if (mutated === '' && wsHas(kept, self)) mutated = what;
    };
    const clock = () => {
      impure = true;
    };

    wrapMethod(Math, 'random', clock);
    wrapMethod(Date, 'now', clock);
    for (const name of ['set', 'delete', 'clear']) wrapMethod(Map.prototype, name, watch('Map.prototype.' + name));
    for (const name of ['add', 'delete', 'clear']) wrapMethod(Set.prototype, name, watch('Set.prototype.' + name));
    for (const name of ['add', 'delete']) wrapMethod(WeakSet.prototype, name, watch('WeakSet.prototype.' + name));
    for (const name of rOwnKeys(Date.prototype)) {
      if (typeof name === 'string' && startsWith(name, 'set'))
        wrapMethod(Date.prototype, name, watch('Date.prototype.' + name));
    }
    // Iterators and generators keep their position in internal slots that freezing does not cover.
    const iteratorProtos = [
      rGetProto([][Symbol.iterator]()),
      rGetProto(new Map().entries()),
      rGetProto(new Set().values()),
      rGetProto(''[Symbol.iterator]()),
      rGetProto(/a/[Symbol.matchAll]('')),
      /** @type {any} */ (rGetProto(function* () {})).prototype,
      /** @type {any} */ (rGetProto(async function* () {})).prototype,
    ];
    if (typeof g.Iterator === 'function' && typeof g.Iterator.prototype.map === 'function') {
      iteratorProtos.push(
        rGetProto(g.Iterator.prototype.map.call([][Symbol.iterator](), (/** @type {unknown} */ x) => x)),
      );
    }
    for (const proto of iteratorProtos) {
      for (const name of ['next', 'return', 'throw'])
        if (hasOwn(proto, name)) wrapMethod(proto, name, watch('an iterator or generator step'));
    }
    // Formatting a date without giving one reads the clock.
    const dtf = Intl.DateTimeFormat.prototype;
    /** @type {(self: any) => (date?: unknown) => string} */
    const realFormat = uncurry(/** @type {PropertyDescriptor} */ (rGetOwn(dtf, 'format')).get);
    defineProperty(dtf, 'format', {
      get: {
        /** @this {any} */
        format() {
          const f = realFormat(this);
          return (/** @type {unknown} */ date) => {
            if (date === undefined) impure = true;
            return f(date);
          };
        },
      }.format,
      configurable: true,
      enumerable: false,
    });
    wrapMethod(dtf, 'formatToParts', (_self, args) => {
      if (args[0] === undefined) impure = true;
    });
    // Proxy handlers are internal slots: remember every proxy made, to refuse keeping one.
    const RealProxy = Proxy;
    const realRevocable = Proxy.revocable;
    /** @type {any} */
    const ProxyWrapper = new RealProxy(RealProxy, {
      construct(target, args, newTarget) {
        /** @type {object} */
        const p = rConstruct(target, args, newTarget === ProxyWrapper ? target : newTarget);
        wsAdd(proxies, p);
        return p;
      },
    });
    defineProperty(ProxyWrapper, 'revocable', {
      value: {
        revocable(/** @type {object} */ target, /** @type {ProxyHandler<object>} */ handler) {
          const r = realRevocable(target, handler);
          wsAdd(proxies, r.proxy);
          return r;
        },
      }.revocable,
      writable: true,
      configurable: true,
    });
    g.Proxy = ProxyWrapper;

    // ---- 3. lockdown, then what SES leaves and the script must not have ----

    lockdown({
      errorTaming: 'unsafe-debug',
      stackFiltering: 'verbose',
      consoleTaming: 'unsafe',
      overrideTaming: 'moderate',
      evalTaming: 'noEval',
      localeTaming: 'unsafe',
      reporting: 'none',
    });

    // `new Date()` and `Date()` read the clock; with arguments a Date is a plain value. The
    // prototype's constructor is SES's powerless Date, which throws instead of reading it.
    const InitialDate = g.Date;
    const dateTraps = create(null);
    dateTraps.apply = function (/** @type {any} */ target, /** @type {any} */ self, /** @type {any[]} */ args) {
      impure = true;
      return rApply(target, self, args);
    };
    dateTraps.construct = function (
      /** @type {any} */ target,
      /** @type {any[]} */ args,
      /** @type {any} */ newTarget,
    ) {
      if (args.length === 0) impure = true;
      return rConstruct(target, args, newTarget === DateView ? target : newTarget);
    };
    const DateView = new RealProxy(InitialDate, dateTraps);
    g.Date = DateView;

    for (const name of [
      'SharedArrayBuffer',
      'Atomics',
      'WebAssembly',
      'WeakRef',
      'FinalizationRegistry',
      'lockdown',
      'harden',
      'assert',
      'repairIntrinsics',
      'hardenIntrinsics',
      'Compartment',
      'ModuleSource',
      'StaticModuleRecord',
    ]) {
      delete g[name];
    }

    let lines = /** @type {string[]} */ ([]);
    let dropped = 0;
    /** @param {unknown} v */
    function show(v) {
      if (typeof v === 'string') return v;
      try {
        const s = stringify(v);
        if (typeof s === 'string') return s;
      } catch {}
      try {
        return toStr(v);
      } catch {
        return '[unprintable]';
      }
    }
    function log() {
      if (lines.length >= limits.maxLines) {
        dropped++;
        return;
      }
      let s = '';
      for (let i = 0; i < arguments.length; i++) {
        s += (i === 0 ? '' : ' ') + show(arguments[i]);
        if (s.length > limits.maxLineChars) break;
      }
      if (s.length > limits.maxLineChars) s = strSlice(s, 0, limits.maxLineChars) + '\u2026';
      lines[lines.length] = s;
    }
    defineProperty(g, 'console', {
      value: freeze({ log, info: log, warn: log, error: log, debug: log }),
      writable: false,
      configurable: false,
      enumerable: false,
    });

    // Every global present now is read-only: the script may add its own, never replace these.
    const baseGlobals = rOwnKeys(g);
    for (let i = 0; i < baseGlobals.length; i++) {
      const d = rGetOwn(g, baseGlobals[i]);
      if (d !== undefined && d.configurable) {
        if ('value' in d) d.writable = false;
        d.configurable = false;
        rDefine(g, baseGlobals[i], d);
      }
    }

    // Everything the realm holds before the script runs; what the script's top level leaves is the rest.
    const intrinsics = new WeakSetCtor();
    (function () {
      /** @type {unknown[]} */
      const todo = [g, DateView, InitialDate, ProxyWrapper];
      for (let i = 0; i < iteratorProtos.length; i++) todo[todo.length] = iteratorProtos[i];
      todo[todo.length] = rGetProto(function* () {});
      todo[todo.length] = rGetProto(async function () {});
      todo[todo.length] = rGetProto(async function* () {});
      todo[todo.length] = rGetProto(Int8Array);
      while (todo.length > 0) {
        const v = todo.pop();
        if ((typeof v !== 'object' && typeof v !== 'function') || v === null || wsHas(intrinsics, v)) continue;
        wsAdd(intrinsics, v);
        // `check` never compares built-ins, so each must be frozen, whatever SES left (Intl, the
        // console's functions, the global object's prototype): the script could keep state in it.
        if (v !== g && !isFrozen(v)) {
          freeze(v);
          if (!isFrozen(v)) throw new TypeError('a built-in the script could change is not frozen');
        }
        todo[todo.length] = rGetProto(v);
        const keys = rOwnKeys(v);
        for (let k = 0; k < keys.length; k++) {
          const d = rGetOwn(v, keys[k]);
          if (d === undefined) continue;
          if ('value' in d) todo[todo.length] = d.value;
          else {
            todo[todo.length] = d.get;
            todo[todo.length] = d.set;
          }
        }
      }
    })();
    // Own keys list strings before symbols, so the script's globals are found by name, not position.
    const baseGlobalNames = create(null);
    for (let i = 0; i < baseGlobals.length; i++) baseGlobalNames[toStr(baseGlobals[i])] = baseGlobals[i];
    /** @param {PropertyKey} key */
    const isBaseGlobal = (key) => baseGlobalNames[toStr(key)] === key;

    // ---- binding the script ----

    /** @type {Function | null} */
    let select = null;
    function bind() {
      const f = realEval('typeof select === "function" ? select : undefined');
      if (typeof f !== 'function') return false;
      select = f;
      return true;
    }

    // ---- memoized selectors: the record of what the top level left, and the check after each run ----

    /**
     * One kept object as settle found it: its prototype, whether it could grow, and each own
     * property's descriptor fields, flattened [key, value|get, set|undefined, flags] for comparing.
     * @typedef {{ v: object, path: string, proto: object | null, ext: boolean, slots: unknown[] }} KeptRecord
     */
    /** @type {KeptRecord[]} */
    let records = [];
    /** Every global's key after the top level ran, in order. */
    /** @type {any[]} */
    let globalKeys = [];
    /** The global object's prototype and extensibility after the top level ran. */
    /** @type {object | null} */
    let globalProto = null;
    let globalExt = true;
    /** The globals the script added, and their descriptors as settle found them. */
    /** @type {any[]} */
    let scriptGlobals = [];
    /** @type {any[]} */
    let scriptGlobalSlots = [];
    /** Reads the top-level `let`/`const`/`class` bindings, in the order of `lexicalNames`. */
    /** @type {null | (() => unknown[])} */
    let readBindings = null;
    /** @type {string[]} */
    let lexicalNames = [];
    /** @type {unknown[]} */
    let bindingValues = [];
    /** @type {unknown[]} */
    let errorState = [];
    /** Memoized and not yet found stateful: check after every run. */
    let checking = false;
    /** Whether the top level itself read the clock or randomness (then every load could differ). */
    let topLevelImpure = false;

    /** @param {object} v */
    function snapshot(v) {
      const keys = rOwnKeys(v);
      /** @type {unknown[]} */
      const slots = [];
      for (let i = 0; i < keys.length; i++) {
        const d = /** @type {PropertyDescriptor} */ (rGetOwn(v, keys[i]));
        const flags = (d.enumerable ? 1 : 0) | (d.configurable ? 2 : 0) | (d.writable ? 4 : 0);
        if ('value' in d) slots.push(keys[i], d.value, undefined, flags);
        else slots.push(keys[i], d.get, d.set, flags | 8);
      }
      return slots;
    }

    /** @param {unknown[]} a @param {unknown[]} b */
    function sameSlots(a, b) {
      if (a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (!is(a[i], b[i])) return false;
      return true;
    }

    /** @param {string} path @param {PropertyKey} key */
    function child(path, key) {
      if (typeof key !== 'string') return path + '[' + toStr(key) + ']';
      return exec(/^[A-Za-z_$][\w$]*$/, key) !== null ? path + '.' + key : path + '[' + stringify(key) + ']';
    }

    /**
     * @param {string} code @param {Array<[number, number, number, boolean]>} functions @param {Function} f
     * @returns {string} why `f` cannot be kept ('' when it is a function the top level itself made)
     */
    function placeFunction(code, functions, f) {
      const text = fnText(f);
      if (includes(text, '[native code]')) return 'a built-in or bound function made by the script';
      let found = false;
      for (let at = indexOf(code, text); at >= 0; at = indexOf(code, text, at + 1)) {
        const end = at + text.length;
        for (let i = 0; i < functions.length; i++) {
          const fn = /** @type {[number, number, number, boolean]} */ (functions[i]);
          if (fn[1] !== end || fn[0] > at) continue;
          if (!fn[3]) return 'a function made by running code (line ' + fn[2] + '), whose variables cannot be checked';
          found = true;
        }
      }
      return found ? '' : 'a function the sandbox cannot place in the script';
    }

    /**
     * Records what the top level left (memoized selectors only). `factsJson` is source-facts.ts's
     * SourceFacts plus the code; `strict` refuses what cannot be checked (closures made by the top
     * level, proxies, typed arrays and buffers, WeakMaps, private names), while `memoize: true`
     * records and checks what it can. Returns why the selector cannot be memoized, or ''.
     * @param {string} factsJson
     */
    function settle(factsJson) {
      /** @type {{ code: string, strict: boolean, lexicalNames: string[], functions: Array<[number, number, number, boolean]>, privateNames: boolean }} */
      const facts = parse(factsJson);
      checking = false;
      if (topLevelImpure) return 'the top level reads the clock or randomness, so every load could answer differently';
      if (facts.strict && facts.privateNames)
        return 'uses private names (#x), which can be attached to any value, frozen ones too';
      lexicalNames = facts.lexicalNames;
      readBindings = null;
      if (lexicalNames.length > 0) {
        try {
          readBindings = realEval('(function () { return [' + lexicalNames.join(',') + ']; })');
          bindingValues = /** @type {() => unknown[]} */ (readBindings)();
        } catch {
          return 'its top-level bindings cannot be read';
        }
      }
      /** @type {Array<[unknown, string]>} */
      const todo = [];
      for (let i = 0; i < lexicalNames.length; i++)
        todo[todo.length] = [bindingValues[i], /** @type {string} */ (lexicalNames[i])];
      globalKeys = rOwnKeys(g);
      globalProto = rGetProto(g);
      globalExt = rIsExt(g);
      scriptGlobals = [];
      scriptGlobalSlots = [];
      for (let i = 0; i < globalKeys.length; i++) {
        if (isBaseGlobal(globalKeys[i])) continue;
        scriptGlobals[scriptGlobals.length] = globalKeys[i];
        scriptGlobalSlots[scriptGlobalSlots.length] = snapshotOne(g, globalKeys[i]);
      }
      for (let i = 0; i < scriptGlobals.length; i++) {
        const k = scriptGlobals[i];
        const d = /** @type {PropertyDescriptor} */ (rGetOwn(g, k));
        const path = typeof k === 'string' ? k : toStr(k);
        if ('value' in d) todo[todo.length] = [d.value, path];
        else {
          todo[todo.length] = [d.get, path + ' (getter)'];
          todo[todo.length] = [d.set, path + ' (setter)'];
        }
      }
      errorState = [ErrorCtor.stackTraceLimit, /** @type {any} */ (ErrorCtor).prepareStackTrace];
      /** @type {KeptRecord[]} */
      const found = [];
      const visited = new WeakSetCtor();
      let slotCount = 0;
      while (todo.length > 0) {
        const [v, path] = /** @type {[any, string]} */ (todo.pop());
        if ((typeof v !== 'object' && typeof v !== 'function') || v === null) continue;
        if (wsHas(intrinsics, v) || wsHas(visited, v)) continue;
        wsAdd(visited, v);
        if (found.length >= limits.maxKeptObjects || slotCount > limits.maxKeptSlots) {
          return (
            'keeps more values at the top level than the sandbox walks when it loads (' +
            limits.maxKeptObjects +
            ' objects)'
          );
        }
        if (wsHas(proxies, v)) {
          if (facts.strict) return 'keeps a Proxy (`' + path + '`), whose handler cannot be checked';
          continue; // its traps would run the script's code; memoize: true takes the operator's word
        }
        let refusal = '';
        if (isView(v)) refusal = 'a typed array or DataView';
        else if (isBuffer(v)) refusal = 'an ArrayBuffer';
        else if (isWeakMap(v)) refusal = 'a WeakMap, whose values cannot be checked';
        else if (typeof v === 'function') refusal = placeFunction(facts.code, facts.functions, v);
        if (refusal !== '' && facts.strict) return 'keeps ' + refusal + ' (`' + path + '`)';
        wsAdd(kept, v);
        const slots = snapshot(v);
        slotCount += slots.length;
        found[found.length] = { v, path, proto: rGetProto(v), ext: rIsExt(v), slots };
        todo[todo.length] = [rGetProto(v), path + '.__proto__'];
        for (let i = 0; i < slots.length; i += 4) {
          todo[todo.length] = [slots[i + 1], child(path, /** @type {PropertyKey} */ (slots[i]))];
          todo[todo.length] = [slots[i + 2], child(path, /** @type {PropertyKey} */ (slots[i])) + ' (setter)'];
        }
        if (isMap(v))
          mapForEach(v, (/** @type {unknown} */ value, /** @type {unknown} */ key) => {
            todo[todo.length] = [value, path + ' (a value)'];
            todo[todo.length] = [key, path + ' (a key)'];
          });
        if (isSet(v))
          setForEach(v, (/** @type {unknown} */ value) => {
            todo[todo.length] = [value, path + ' (a member)'];
          });
      }
      // A frozen object cannot change (its hidden slots are watched by the wrappers above).
      records = [];
      for (let i = 0; i < found.length; i++) {
        const r = /** @type {KeptRecord} */ (found[i]);
        if (!isFrozen(r.v)) records[records.length] = r;
      }
      if (records.length > limits.maxCheckedObjects) {
        return (
          'keeps ' +
          records.length +
          ' values a call could change (at most ' +
          limits.maxCheckedObjects +
          ' are compared after each run; Object.freeze the tables it only reads)'
        );
      }
      mutated = '';
      checking = true;
      return '';
    }

    /**
     * Whether `v` has the internal slots `check` needs (a built-in getter or method that throws on
     * anything else, and reads nothing the script can change).
     * @param {(v: any) => unknown} check @param {unknown} v
     */
    function branded(check, v) {
      try {
        check(v);
        return true;
      } catch {
        return false;
      }
    }
    const isBuffer = (/** @type {unknown} */ v) => branded(bufferLength, v);
    const isWeakMap = (/** @type {unknown} */ v) => branded((x) => weakMapHas(x, g), v);
    const isMap = (/** @type {unknown} */ v) => branded(mapSize, v);
    const isSet = (/** @type {unknown} */ v) => branded(setSize, v);

    /**
     * After a run of a memoized selector (a separate call, so the run's promise jobs have run):
     * '' while everything the top level left is as settle recorded it, else what changed. The first
     * change ends checking: the selector keeps state, and the host stops memoizing it.
     */
    function check() {
      if (!checking) return '';
      const why = changed();
      if (why !== '') checking = false;
      return why;
    }

    function changed() {
      if (mutated !== '') return 'a call changed the hidden state of a kept value (' + mutated + ')';
      if (rGetProto(g) !== globalProto || rIsExt(g) !== globalExt)
        return "a call changed the global object's prototype or made it non-extensible";
      const keys = rOwnKeys(g);
      const before = globalKeys;
      let same = keys.length === before.length;
      for (let i = 0; same && i < keys.length; i++) same = keys[i] === before[i];
      if (!same) {
        for (let i = 0; i < keys.length; i++)
          if (!includesKey(before, keys[i])) return 'a call added the global `' + toStr(keys[i]) + '`';
        return 'a call deleted a global';
      }
      for (let i = 0; i < scriptGlobals.length; i++) {
        const k = scriptGlobals[i];
        if (!sameSlots(snapshotOne(g, k), scriptGlobalSlots[i])) return 'a call changed the global `' + toStr(k) + '`';
      }
      if (readBindings !== null) {
        const values = readBindings();
        for (let i = 0; i < values.length; i++) {
          if (!is(values[i], bindingValues[i]))
            return 'a call assigned to the top-level binding `' + lexicalNames[i] + '`';
        }
      }
      if (
        !is(ErrorCtor.stackTraceLimit, errorState[0]) ||
        !is(/** @type {any} */ (ErrorCtor).prepareStackTrace, errorState[1])
      ) {
        return 'a call changed Error.stackTraceLimit or Error.prepareStackTrace';
      }
      for (let i = 0; i < records.length; i++) {
        const r = /** @type {KeptRecord} */ (records[i]);
        if (rGetProto(r.v) !== r.proto || rIsExt(r.v) !== r.ext || !unchanged(r.v, r.slots)) {
          return 'a call changed `' + r.path + '`, which the top level kept';
        }
      }
      return '';
    }

    /**
     * Whether `v`'s own properties are still those `snapshot` recorded in `slots` (compared in place:
     * this runs after every run of a memoized selector, for every kept object not frozen).
     * @param {object} v @param {unknown[]} slots
     */
    function unchanged(v, slots) {
      const keys = rOwnKeys(v);
      if (keys.length * 4 !== slots.length) return false;
      for (let i = 0, j = 0; i < keys.length; i++, j += 4) {
        const key = keys[i];
        if (key !== slots[j]) return false;
        // A data property neither writable nor configurable can never change (and reading the
        // descriptor of V8's `arguments` and `caller` on a sloppy function walks the stack).
        if (slots[j + 3] === 0 || slots[j + 3] === 1) continue;
        const d = /** @type {PropertyDescriptor} */ (rGetOwn(v, key));
        const flags = (d.enumerable ? 1 : 0) | (d.configurable ? 2 : 0) | (d.writable ? 4 : 0);
        if ('value' in d) {
          if (flags !== slots[j + 3] || !is(d.value, slots[j + 1])) return false;
        } else if ((flags | 8) !== slots[j + 3] || d.get !== slots[j + 1] || d.set !== slots[j + 2]) return false;
      }
      return true;
    }

    /** @param {any[]} list @param {PropertyKey} key */
    function includesKey(list, key) {
      for (let i = 0; i < list.length; i++) if (list[i] === key) return true;
      return false;
    }

    /** @param {any} holder @param {PropertyKey} key */
    function snapshotOne(holder, key) {
      const d = rGetOwn(holder, key);
      if (d === undefined) return [];
      const flags = (d.enumerable ? 1 : 0) | (d.configurable ? 2 : 0) | (d.writable ? 4 : 0);
      return 'value' in d ? [d.value, undefined, flags] : [d.get, d.set, flags | 8];
    }

    // ---- catalogs, calls and their results ----

    /** @type {{ [id: string]: { nodes: object[], env: object, cache: any, cached: number } }} */
    let datasets = create(null);
    /** @param {number} id @param {string} catalogJson @param {string} envJson */
    function load(id, catalogJson, envJson) {
      const raw = parse(catalogJson);
      const nodes = [];
      for (let i = 0; i < raw.length; i++) {
        const n = raw[i];
        nodes[i] = freeze({ id: n.id, name: n.name, url: n.url, weight: n.weight, tags: freeze(n.tags) });
      }
      datasets[id] = { nodes, env: freeze(parse(envJson)), cache: create(null), cached: 0 };
    }
    /** @param {number} id */
    function drop(id) {
      delete datasets[id];
    }

    /** @param {{ nodes: object[], cache: any, cached: number }} d @param {string} cands */
    function entryFor(d, cands) {
      const hit = d.cache[cands];
      if (hit !== undefined) return hit;
      const list = cands === '' ? [] : split(cands, ',');
      /** @type {any[]} */
      const nodes = [];
      const pos = create(null);
      for (let i = 0; i < list.length; i++) {
        const n = /** @type {any} */ (d.nodes[+list[i]]);
        if (n === undefined) return null;
        nodes[i] = n;
        if (pos[n.id] === undefined) pos[n.id] = i;
      }
      const entry = { nodes: freeze(nodes), pos, mark: /** @type {number[]} */ ([]), gen: 0 };
      if (d.cached >= limits.maxCachedCandidateSets) {
        d.cache = create(null);
        d.cached = 0;
      }
      d.cache[cands] = entry;
      d.cached++;
      return entry;
    }

    /** @param {unknown} v */
    function describe(v) {
      return v === null ? 'null' : isArray(v) ? 'an array' : typeof v;
    }
    /** @param {string} id */
    function quote(id) {
      return stringify(id.length > 100 ? strSlice(id, 0, 100) + '\u2026' : id);
    }
    /** @param {unknown} out @param {{ pos: any, mark: number[], gen: number }} entry */
    function convert(out, entry) {
      if (!isArray(out))
        return '!bad-result\t\t\tselect must return an array of nodes or node ids, got ' + describe(out);
      if (entry.gen > 1e9) {
        entry.mark = [];
        entry.gen = 0;
      }
      const gen = ++entry.gen;
      const n = out.length;
      let s = '';
      let first = true;
      for (let i = 0; i < n; i++) {
        const v = out[i];
        let id;
        if (typeof v === 'string') id = v;
        else if (v !== null && typeof v === 'object') id = v.id;
        if (typeof id !== 'string')
          return '!bad-result\t\t\telement ' + i + ' of the result is not a node or a node id (' + describe(v) + ')';
        const p = entry.pos[id];
        if (p === undefined) return '!bad-result\t\t\t' + quote(id) + ' is not one of the nodes given';
        if (entry.mark[p] !== gen) {
          entry.mark[p] = gen;
          s = first ? '' + p : s + ',' + p;
          first = false;
        }
      }
      return '=' + s;
    }

    /** @param {unknown} err */
    function thrown(err) {
      let kind = 'throw';
      let message;
      let line = '';
      let column = '';
      try {
        if (err !== null && typeof err === 'object') {
          const name = /** @type {any} */ (err).name;
          const msg = /** @type {any} */ (err).message;
          const stack = /** @type {any} */ (err).stack;
          message =
            (typeof name === 'string' && name !== '' ? name + ': ' : '') + (typeof msg === 'string' ? msg : show(err));
          if (typeof stack === 'string') {
            const m = exec(LOCATION, stack);
            if (m !== null) {
              line = m[1];
              column = m[2];
            }
          }
          if (err instanceof RangeErr && msg === 'Array buffer allocation failed') kind = 'memory';
        } else message = 'threw ' + show(err);
      } catch {
        message = 'threw a value that cannot be printed';
      }
      if (typeof message !== 'string') message = 'threw a value that cannot be printed';
      if (message.length > 500) message = strSlice(message, 0, 500) + '\u2026';
      return '!' + kind + '\t' + line + '\t' + column + '\t' + message;
    }

    // Per traced call: the paths read so far, the trace text, and one view per object (identity holds).
    let gen = 0;
    /** @type {any} */
    let seen = null;
    /** @type {any} */
    let views = null;
    let reads = 0;
    let trace = '';

    /** @param {unknown} v */
    function valueKey(v) {
      switch (typeof v) {
        case 'string':
          return 's' + v;
        case 'number':
          return is(v, -0) ? 'n-0' : 'n' + v;
        case 'boolean':
          return v ? 'bt' : 'bf';
        case 'undefined':
          return 'u';
        case 'object':
          return v === null ? 'z' : isArray(v) ? 'a' : 'o';
        default:
          return null;
      }
    }
    // A repeated read is not recorded again: the request cannot change during a run (writes to the
    // view make the run impure).
    /** @param {string} path @param {unknown} v */
    function record(path, v) {
      if (seen[path] === 1) return;
      seen[path] = 1;
      const key = valueKey(v);
      if (key === null || ++reads > limits.maxTraceReads) {
        impure = true;
        return;
      }
      const entry = '[[' + path + '],' + stringify(key) + ']';
      trace = trace === '' ? entry : trace + ',' + entry;
      if (trace.length > limits.maxTraceChars) impure = true;
    }
    // path: the JSON of each key from the root, comma-separated ('' for the root).
    /** @param {any} target @param {string} path @returns {any} */
    function view(target, path) {
      const known = views[path];
      if (known !== undefined) return known;
      const mine = gen;
      const traps = create(null);
      traps.get = function (/** @type {any} */ t, /** @type {PropertyKey} */ key) {
        if (typeof key !== 'string' || mine !== gen) {
          impure = true;
          return t[key];
        }
        let v;
        if (hasOwn(t, key)) v = t[key];
        else if (key in t) {
          impure = true;
          return t[key];
        }
        const at = path === '' ? stringify(key) : path + ',' + stringify(key);
        if (!impure) record(at, v);
        return v !== null && typeof v === 'object' && views !== null ? view(v, at) : v;
      };
      traps.has = (/** @type {any} */ t, /** @type {PropertyKey} */ key) => ((impure = true), rHas(t, key));
      traps.ownKeys = (/** @type {any} */ t) => ((impure = true), rOwnKeys(t));
      traps.getOwnPropertyDescriptor = (/** @type {any} */ t, /** @type {PropertyKey} */ key) => (
        (impure = true),
        rGetOwn(t, key)
      );
      traps.defineProperty = (
        /** @type {any} */ t,
        /** @type {PropertyKey} */ key,
        /** @type {PropertyDescriptor} */ d,
      ) => ((impure = true), rDefine(t, key, d));
      traps.deleteProperty = (/** @type {any} */ t, /** @type {PropertyKey} */ key) => (
        (impure = true),
        rDelete(t, key)
      );
      traps.set = (/** @type {any} */ t, /** @type {PropertyKey} */ key, /** @type {unknown} */ v) => (
        (impure = true),
        rSet(t, key, v)
      );
      traps.getPrototypeOf = (/** @type {any} */ t) => ((impure = true), rGetProto(t));
      traps.setPrototypeOf = (/** @type {any} */ t, /** @type {object | null} */ p) => (
        (impure = true),
        rSetProto(t, p)
      );
      traps.isExtensible = (/** @type {any} */ t) => ((impure = true), rIsExt(t));
      traps.preventExtensions = (/** @type {any} */ t) => ((impure = true), rPrevent(t));
      const p = new RealProxy(target, traps);
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
    /** @param {string} body */
    function withConsole(body) {
      const c = takeConsole();
      return c === '' ? '-' + body : '+' + c.length + ':' + c + body;
    }

    /**
     * Runs `select` once. Returns "-" or "+<n>:<n chars of console JSON>", then "=<positions>" on
     * success or "!<kind>\t<line>\t<column>\t<message>"; a traced call that stayed cacheable appends
     * "\t<trace>" to a success: a JSON array of [path, valueKey] reads in first-read order (memo.ts).
     * @param {number} id @param {string} cands @param {string} requestJson @param {boolean} traced
     */
    function call(id, cands, requestJson, traced) {
      lines = [];
      dropped = 0;
      // Views handed out by earlier calls go stale: reading one now means the script kept state.
      gen++;
      const d = datasets[id];
      if (d === undefined) return '-!unavailable\t\t\tthe catalog is not loaded in this sandbox';
      const entry = entryFor(d, cands);
      if (entry === null) return '-!unavailable\t\t\tinvalid candidate list';
      let request = parse(requestJson);
      impure = false;
      if (traced === true) {
        seen = create(null);
        views = create(null);
        reads = 0;
        trace = '';
        request = view(request, '');
      }
      let body;
      try {
        body = convert(/** @type {Function} */ (select)(request, d.env, slice(entry.nodes)), entry);
      } catch (err) {
        body = thrown(err);
      }
      if (traced === true) {
        gen++;
        if (!impure && lines.length === 0 && dropped === 0 && body[0] === '=') body = body + '\t[' + trace + ']';
        seen = null;
        views = null;
        trace = '';
      }
      return withConsole(body);
    }

    /** What the batch running or last run has answered so far (read by the host after a time limit). */
    let batchOut = '';

    /**
     * Runs a batch of calls in one entry: `packed` holds "C|M<opId>\t<datasetId>\t<candidates>\t<request
     * JSON>" lines (the host's own messages; JSON holds no raw newline). A call is started only within
     * `windowMs` of the batch's start, so with the host's entry limit of (call limit + window + 1 ms)
     * every call started has its whole time limit ahead; the rest are left for the next entry. Each
     * call's index is written to the shared progress cell before it runs, so the host knows which one
     * was running when the isolate is lost to its memory limit. For a memoized version `check` runs
     * after each call and a change ends the batch there. Returns, per call run, "<n>:<answer of
     * call()><m>:<what check found, or ''>".
     * @param {string} packed @param {number} windowMs
     */
    function batch(packed, windowMs) {
      batchOut = '';
      const t0 = realNow();
      let from = 0;
      let index = 0;
      while (from < packed.length) {
        if (index > 0 && realNow() - t0 >= windowMs) break;
        let nl = indexOf(packed, '\n', from);
        if (nl < 0) nl = packed.length;
        const t1 = indexOf(packed, '\t', from);
        const t2 = indexOf(packed, '\t', t1 + 1);
        const t3 = indexOf(packed, '\t', t2 + 1);
        progress[0] = index;
        const answer = call(
          +strSlice(packed, t1 + 1, t2),
          strSlice(packed, t2 + 1, t3),
          strSlice(packed, t3 + 1, nl),
          packed[from] === 'M',
        );
        const why = checking ? check() : '';
        batchOut = batchOut + answer.length + ':' + answer + why.length + ':' + why;
        index++;
        from = nl + 1;
        if (why !== '') break;
      }
      progress[0] = index;
      progress[1] = 1;
      return batchOut;
    }

    /** The answers of the batch cut off by its time limit, up to the call that was running. */
    function takeBatch() {
      const out = batchOut;
      batchOut = '';
      return out;
    }

    /** Called by the host right after the top level ran: whether it read the clock or randomness. */
    function afterTopLevel() {
      topLevelImpure = impure;
      impure = false;
      return topLevelImpure;
    }

    // Nothing the setup itself did counts against the script's top level.
    impure = false;
    return freeze({ bind, afterTopLevel, settle, load, drop, batch, takeBatch, check, takeConsole });
  };
})();
