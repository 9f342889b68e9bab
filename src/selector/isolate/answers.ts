import type ivm from 'isolated-vm';
import { performance } from 'node:perf_hooks';
import type { SelectorErrorKind, SelectorFailure } from '../types.js';
import { MAX_ANSWER_CHARS, SCRIPT_NAME, type RealmApi } from './realm.js';

/** What a script printed during one run: lines kept and how many were dropped. */
export interface ConsoleOutput {
  dropped: number;
  lines: string[];
}

/**
 * One call's result inside the host: positions into the candidates, or a failure. `stateChange`
 * says what a run of a memoized selector changed in the state its top level left (it then keeps
 * state, and memoization ends), else null.
 */
export type RunResult =
  | {
      ok: true;
      positions: string;
      runUs: number;
      console: ConsoleOutput | null;
      trace: string | null;
      stateChange: string | null;
    }
  | { ok: false; failure: SelectorFailure; runUs: number; console: ConsoleOutput | null; stateChange: string | null };

export function parseConsole(json: string): ConsoleOutput | null {
  try {
    const value: unknown = JSON.parse(json);
    if (!Array.isArray(value) || !Array.isArray(value[1])) return null;
    const lines = (value[1] as unknown[]).filter((l): l is string => typeof l === 'string');
    return { dropped: typeof value[0] === 'number' ? value[0] : 0, lines };
  } catch {
    return null;
  }
}

const KINDS: ReadonlySet<string> = new Set<SelectorErrorKind>(['throw', 'memory', 'bad-result', 'unavailable']);

/** Decodes the prelude's "-=1,0[\t<trace>]" / "+<n>:<json>!kind\tline\tcol\tmessage" answer. */
export function decodeCall(raw: string, runUs: number): RunResult {
  let console: ConsoleOutput | null = null;
  let body = raw.slice(1);
  if (raw.charCodeAt(0) === 0x2b /* + */) {
    const colon = raw.indexOf(':');
    const length = Number(raw.slice(1, colon));
    console = parseConsole(raw.slice(colon + 1, colon + 1 + length));
    body = raw.slice(colon + 1 + length);
  }
  if (body.charCodeAt(0) === 0x3d /* = */) {
    const tab = body.indexOf('\t');
    if (tab < 0) return { ok: true, positions: body.slice(1), runUs, console, trace: null, stateChange: null };
    return { ok: true, positions: body.slice(1, tab), runUs, console, trace: body.slice(tab + 1), stateChange: null };
  }
  if (body.charCodeAt(0) === 0x21 /* ! */) {
    const [kind = '', line = '', column = '', ...rest] = body.slice(1).split('\t');
    const failure: SelectorFailure = {
      kind: KINDS.has(kind) ? (kind as SelectorErrorKind) : 'bad-result',
      message: rest.join('\t'),
    };
    if (line !== '') failure.line = Number(line);
    if (column !== '') failure.column = Number(column);
    return { ok: false, failure, runUs, console, stateChange: null };
  }
  return {
    ok: false,
    failure: { kind: 'bad-result', message: 'the sandbox returned an unreadable result' },
    runUs,
    console,
    stateChange: null,
  };
}

const COMPILE_LOCATION = new RegExp(`\\[${SCRIPT_NAME.replace('.', '\\.')}:(\\d+):(\\d+)\\]$`);
const STACK_LOCATION = new RegExp(`${SCRIPT_NAME.replace('.', '\\.')}:(\\d+):(\\d+)`);

/** A SyntaxError from compiling the user's script, with its line and column. */
export function compileFailure(err: unknown): SelectorFailure {
  const message = err instanceof Error ? err.message : String(err);
  const m = COMPILE_LOCATION.exec(message);
  const failure: SelectorFailure = { kind: 'compile', message: m ? message.slice(0, m.index).trimEnd() : message };
  if (m) {
    failure.line = Number(m[1]);
    failure.column = Number(m[2]);
  }
  return failure;
}

