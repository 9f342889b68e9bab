import ivm from 'isolated-vm';
import { performance } from 'node:perf_hooks';
import { PRELUDE, SCRIPT_NAME } from './isolate-prelude.js';
import { wallTimeoutMs } from './limits.js';
import type { SelectorErrorKind, SelectorFailure } from './types.js';

/** Prefix that compiles a guarded script in strict mode (a write to a frozen value then throws). */
const STRICT_PREFIX = "'use strict';";
/** The hint added to a guarded script's failed write. */
const READ_ONLY_HINT =
  ' (memoize is "auto": values kept at the top level are read-only; set memoize to false for a selector that keeps state)';
const READ_ONLY_ERROR = /read[- ]only|not extensible|Cannot (assign|add|delete|define|redefine)/;

/** Time the prelude's own work (freezing a catalog) may take, at least. */
const LOAD_TIMEOUT_FLOOR_MS = 250;

/** What a script printed during one run: lines kept and how many were dropped. */
export interface ConsoleOutput {
  dropped: number;
  lines: string[];
}

/** One call's result inside the host: positions into the candidates, or a failure. */
export type RunResult =
  | { ok: true; positions: string; runUs: number; console: ConsoleOutput | null; trace: string | null }
  | { ok: false; failure: SelectorFailure; runUs: number; console: ConsoleOutput | null };

type Fn = ivm.Reference<(...args: unknown[]) => unknown>;

interface Session {
  isolate: ivm.Isolate;
  guard: Fn;
  call: Fn;
  load: Fn;
  drop: Fn;
  takeConsole: Fn;
}

/**
 * One selector version in its own isolate (host side): compiles the user's script behind the
 * prelude, holds its catalogs, runs calls under the CPU and memory limits, and classifies failures.
 * After the isolate is lost to its memory limit the next use rebuilds it from the kept source and
 * catalogs.
 */
export class IsolateRunner {
  private session: Session | null = null;
  private readonly datasets = new Map<number, { catalog: string; env: string }>();
  private readonly wallMs: number;

  constructor(
    readonly code: string,
    /** CPU time a call may use. */
    readonly timeoutMs: number,
    readonly memoryMb: number,
    /**
     * For a selector memoized by state analysis: its top-level names, whose values are made
     * read-only once the top level has run (and the script is compiled in strict mode); else null.
     */
    readonly guard: readonly string[] | null = null,
  ) {
    this.wallMs = wallTimeoutMs(timeoutMs);
  }

  /**
   * Compiles the script and runs its top level; `failure` is null when it defined `select`.
   * `unguarded` says why a guarded script's values could not be made read-only (it must then not be
   * memoized), else null.
   */
  start(): { failure: SelectorFailure | null; console: ConsoleOutput | null; unguarded: string | null } {
    this.disposeIsolate();
    const isolate = new ivm.Isolate({ memoryLimit: this.memoryMb });
    let session: Session | null = null;
    let started = false;
    try {
      const context = isolate.createContextSync();
      const api = context.evalSync(PRELUDE, { reference: true, filename: 'isogate-prelude.js' }) as ivm.Reference<
        Record<string, unknown>
      >;
      const ref = (name: string) => api.getSync(name, { reference: true }) as Fn;
      session = {
        isolate,
        guard: ref('guard'),
        call: ref('call'),
        load: ref('load'),
        drop: ref('drop'),
        takeConsole: ref('takeConsole'),
      };
      const bind = ref('bind');
      let script: ivm.Script;
      try {
        script =
          this.guard === null
            ? isolate.compileScriptSync(this.code, { filename: SCRIPT_NAME })
            : isolate.compileScriptSync(STRICT_PREFIX + this.code, { filename: SCRIPT_NAME, columnOffset: -STRICT_PREFIX.length });
      } catch (err) {
        return { failure: compileFailure(err), console: null, unguarded: null };
      }
      script.runSync(context, { timeout: this.wallMs });
      const bound = bind.applySync(undefined, [], { timeout: this.wallMs });
      const output = readConsole(session);
      if (bound !== true) {
        const failure: SelectorFailure = { kind: 'compile', message: 'the script does not define a function named select' };
        return { failure, console: output, unguarded: null };
      }
      let unguarded: string | null = null;
      if (this.guard !== null) {
        const answer = session.guard.applySync(undefined, [JSON.stringify(this.guard)], { timeout: Math.max(LOAD_TIMEOUT_FLOOR_MS, this.wallMs) });
        unguarded = typeof answer === 'string' && answer !== '' ? answer : null;
      }
      for (const [id, data] of this.datasets) this.loadInto(session, id, data.catalog, data.env);
      this.session = session;
      started = true;
      return { failure: null, console: output, unguarded };
    } catch (err) {
      const output = session !== null && !isolate.isDisposed ? readConsole(session) : null;
      return { failure: runFailure(err, isolate, this.timeoutMs, this.memoryMb), console: output, unguarded: null };
    } finally {
      if (!started && !isolate.isDisposed) isolate.dispose();
    }
  }

