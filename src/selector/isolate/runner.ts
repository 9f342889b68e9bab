import ivm from 'isolated-vm';
import { performance } from 'node:perf_hooks';
import { wallTimeoutMs } from '../limits.js';
import type { SelectorErrorKind, SelectorFailure } from '../types.js';
import { buildRealm, MAX_ANSWER_CHARS, SCRIPT_NAME, type RealmApi } from './realm.js';
import { sourceFacts } from './source-facts.js';

/** Time the realm's own work (building it, freezing a catalog, checking kept state) may take, at least. */
const REALM_TIMEOUT_FLOOR_MS = 2000;

/** What a script printed during one run: lines kept and how many were dropped. */
export interface ConsoleOutput {
  dropped: number;
  lines: string[];
}

/**
 * How a selector version is memoized, as far as its realm is concerned: `off` (never), `checked`
 * (memoize: "auto": refused when the top level leaves anything the sandbox cannot compare after a
 * run), `trusted` (memoize: true: the operator's word for what cannot be compared; what can still is).
 */
export type MemoMode = 'off' | 'checked' | 'trusted';

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

interface Session {
  isolate: ivm.Isolate;
  api: RealmApi;
}

/**
 * One selector version in its own isolate (host side): builds the locked-down realm, runs the
 * user's script in it, holds its catalogs, runs calls under the CPU and memory limits, classifies
 * failures, and for a memoized version checks after every run that nothing the top level left has
 * changed. After the isolate is lost to its memory limit the next use rebuilds it from the kept
 * source and catalogs (the top level reads no clock or randomness, or the version is not memoized,
 * so the rebuilt realm answers as the lost one did).
 */
export class IsolateRunner {
  private session: Session | null = null;
  private readonly datasets = new Map<number, { catalog: string; env: string }>();
  private readonly wallMs: number;
  /** Memoized and not found stateful yet: every run is followed by a check. */
  private checking: boolean;

  constructor(
    readonly code: string,
    /** CPU time a call may use. */
    readonly timeoutMs: number,
    readonly memoryMb: number,
    readonly memo: MemoMode = 'off',
  ) {
    this.wallMs = wallTimeoutMs(timeoutMs);
    this.checking = memo !== 'off';
  }

  /**
   * Builds the realm, compiles the script and runs its top level; `failure` is null when it defined
   * `select`. `notMemoized` says why a memoized version cannot be (it is then run as with
   * memoize: false), else null.
   */
  start(): { failure: SelectorFailure | null; console: ConsoleOutput | null; notMemoized: string | null } {
    this.disposeIsolate();
    const isolate = new ivm.Isolate({ memoryLimit: this.memoryMb });
    let session: Session | null = null;
    let started = false;
    const realmMs = Math.max(REALM_TIMEOUT_FLOOR_MS, this.wallMs);
    try {
      const realm = buildRealm(isolate, realmMs);
      session = { isolate, api: realm.api };
      let script: ivm.Script;
      try {
        script = isolate.compileScriptSync(this.code, { filename: SCRIPT_NAME });
      } catch (err) {
        return { failure: compileFailure(err), console: null, notMemoized: null };
      }
      script.runSync(realm.context, { timeout: this.wallMs });
      const topLevelImpure = session.api.afterTopLevel.applySync(undefined, [], { timeout: realmMs }) === true;
      const bound = session.api.bind.applySync(undefined, [], { timeout: this.wallMs });
      const output = readConsole(session);
      if (bound !== true) {
        const failure: SelectorFailure = {
          kind: 'compile',
          message: 'the script does not define a function named select',
        };
        return { failure, console: output, notMemoized: null };
      }
      let notMemoized: string | null = null;
      if (this.checking) {
        notMemoized = topLevelImpure
          ? 'the top level reads the clock or randomness, so every load could answer differently'
          : this.settle(session, realmMs);
        if (notMemoized !== null) this.checking = false;
      }
      for (const [id, data] of this.datasets) this.loadInto(session, id, data.catalog, data.env);
      this.session = session;
      started = true;
      return { failure: null, console: output, notMemoized };
    } catch (err) {
      const output = session !== null && !isolate.isDisposed ? readConsole(session) : null;
      return { failure: runFailure(err, isolate, this.timeoutMs, this.memoryMb), console: output, notMemoized: null };
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
      session.api.drop.applySync(undefined, [id], { timeout: REALM_TIMEOUT_FLOOR_MS });
    } catch {
      // The next rebuild starts without it anyway.
    }
  }

  /**
   * Runs `select` on one request: `cands` is "i,j,k" into catalog `datasetId`. `traced` records the
   * request reads; a cacheable success then carries them as `trace`. A memoized version's run is
   * followed by the check of its kept state (a separate call, so the run's promise jobs have run).
   */
  call(datasetId: number, cands: string, requestJson: string, traced = false): RunResult {
    if (this.session === null || this.session.isolate.isDisposed) {
      const t0 = performance.now();
      const started = this.start();
      if (started.failure !== null) {
        return {
          ok: false,
          failure: started.failure,
          runUs: elapsedUs(t0),
          console: started.console,
          stateChange: started.notMemoized,
        };
      }
      if (started.notMemoized !== null) {
        const result = this.call(datasetId, cands, requestJson, traced);
        return { ...result, stateChange: result.stateChange ?? started.notMemoized };
      }
    }
    const session = this.session!;
    const isolate = session.isolate;
    const cpu0 = isolate.cpuTime;
    const t0 = performance.now();
    let raw: unknown;
    try {
      raw = session.api.call.applySync(undefined, [datasetId, cands, requestJson, traced], { timeout: this.wallMs });
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
      // A run cut off halfway is checked like any other (a lost isolate is rebuilt as it was loaded).
      const stateChange = this.checking && this.session !== null ? this.check(session) : null;
      return { ok: false, failure, runUs, console: null, stateChange };
    }
    // The prelude bounds its answer; this bound holds whatever the realm did.
    const answer = typeof raw === 'string' && raw.length <= MAX_ANSWER_CHARS ? raw : '';
    const result = decodeCall(answer, elapsedUs(t0));
    if (this.checking) result.stateChange = this.check(session);
    return result;
  }

  /** Releases the isolate; the runner must not be used afterwards. */
  dispose(): void {
    this.disposeIsolate();
    this.datasets.clear();
  }

  /** Records what the top level left; why it cannot be memoized, or null. */
  private settle(session: Session, timeoutMs: number): string | null {
    const facts = sourceFacts(this.code);
    if (facts === null) return 'the sandbox could not read the script to place its functions';
    const payload = JSON.stringify({ ...facts, code: this.code, strict: this.memo === 'checked' });
    const why = session.api.settle.applySync(undefined, [payload], { timeout: timeoutMs });
    return typeof why === 'string' && why !== '' ? why : null;
  }

  private check(session: Session): string | null {
    let why: unknown;
    try {
      why = session.api.check.applySync(undefined, [], { timeout: Math.max(REALM_TIMEOUT_FLOOR_MS, this.wallMs) });
    } catch (err) {
      if (session.isolate.isDisposed) this.session = null;
      why = `the state check failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (typeof why !== 'string' || why === '') return null;
    this.checking = false;
    return why;
  }

  private loadInto(session: Session, id: number, catalogJson: string, envJson: string): void {
    session.api.load.applySync(undefined, [id, catalogJson, envJson], {
      timeout: Math.max(REALM_TIMEOUT_FLOOR_MS, this.wallMs),
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
    const raw = session.api.takeConsole.applySync(undefined, [], { timeout: REALM_TIMEOUT_FLOOR_MS });
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
