import type { ConsoleOutput } from './isolate/runner.js';
import { MAX_LINE_CHARS, MAX_LINES_PER_RUN, MAX_TRACE_CHARS } from './isolate/realm.js';
export { MAX_ANSWER_CHARS } from './isolate/realm.js';
import type { SelectorErrorKind, SelectorFailure } from './types.js';

/**
 * The limits the host process enforces again on everything an isolate hands back, in code the
 * script cannot reach (the prelude enforces them first, inside the realm; this is where they hold
 * whatever the realm did). Nothing the host writes to the gateway escapes them.
 */

/** Longest failure message or reason the host writes, in characters. */
export const MAX_MESSAGE_CHARS = 1000;

const ELLIPSIS = '\u2026';
const KINDS: ReadonlySet<string> = new Set<SelectorErrorKind>([
  'compile',
  'throw',
  'timeout',
  'memory',
  'crash',
  'bad-result',
  'quarantined',
  'unavailable',
]);

/** `text` cut to `max` characters, marked when cut. */
export function capText(text: string, max = MAX_MESSAGE_CHARS): string {
  return text.length > max ? text.slice(0, max) + ELLIPSIS : text;
}

/** At most MAX_LINES_PER_RUN lines of at most MAX_LINE_CHARS each; the lines beyond count as dropped. */
export function capConsole(output: ConsoleOutput): ConsoleOutput {
  const lines = output.lines.length > MAX_LINES_PER_RUN ? output.lines.slice(0, MAX_LINES_PER_RUN) : output.lines;
  const dropped = Number.isSafeInteger(output.dropped) && output.dropped > 0 ? output.dropped : 0;
  return {
    dropped: dropped + (output.lines.length - lines.length),
    lines: lines.map((line) => capText(typeof line === 'string' ? line : String(line), MAX_LINE_CHARS)),
  };
}

/** A failure of a known kind, with a bounded message and whole-number location. */
export function capFailure(failure: SelectorFailure): SelectorFailure {
  const out: SelectorFailure = {
    kind: KINDS.has(failure.kind) ? failure.kind : 'bad-result',
    message: capText(typeof failure.message === 'string' ? failure.message : 'the script failed'),
  };
  if (Number.isSafeInteger(failure.line)) out.line = failure.line!;
  if (Number.isSafeInteger(failure.column)) out.column = failure.column!;
  return out;
}

/** Whether `positions` is "i,j,k" with every index below `count`, each at most once. */
export function validPositions(positions: string, count: number): boolean {
  if (positions === '') return true;
  if (positions.length > count * 8 || !/^\d+(,\d+)*$/.test(positions)) return false;
  const seen = new Set<number>();
  for (const part of positions.split(',')) {
    const p = Number(part);
    if (p >= count || seen.has(p)) return false;
    seen.add(p);
  }
  return true;
}

/** A trace within its bound (its JSON may escape each character), else null: the run is then not cached. */
export function capTrace(trace: string | null): string | null {
  return trace !== null && trace.length <= MAX_TRACE_CHARS * 6 ? trace : null;
}