  /** Gives the script one catalog and variable set under `id`; null when done, else the failure. */
  loadDataset(id: number, catalogJson: string, envJson: string): SelectorFailure | null {
    this.datasets.set(id, { catalog: catalogJson, env: envJson });
    const session = this.session;
    if (session === null) return null; // loaded with the next rebuild
    try {
      this.loadInto(session, id, catalogJson, envJson);
      return null;
    } catch (err) {
      this.datasets.delete(id);
      const failure = runFailure(err, session.isolate, this.timeoutMs, this.memoryMb);
      if (session.isolate.isDisposed) this.session = null;
      return failure;
    }
  }

  /** Forgets one catalog. */
  dropDataset(id: number): void {
    this.datasets.delete(id);
    const session = this.session;
    if (session === null || session.isolate.isDisposed) return;
    try {
      session.drop.applySync(undefined, [id], { timeout: LOAD_TIMEOUT_FLOOR_MS });
    } catch {
      // The next rebuild starts without it anyway.
    }
  }

  /**
   * Runs `select` on one request: `cands` is "i,j,k" into catalog `datasetId`. `traced` records the
   * request reads of a memoized selector; a cacheable success then carries them as `trace`.
   */
  call(datasetId: number, cands: string, requestJson: string, traced = false): RunResult {
    if (this.session === null || this.session.isolate.isDisposed) {
      const t0 = performance.now();
      const started = this.start();
      if (started.failure !== null) {
        return { ok: false, failure: started.failure, runUs: elapsedUs(t0), console: started.console };
      }
    }
    const session = this.session!;
    const isolate = session.isolate;
    const cpu0 = isolate.cpuTime;
    const t0 = performance.now();
    let raw: unknown;
    try {
      raw = session.call.applySync(undefined, [datasetId, cands, requestJson, traced], { timeout: this.wallMs });
    } catch (err) {
      const runUs = elapsedUs(t0);
      let failure = runFailure(err, isolate, this.timeoutMs, this.memoryMb);
      if (isolate.isDisposed) this.session = null;
      else if (failure.kind === 'timeout') {
        // Stopped by the wall clock having used less CPU than its limit: the machine was too busy,
        // which must not count towards the script's quarantine.
        const cpuMs = Number(isolate.cpuTime - cpu0) / 1e6;
        if (cpuMs < this.timeoutMs) {
          const message = `the sandbox was too busy to finish the call in ${this.wallMs} ms (it used ${cpuMs.toFixed(1)} ms of CPU)`;
          failure = { kind: 'unavailable', message };
        }
      }
      return { ok: false, failure, runUs, console: null };
    }
    const result = decodeCall(typeof raw === 'string' ? raw : '', elapsedUs(t0));
    if (!result.ok && this.guard !== null && result.failure.kind === 'throw' && READ_ONLY_ERROR.test(result.failure.message)) {
      result.failure.message += READ_ONLY_HINT;
    }
    return result;
  }

  /** Releases the isolate; the runner must not be used afterwards. */
  dispose(): void {
    this.disposeIsolate();
    this.datasets.clear();
  }

  private loadInto(session: Session, id: number, catalogJson: string, envJson: string): void {
    session.load.applySync(undefined, [id, catalogJson, envJson], {
      timeout: Math.max(LOAD_TIMEOUT_FLOOR_MS, this.wallMs),
    });
  }

  private disposeIsolate(): void {
    const session = this.session;
    this.session = null;
    if (session !== null && !session.isolate.isDisposed) session.isolate.dispose();
  }
}

function elapsedUs(t0: number): number {
  return Math.round((performance.now() - t0) * 1000);
}

function readConsole(session: Session): ConsoleOutput | null {
  try {
    const raw = session.takeConsole.applySync(undefined, [], { timeout: LOAD_TIMEOUT_FLOOR_MS });
    return typeof raw === 'string' && raw !== '' ? parseConsole(raw) : null;
  } catch {
    return null;
  }
}

function parseConsole(json: string): ConsoleOutput | null {
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
function decodeCall(raw: string, runUs: number): RunResult {
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
    if (tab < 0) return { ok: true, positions: body.slice(1), runUs, console, trace: null };
    return { ok: true, positions: body.slice(1, tab), runUs, console, trace: body.slice(tab + 1) };
  }
  if (body.charCodeAt(0) === 0x21 /* ! */) {
    const [kind = '', line = '', column = '', ...rest] = body.slice(1).split('\t');
    const failure: SelectorFailure = {
      kind: KINDS.has(kind) ? (kind as SelectorErrorKind) : 'bad-result',
      message: rest.join('\t'),
    };
    if (line !== '') failure.line = Number(line);
    if (column !== '') failure.column = Number(column);
    return { ok: false, failure, runUs, console };
  }
  return { ok: false, failure: { kind: 'bad-result', message: 'the sandbox returned an unreadable result' }, runUs, console };
}

const COMPILE_LOCATION = new RegExp(`\\[${SCRIPT_NAME.replace('.', '\\.')}:(\\d+):(\\d+)\\]$`);
const STACK_LOCATION = new RegExp(`${SCRIPT_NAME.replace('.', '\\.')}:(\\d+):(\\d+)`);

/** A SyntaxError from compiling the user's script, with its line and column. */
function compileFailure(err: unknown): SelectorFailure {
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
function runFailure(err: unknown, isolate: ivm.Isolate, timeoutMs: number, memoryMb: number): SelectorFailure {
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
