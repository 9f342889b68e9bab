import { parse } from 'acorn';
import { Found, type AnyNode } from './state-analysis/ast.js';
import { Analysis } from './state-analysis/walker.js';

/**
 * Static state analysis of a selector script: the fast pre-filter of `memoize: "auto"`. A script it
 * finds keeping state between calls is not memoized, and its `reason` names the line; the
 * guarantee that a memoized answer is the script's own answer does not rest on it (a source
 * analysis cannot be sound for JavaScript): the sandbox records what a memoized script's top level
 * left and checks it after every run (isolate/prelude.cjs `settle` and `check`, see
 * docs/selector-sandbox.md). What it refuses, with the line:
 *
 * - **Top-level bindings** (`let count = 0`): no function may assign to a binding that is not its own
 *   or an enclosing function's, nor to a global.
 * - **Closures made while the top level ran** (`const next = (() => { let n = 0; return () => ++n })()`):
 *   the top level may only declare functions, classes without static parts, and values built from
 *   literals and built-ins with plain data; it runs no code of the script's own.
 * - **Objects kept at the top level** (`const seen = new Set()`): direct writes and mutating method
 *   calls on them.
 * - **Built-ins and the global object** (`Math.count = 1`, `globalThis`, prototypes): direct writes,
 *   mutating calls, `globalThis`, `eval`, `Function`, `with` and the members `prototype`,
 *   `constructor` and `__proto__`.
 *
 * It is conservative: a script it refuses may still be stateless (its `reason` says what it saw),
 * and `memoize: true` stays the operator's override.
 */

/** The verdict: stateless (with the script's top-level names), or the first state found. */
export type StateVerdict =
  { stateless: true; keptNames: string[] } | { stateless: false; reason: string; line: number | null };

/** Analyses `code` (a selector script); never throws. */
export function analyzeState(code: string): StateVerdict {
  let program: AnyNode;
  try {
    program = parse(code, { ecmaVersion: 'latest', sourceType: 'script', locations: true }) as AnyNode;
  } catch (err) {
    return { stateless: false, reason: `the script does not parse: ${(err as Error).message}`, line: lineOfError(err) };
  }
  try {
    return { stateless: true, keptNames: new Analysis().run(program) };
  } catch (err) {
    if (err instanceof Found) return { stateless: false, reason: err.reason, line: err.line };
    throw err;
  }
}

/** Formats a verdict's reason with its line, for logs and the admin API. */
export function describeVerdict(verdict: StateVerdict): string | null {
  if (verdict.stateless) return null;
  return verdict.line === null ? verdict.reason : `line ${verdict.line}: ${verdict.reason}`;
}

function lineOfError(err: unknown): number | null {
  const loc = (err as { loc?: { line?: number } }).loc;
  return typeof loc?.line === 'number' ? loc.line : null;
}
