/** The rule tables of the state analysis (state-analysis.ts): which names and members it refuses. */

/** Method names that change the object they are called on (arrays, maps, sets, dates, typed arrays). */
export const MUTATORS = new Set([
  'push',
  'pop',
  'shift',
  'unshift',
  'splice',
  'sort',
  'reverse',
  'fill',
  'copyWithin',
  'set',
  'add',
  'delete',
  'clear',
  'assign',
  'defineProperty',
  'defineProperties',
  'setPrototypeOf',
  'getPrototypeOf',
  'deleteProperty',
  'preventExtensions',
  'freeze',
  'seal',
  'apply',
  'call',
  'bind',
  '__defineGetter__',
  '__defineSetter__',
  'compile',
]);

/** Member names that reach prototypes or the Function constructor. */
export const FORBIDDEN_MEMBERS = new Set(['prototype', 'constructor', '__proto__']);

/** Globals whose use means code built at run time or the global object itself. */
export const FORBIDDEN_GLOBALS = new Set(['eval', 'Function', 'globalThis']);

/**
 * Globals that may be used as values (`nodes.map(String)`): primitives and plain functions. Any other
 * global object used as a value (`const M = Math`) could be changed through the alias, unseen.
 */
export const GLOBAL_VALUES = new Set([
  'undefined',
  'NaN',
  'Infinity',
  'String',
  'Number',
  'Boolean',
  'BigInt',
  'Symbol',
  'parseInt',
  'parseFloat',
  'isNaN',
  'isFinite',
  'encodeURIComponent',
  'decodeURIComponent',
  'encodeURI',
  'decodeURI',
]);

/** RegExp's legacy static members, which carry the last match of any call over to the next. */
export const REGEXP_LEGACY = /^(\$.*|input|lastMatch|lastParen|leftContext|rightContext)$/;