/** Classifies an error thrown out of the isolate: time limit, memory limit, or the script's throw. */
export function runFailure(err: unknown, isolate: ivm.Isolate, timeoutMs: number, memoryMb: number): SelectorFailure {
  const message = err instanceof Error ? err.message : String(err);
  if (isolate.isDisposed || /disposed/i.test(message)) {
    return { kind: 'memory', message: `the script exceeded its memory limit (${memoryMb} MB)` };
  }
  if (message === 'Script execution timed out.') {
    return { kind: 'timeout', message: `the script exceeded its time limit (${timeoutMs} ms)` };
  }
  const failure: SelectorFailure = {
    kind: 'throw',
    message: err instanceof Error && err.name && err.name !== 'Error' ? `${err.name}: ${message}` : message,
  };
  const stack = err instanceof Error && typeof err.stack === 'string' ? err.stack : '';
  const m = STACK_LOCATION.exec(stack);
  if (m) {
    failure.line = Number(m[1]);
    failure.column = Number(m[2]);
  }
  return failure;
}

/**
 * Decodes a batch entry's answer ("<n>:<answer><m>:<state change>" per call run, see the prelude's
 * `batch`) into `into`, each call's run time the entry's `runUs` shared out; the count decoded. An
 * entry that does not parse ends the decoding (the calls from it on count as not run).
 */
export function decodeBatch(raw: unknown, runUs: number, into: RunResult[]): number {
  if (typeof raw !== 'string') return 0;
  const found: Array<[string, string]> = [];
  let at = 0;
  while (at < raw.length) {
    const answer = field(raw, at);
    if (answer === null) break;
    const why = field(raw, answer.next);
    if (why === null) break;
    found.push([answer.text, why.text]);
    at = why.next;
  }
  const each = found.length > 0 ? Math.round(runUs / found.length) : runUs;
  for (const [answer, why] of found) {
    const result = decodeCall(answer, each);
    result.stateChange = why === '' ? null : why;
    into.push(result);
  }
  return found.length;
}

/** One "<n>:<n characters>" field at `at`, bounded by MAX_ANSWER_CHARS; null when it does not parse. */
function field(raw: string, at: number): { text: string; next: number } | null {
  const colon = raw.indexOf(':', at);
  if (colon < 0 || colon - at > 8) return null;
  const length = Number(raw.slice(at, colon));
  if (!Number.isInteger(length) || length < 0 || length > MAX_ANSWER_CHARS || colon + 1 + length > raw.length)
    return null;
  return { text: raw.slice(colon + 1, colon + 1 + length), next: colon + 1 + length };
}

/** Microseconds since `t0` (performance.now()). */
export function elapsedUs(t0: number): number {
  return Math.round((performance.now() - t0) * 1000);
}

/** What the script printed since it was last asked, or null. */
export function readConsole(api: RealmApi): ConsoleOutput | null {
  try {
    const raw = api.takeConsole.applySync(undefined, [], { timeout: CONSOLE_TIMEOUT_MS });
    return typeof raw === 'string' && raw !== '' ? parseConsole(raw) : null;
  } catch {
    return null;
  }
}
const CONSOLE_TIMEOUT_MS = 2000;

/**
 * A call stopped by the wall clock having used less CPU than its limit (`usedMs`, at least) was
 * stopped because the machine was too busy, which must not count towards the script's quarantine:
 * `unavailable`, not `timeout`. Other failures are returned as they are.
 */
export function busyOrTimeout(
  failure: SelectorFailure,
  usedMs: number,
  cpuMs: number,
  timeoutMs: number,
  wallMs: number,
): SelectorFailure {
  if (failure.kind !== 'timeout' || usedMs >= timeoutMs) return failure;
  const message = `the sandbox was too busy to finish the call in ${wallMs} ms (it used ${cpuMs.toFixed(1)} ms of CPU)`;
  return { kind: 'unavailable', message };
}
