import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { SelectorConfig } from '../model/selector.js';
import { SelectorCompileError } from './errors.js';
import { resolveHostCommand } from './host-command.js';
import { HostProcess, type HostExit, type Op } from './host-process.js';
import { MAX_REPLY_FRAME_BYTES, MAX_REQUEST_FRAME_BYTES } from './protocol.js';
import { wallTimeoutMs } from './limits.js';
import type { MemoMode } from './isolate/runner.js';
import { MemoCache, parseTrace } from './memo.js';
import { MemoVerifier, verificationCounts, type Rerun, type VerificationCounts, type VerifyTarget } from './verifier.js';
import { analyzeState, describeVerdict, type StateVerdict } from './state-analysis.js';
import { DEFAULT_HANG_GRACE_MS, DEFAULT_MAX_HOSTS, HostPool, type HostRole } from './pool.js';
import { DEFAULT_QUARANTINE, SelectorHealth, type QuarantinePolicy } from './quarantine.js';
import { CONSOLE_LINES_PER_SECOND, LineBudget } from './rate-limit.js';
import type {
  SelectOutcome,
  SelectorFailure,
  SelectorHandle,
  SelectorNode,
  SelectorCacheStatus,
  SelectorMemoization,
  SelectorRequest,
  SelectorSpec,
  SelectorStatus,
  TrialResult,
} from './types.js';

export { SelectorCompileError } from './errors.js';
export type { SelectorHandle } from './types.js';

/** Requests queued on one host beyond which new calls fail fast as `unavailable`. */
export const MAX_PENDING_PER_HOST = 10_000;
/** How long the current version of an API's selector stays compiled with no catalog loaded. */
export const PROGRAM_IDLE_MS = 60_000;
/** Time a drop request may take before the watchdog counts the host as hung. */
const HOUSEKEEPING_TIMEOUT_MS = 1000;
/** Allowance for building a locked-down realm and compiling a script, on top of its own time limits. */
const COMPILE_ALLOWANCE_MS = 3000;
/** Selector versions remembered as killing their host while loading, so they are not loaded again. */
const POISONED_KEYS = 256;
/** State-analysis verdicts remembered by code (one per distinct script). */
const VERDICTS_KEPT = 256;

/** Settings of the sandbox. */
export interface SandboxOptions {
  logger: Logger;
  /** Serving host processes at most (default 8); beyond it APIs share hosts. */
  maxHosts?: number;
  /** Failures within a window that quarantine a selector (default 5 in 10 s). */
  quarantine?: QuarantinePolicy;
  /** console.log lines per second per API that reach the log (default 20). */
  consoleLinesPerSecond?: number;
  /** CPU time a host late past a request's limit may burn without answering before it is killed (default 2 s). */
  hangGraceMs?: number;
  /**
   * Whether memoize: "auto" consults the static pre-filter first (default true). Without it the
   * realm's own record and checks decide alone, which is what the guarantee rests on.
   */
  stateAnalysis?: boolean;
  /** Told when a selector version goes into quarantine (for metrics). */
  onQuarantine?: (apiId: string, kind: SelectorFailure['kind']) => void;
  /** Told when memoization of a selector version ends: a run changed kept state, or the verifier disagreed. */
  onMemoEnded?: (apiId: string, cause: MemoEndCause) => void;
}

/** Why memoization of a version ended while it served. */
export type MemoEndCause = 'stateful' | 'mismatch';

/** A re-run for the verifier waits behind at most this many requests on its host, else it is skipped. */
const VERIFY_MAX_HOST_PENDING = 8;

/** Which process runs what, for diagnostics and tests. */
export interface SandboxHosts {
  /** Process id of each serving slot's host (null: none running). */
  slots: Array<number | null>;
  spare: number | null;
  trial: number | null;
  /** Host processes that ended other than by close(). */
  exits: number;
  /** Frames and requests written to hosts by this gateway process (batching = requests / frames). */
  written: { frames: number; requests: number };
}

class Program {
  state: 'loading' | 'ready' | 'failed' | 'dropped' = 'loading';
  readonly datasets = new Set<Dataset>();
  readonly health: SelectorHealth;
  idleTimer: NodeJS.Timeout | null = null;
  loaded!: Promise<void>;
  /** Cache counters since a memoized config of this version was first loaded (null: never). */
  memo: Pick<SelectorCacheStatus, 'hits' | 'misses' | 'refused' | 'uncacheable'> | null = null;
  /** The memoization verdict of the newest config loaded with this version. */
  memoization: SelectorMemoization = { mode: false, active: false, reason: null };
  /** Why the sandbox found this version cannot be memoized after all (when loaded, or by a run). */
  notMemoized: string | null = null;
  /** What the verifier did for this version. */
  readonly verification = verificationCounts();

  constructor(
    readonly id: number,
    readonly key: string,
    readonly apiId: string,
    readonly config: SelectorConfig,
    readonly slot: number,
    readonly policy: QuarantinePolicy,
    readonly consoleRate: number,
    /** How its realm records state for memoization (see isolate/runner.ts). */
    readonly memoMode: MemoMode,
  ) {
    this.health = new SelectorHealth(policy);
  }

  /** The P request's fields after its id. */
  payload(): string {
    const c = this.config;
    const p = this.policy;
    return `${this.id}\t${c.timeoutMs}\t${c.memoryMb}\t${p.failures}\t${p.windowMs}\t${this.consoleRate}\t${this.memoMode}\t${JSON.stringify(c.code)}`;
  }
}

class Dataset implements VerifyTarget {
  state: 'loading' | 'ready' | 'failed' = 'loading';
  released = false;

  constructor(
    readonly id: number,
    readonly program: Program,
    /** The D request's fields after its id. */
    readonly payload: string,
    /** Results of a memoized selector for this catalog and env; dropped on release. */
    public memo: MemoCache | null,
    readonly nodeIds: readonly string[],
  ) {}

  get verification(): VerificationCounts {
    return this.program.verification;
  }

  get memoized(): boolean {
    return this.memo !== null;
  }
}

interface CallOp extends Op {
  kind: 'call';
  dataset: Dataset;
  candidates: readonly number[];
  /** The candidate list's cache key when the call is traced for the cache, else null. */
  memoKey: string | null;
  startedAt: number;
  resolve: (outcome: SelectOutcome) => void;
}

interface LoadOp extends Op {
  kind: 'load';
  program: Program;
  dataset: Dataset | null;
  /** Sent to a replacement host to restore what it lost; regenerated rather than resent. */
  replay: boolean;
  done: (failure: SelectorFailure | null) => void;
}

interface VerifyOp extends Op {
  kind: 'verify';
  dataset: Dataset;
  candidates: readonly number[];
  resolve: (result: Rerun) => void;
}

interface DropOp extends Op {
  kind: 'drop';
}

interface TrialOp extends Op {
  kind: 'trial';
  startedAt: number;
  resolve: (result: TrialResult) => void;
}

type SandboxOp = CallOp | LoadOp | DropOp | TrialOp | VerifyOp;

const QUARANTINED: SelectOutcome = Object.freeze({
  ok: false as const,
  error: Object.freeze({ kind: 'quarantined' as const, message: 'the selector is quarantined after repeated failures' }),
  durationUs: 0,
});

/** Why a message was not sent: it does not fit in a request frame. */
const TOO_LARGE = `the message for the sandbox is over its ${MAX_REQUEST_FRAME_BYTES}-byte frame cap`;

function unavailable(message: string): SelectorFailure {
  return { kind: 'unavailable', message };
}

// The wire form of a candidate list, kept per array: the balance stage passes the same array for
// every request while all of an API's nodes are healthy.
const candidateKeys = new WeakMap<readonly number[], string>();

function candidateKey(candidates: readonly number[]): string {
  let key = candidateKeys.get(candidates);
  if (key === undefined) candidateKeys.set(candidates, (key = candidates.join(',')));
  return key;
}

function sinceUs(t0: number): number {
  return Math.round((performance.now() - t0) * 1000);
}

/**
 * Runs operators' selectors in sandbox host processes, never in the gateway process: whatever a
 * script does (throw, loop, exhaust memory, abort V8), other APIs keep being answered and its own
 * calls resolve with a failure. Loads compile once per API, code and limits; every call sends only
 * the request and the candidate indices.
 */
export class SelectorSandbox {
  private readonly logger: Logger;
  private readonly pool: HostPool<SandboxOp>;
  private readonly policy: QuarantinePolicy;
  private readonly consoleRate: number;
  private readonly onQuarantine: ((apiId: string, kind: SelectorFailure['kind']) => void) | null;
  private readonly onMemoEnded: ((apiId: string, cause: MemoEndCause) => void) | null;
  private readonly verifier = new MemoVerifier<Dataset>(
    (dataset, request, candidates) => this.rerun(dataset, request, candidates),
    (dataset, reason) => this.endMemo(dataset.program, reason, 'mismatch'),
  );
  private readonly programsByKey = new Map<string, Program>();
  private readonly programsById = new Map<number, Program>();
  private readonly programsBySlot = new Map<number, Set<Program>>();
  private readonly current = new Map<string, Program>();
  private readonly consoleBudgets = new Map<string, LineBudget>();
  /** Code and limits whose load crashed or hung a host: every new config version would repeat it. */
  private readonly poisoned = new Map<string, SelectorFailure>();
  private readonly verdicts = new Map<string, StateVerdict>();
  private readonly stateAnalysis: boolean;
  private seq = 0;
  private exits = 0;
  private closed = false;

  private constructor(options: SandboxOptions) {
    this.logger = options.logger;
    this.policy = options.quarantine ?? DEFAULT_QUARANTINE;
    this.consoleRate = options.consoleLinesPerSecond ?? CONSOLE_LINES_PER_SECOND;
    this.onQuarantine = options.onQuarantine ?? null;
    this.onMemoEnded = options.onMemoEnded ?? null;
    this.stateAnalysis = options.stateAnalysis ?? true;
    this.pool = new HostPool<SandboxOp>(
      {
        command: resolveHostCommand(),
        maxHosts: Math.max(1, options.maxHosts ?? DEFAULT_MAX_HOSTS),
        hangGraceMs: options.hangGraceMs ?? DEFAULT_HANG_GRACE_MS,
      },
      {
        onOk: (_h, op, runUs, positions, trace) => this.onOk(op, runUs, positions, trace),
        onFailed: (_h, op, runUs, failure) => this.onFailed(op, runUs, failure),
        onAck: (_h, op, notMemoized) => this.onAck(op, notMemoized),
        onStateful: (_h, programId, reason) => this.onStateful(programId, reason),
        onOversized: (_h, op, programId, bytes) => this.onOversized(op, programId, bytes),
        onTrial: (_h, op, result) => this.onTrial(op, result),
        onConsole: (_h, programId, dropped, lines) => this.onConsole(programId, dropped, lines),
        onExit: (host, role, unanswered, exit) => this.onExit(host, role, unanswered, exit),
      },
    );
  }

  /** Starts the sandbox with its warm spare host; rejects when a host cannot start. */
  static async start(options: SandboxOptions): Promise<SelectorSandbox> {
    const sandbox = new SelectorSandbox(options);
    try {
      await sandbox.pool.start();
    } catch (err) {
      await sandbox.close();
      throw err;
    }
    return sandbox;
  }

  /**
   * Compiles (in a host) and registers one API's selector with its node catalog and env for one
   * config version. Rejects with a SelectorCompileError when the code does not compile, defines no
   * `select`, or its top level fails. The same code and limits reuse the compiled script.
   */
  async load(spec: SelectorSpec, catalog: SelectorNode[], env: Record<string, string>): Promise<SelectorHandle> {
    if (this.closed) throw new Error('selector sandbox is closed');
    const { apiId, config } = spec;
    const { verdict, memo } = this.memoFor(config);
    const key = `${apiId}\0${config.timeoutMs}\0${config.memoryMb}\0${memo}\0${config.code}`;
    const poison = this.poisoned.get(key);
    if (poison !== undefined) throw new SelectorCompileError(poison);
    const program = this.programsByKey.get(key) ?? this.createProgram(apiId, config, key, memo);
    this.cancelIdle(program);
    const nodes = catalog.map((n) => ({ id: n.id, name: n.name, url: n.url, weight: n.weight, tags: n.tags }));
    const datasetId = ++this.seq;
    const payload = `${program.id}\t${datasetId}\t${JSON.stringify(nodes)}\t${JSON.stringify(env)}`;
    const dataset = new Dataset(datasetId, program, payload, null, nodes.map((n) => n.id));
    program.datasets.add(dataset);
    try {
      await program.loaded;
      const reason = (verdict === null ? null : describeVerdict(verdict)) ?? program.notMemoized;
      const active = memo !== 'off' && reason === null;
      program.memoization = { mode: config.memoize, active, reason };
      if (active) {
        dataset.memo = new MemoCache();
        program.memo ??= { hits: 0, misses: 0, refused: 0, uncacheable: 0 };
      }
      if (program.health.quarantined) dataset.state = 'ready';
      else await this.loadDataset(dataset);
    } catch (err) {
      program.datasets.delete(dataset);
      this.maybeIdle(program);
      const failure = isFailure(err) ? err : unavailable(err instanceof Error ? err.message : String(err));
      this.logger.warn({ apiId, ...failure }, 'selector failed to load');
      throw new SelectorCompileError(failure);
    }
    this.makeCurrent(program);
    return {
      select: (request, candidates) => this.call(dataset, request, candidates),
      release: () => this.release(dataset),
    };
  }

  /** Admin trial: compiles fresh in the trial host and runs once; never registers or quarantines. */
  trial(
    config: SelectorConfig,
    request: SelectorRequest,
    env: Record<string, string>,
    nodes: SelectorNode[],
  ): Promise<TrialResult> {
    const startedAt = performance.now();
    const host = this.closed ? null : this.pool.trial();
    if (host === null) {
      return Promise.resolve({ ok: false, picked: [], error: unavailable('no sandbox process is available'), durationUs: 0, console: [] });
    }
    const id = ++this.seq;
    const payload = {
      config: { code: config.code, timeoutMs: config.timeoutMs, memoryMb: config.memoryMb },
      request,
      env,
      nodes: nodes.map((n) => ({ id: n.id, name: n.name, url: n.url, weight: n.weight, tags: n.tags })),
    };
    return new Promise((resolve) => {
      const sent = host.send({
        kind: 'trial',
        id,
        msg: `T${id}\t${JSON.stringify(payload)}`,
        timeoutMs: wallTimeoutMs(config.timeoutMs) * 3 + COMPILE_ALLOWANCE_MS,
        resent: false,
        startedAt,
        resolve,
      });
      if (!sent) resolve({ ok: false, picked: [], error: unavailable(TOO_LARGE), durationUs: 0, console: [] });
    });
  }

  /** Runtime state of the API's current selector version, or null when none is loaded. */
  status(apiId: string): SelectorStatus | null {
    const program = this.current.get(apiId);
    if (program === undefined) return null;
    const status: SelectorStatus = { ...program.health.status(), memoization: { ...program.memoization } };
    if (program.memo !== null) {
      let entries = 0;
      for (const dataset of program.datasets) entries += dataset.memo?.entries ?? 0;
      status.cache = { ...program.memo, entries, ...program.verification };
    }
    return status;
  }

  /** Memoized answers the verifier ran again, over all selectors of this process. */
  memoVerifications(): { verified: number; mismatches: number; skipped: number } {
    return { ...this.verifier.totals };
  }

  /** Which processes serve which slot, and how many ended unexpectedly. */
  hosts(): SandboxHosts {
    return { ...this.pool.describe(), exits: this.exits, written: { ...HostProcess.written } };
  }

  /** Kills all hosts; pending calls resolve `unavailable`, pending loads reject. */
  async close(): Promise<void> {
    this.closed = true;
    for (const program of this.programsById.values()) this.cancelIdle(program);
    await this.pool.close();
  }

  /**
   * "auto": the state analysis is a pre-filter (a script it finds keeping state is not memoized, with
   * its line); one it passes is memoized `checked`: the realm records what its top level left and
   * checks it after every run. `true` is `trusted` (recorded and checked where it can be), `false` off.
   */
  private memoFor(config: SelectorConfig): { verdict: StateVerdict | null; memo: MemoMode } {
    if (config.memoize === false) return { verdict: null, memo: 'off' };
    if (config.memoize === true) return { verdict: null, memo: 'trusted' };
    if (!this.stateAnalysis) return { verdict: null, memo: 'checked' };
    const verdict = this.verdictOf(config.code);
    return { verdict, memo: verdict.stateless ? 'checked' : 'off' };
  }

  /** The state analysis of `code`, remembered per script. */
  private verdictOf(code: string): StateVerdict {
    let verdict = this.verdicts.get(code);
    if (verdict === undefined) {
      verdict = analyzeState(code);
      if (this.verdicts.size >= VERDICTS_KEPT) this.verdicts.clear();
      this.verdicts.set(code, verdict);
    }
    return verdict;
  }

  private createProgram(apiId: string, config: SelectorConfig, key: string, memo: MemoMode): Program {
    const program = new Program(++this.seq, key, apiId, config, this.pool.slotFor(apiId), this.policy, this.consoleRate, memo);
    this.programsByKey.set(key, program);
    this.programsById.set(program.id, program);
    let inSlot = this.programsBySlot.get(program.slot);
    if (!inSlot) this.programsBySlot.set(program.slot, (inSlot = new Set()));
    inSlot.add(program);
    program.loaded = new Promise<void>((resolve, reject) => {
      this.sendLoad(program, null, false, (failure) => {
        if (failure === null) {
          program.state = 'ready';
          resolve();
        } else {
          program.state = 'failed';
          this.forget(program);
          reject(failure);
        }
      });
    });
    program.loaded.catch(() => {});
    return program;
  }

  private loadDataset(dataset: Dataset): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sendLoad(dataset.program, dataset, false, (failure) => {
        if (failure === null) {
          dataset.state = 'ready';
          resolve();
        } else {
          dataset.state = 'failed';
          reject(failure);
        }
      });
    });
  }

  private sendLoad(program: Program, dataset: Dataset | null, replay: boolean, done: LoadOp['done']): void {
    const host = replay ? this.pool.hostOf(program.slot) : this.hostForSlot(program.slot);
    if (host === null) return done(unavailable('no sandbox process is available'));
    const id = ++this.seq;
    const timeoutMs = wallTimeoutMs(program.config.timeoutMs);
    const sent = host.send({
      kind: 'load',
      id,
      msg: dataset === null ? `P${id}\t${program.payload()}` : `D${id}\t${dataset.payload}`,
      timeoutMs: dataset === null ? timeoutMs * 2 + COMPILE_ALLOWANCE_MS : timeoutMs + COMPILE_ALLOWANCE_MS,
      resent: false,
      program,
      dataset,
      replay,
      done,
    });
    if (!sent) done(unavailable(TOO_LARGE));
  }

  private call(dataset: Dataset, request: SelectorRequest, candidates: readonly number[]): SelectOutcome | Promise<SelectOutcome> {
    const program = dataset.program;
    const health = program.health;
    if (health.quarantined) {
      health.skip();
      return Promise.resolve(QUARANTINED);
    }
    if (this.closed) return Promise.resolve({ ok: false, error: unavailable('the selector sandbox is closed'), durationUs: 0 });
    health.calls++;
    if (dataset.released) return Promise.resolve(this.callFailed(program, unavailable('the selector was released'), 0));
    const cands = candidateKey(candidates);
    const memo = dataset.memo;
    let memoKey: string | null = null;
    if (memo !== null) {
      const leaf = memo.lookup(request, cands);
      if (leaf !== null) {
        this.verifier.onHit(dataset, leaf, ++program.memo!.hits, request, candidates);
        return leaf.hit!;
      }
      program.memo!.misses++;
      // Once full nothing more is stored, so the run need not pay for recording its reads.
      if (!memo.full) memoKey = cands;
    }
    const host = this.hostForSlot(program.slot);
    if (host === null || host.pending >= MAX_PENDING_PER_HOST) {
      const message = host === null ? 'no sandbox process is available' : 'the sandbox process is overloaded';
      return Promise.resolve(this.callFailed(program, unavailable(message), 0));
    }
    const id = ++this.seq;
    const msg = `${memoKey === null ? 'C' : 'M'}${id}\t${dataset.id}\t${cands}\t${JSON.stringify(request)}`;
    const startedAt = performance.now();
    // A script may be rebuilt inside the call after it hit its memory limit: top level, bind, call.
    const timeoutMs = wallTimeoutMs(program.config.timeoutMs) * 3;
    return new Promise((resolve) => {
      const sent = host.send({ kind: 'call', id, msg, timeoutMs, resent: false, dataset, candidates, memoKey, startedAt, resolve });
      if (!sent) resolve({ ok: false, error: unavailable(TOO_LARGE), durationUs: 0 });
    });
  }

  /** Records a failure of a call and builds its outcome. */
  private callFailed(program: Program, failure: SelectorFailure, durationUs: number, runUs?: number, atOnce = false): SelectOutcome {
    const quarantinedNow = program.health.fail(failure, Date.now(), atOnce);
    this.logger.warn({ apiId: program.apiId, ...failure }, 'selector call failed');
    if (quarantinedNow) {
      this.logger.error({ apiId: program.apiId, kind: failure.kind }, 'selector quarantined');
      this.onQuarantine?.(program.apiId, failure.kind);
    }
    return runUs === undefined ? { ok: false, error: failure, durationUs } : { ok: false, error: failure, durationUs, runUs };
  }

  private release(dataset: Dataset): void {
    if (dataset.released) return;
    dataset.released = true;
    dataset.memo = null;
    const program = dataset.program;
    program.datasets.delete(dataset);
    if (dataset.state === 'ready' && program.state === 'ready') this.sendDrop(program.slot, `d`, dataset.id);
    this.maybeIdle(program);
  }

  private sendDrop(slot: number, tag: 'd' | 'p', target: number): void {
    const host = this.pool.hostOf(slot);
    if (host === null || this.closed) return;
    const id = ++this.seq;
    host.send({ kind: 'drop', id, msg: `${tag}${id}\t${target}`, timeoutMs: HOUSEKEEPING_TIMEOUT_MS, resent: false });
  }

  private makeCurrent(program: Program): void {
    const previous = this.current.get(program.apiId);
    this.current.set(program.apiId, program);
    if (previous !== undefined && previous !== program) this.maybeIdle(previous);
  }

  /** Drops a version nobody uses: at once when superseded, after PROGRAM_IDLE_MS when current. */
  private maybeIdle(program: Program): void {
    if (program.datasets.size > 0 || program.state !== 'ready' || program.idleTimer !== null) return;
    if (this.current.get(program.apiId) !== program) return this.dropProgram(program);
    program.idleTimer = setTimeout(() => {
      program.idleTimer = null;
      if (program.datasets.size === 0) this.dropProgram(program);
    }, PROGRAM_IDLE_MS);
    program.idleTimer.unref();
  }

  private cancelIdle(program: Program): void {
    if (program.idleTimer !== null) clearTimeout(program.idleTimer);
    program.idleTimer = null;
  }

  private dropProgram(program: Program): void {
    this.cancelIdle(program);
    program.state = 'dropped';
    this.forget(program);
    if (this.current.get(program.apiId) === program) this.current.delete(program.apiId);
    this.sendDrop(program.slot, 'p', program.id);
  }

  private forget(program: Program): void {
    if (this.programsByKey.get(program.key) === program) this.programsByKey.delete(program.key);
    this.programsById.delete(program.id);
    this.programsBySlot.get(program.slot)?.delete(program);
  }

  /** The slot's host; a new one (the spare) gets every live selector of the slot loaded first. */
  private hostForSlot(slot: number): HostProcess<SandboxOp> | null {
    const existing = this.pool.hostOf(slot);
    if (existing !== null && existing.alive) return existing;
    if (this.closed) return null;
    const host = this.pool.attach(slot);
    if (host !== null) this.replay(slot);
    return host;
  }

  private replay(slot: number): void {
    for (const program of this.programsBySlot.get(slot) ?? []) {
      if (program.state !== 'ready' || program.health.quarantined) continue;
      const lost = (failure: SelectorFailure | null) => {
        if (failure === null || program.health.quarantined) return;
        const reason = { ...failure, message: `reloading after a sandbox restart failed: ${failure.message}` };
        this.callFailed(program, reason, 0, undefined, true);
      };
      this.sendLoad(program, null, true, lost);
      for (const dataset of program.datasets) {
        if (dataset.state === 'ready' && !dataset.released) this.sendLoad(program, dataset, true, lost);
      }
    }
  }

  private onOk(op: SandboxOp, runUs: number, positions: number[] | null, trace: string | null): void {
    if (op.kind === 'verify') {
      const picked = positions?.every((p) => p < op.candidates.length) ? positions.map((p) => op.candidates[p]!) : null;
      if (picked === null) return op.resolve({ ok: false, failure: { kind: 'bad-result', message: 'the sandbox returned an invalid node position' } });
      return op.resolve({ ok: true, picked, cacheable: trace !== null });
    }
    if (op.kind !== 'call') return this.onFailed(op, runUs, unavailable('unexpected answer from the sandbox'));
    const candidates = op.candidates;
    if (positions !== null) {
      for (let i = 0; i < positions.length; i++) {
        const p = positions[i]!;
        if (p >= candidates.length) {
          positions = null;
          break;
        }
        positions[i] = candidates[p]!;
      }
    }
    if (positions === null) {
      const failure: SelectorFailure = { kind: 'bad-result', message: 'the sandbox returned an invalid node position' };
      return op.resolve(this.callFailed(op.dataset.program, failure, sinceUs(op.startedAt), runUs));
    }
    if (op.memoKey !== null) this.remember(op, positions, trace);
    op.resolve({ ok: true, picked: positions, durationUs: sinceUs(op.startedAt), runUs });
  }

  /** Stores the picks of a traced run when it was cacheable and its handle is still loaded. */
  private remember(op: CallOp, picked: readonly number[], trace: string | null): void {
    const memo = op.dataset.memo;
    const stats = op.dataset.program.memo;
    if (memo === null || stats === null) return;
    const reads = trace === null ? null : parseTrace(trace);
    if (reads === null) {
      stats.uncacheable++;
      return;
    }
    if (memo.insert(op.memoKey!, reads, picked) === 'full') stats.refused++;
  }

  private onFailed(op: SandboxOp, runUs: number, failure: SelectorFailure): void {
    switch (op.kind) {
      case 'call': {
        const program = op.dataset.program;
        if (failure.kind === 'quarantined') {
          // The host stopped running it after the same failures the gateway counts; agree with it.
          if (!program.health.quarantined) this.callFailed(program, failure, 0, undefined, true);
          else program.health.skip(true);
          return op.resolve({ ok: false, error: failure, durationUs: sinceUs(op.startedAt), runUs });
        }
        return op.resolve(this.callFailed(program, failure, sinceUs(op.startedAt), runUs));
      }
      case 'load':
        return op.done(failure);
      case 'trial':
        return op.resolve({ ok: false, picked: [], error: failure, durationUs: runUs, console: [] });
      case 'verify':
        // A re-run's failure is the verifier's evidence, not a request's failure.
        return op.resolve({ ok: false, failure });
      case 'drop':
        return;
    }
  }

  /**
   * The host wrote a frame over the cap (skipped, never held whole): the selector's failure, and
   * quarantined at once, as a crash is.
   */
  private onOversized(op: SandboxOp | null, programId: number | null, bytes: number): void {
    const failure: SelectorFailure = { kind: 'bad-result', message: `its sandbox wrote an answer of ${bytes} bytes, over the ${MAX_REPLY_FRAME_BYTES}-byte cap` };
    if (op === null) {
      const program = programId === null ? undefined : this.programsById.get(programId);
      if (program !== undefined) this.callFailed(program, failure, 0, undefined, true);
      return;
    }
    switch (op.kind) {
      case 'call':
        return op.resolve(this.callFailed(op.dataset.program, failure, sinceUs(op.startedAt), undefined, true));
      case 'verify':
        this.callFailed(op.dataset.program, failure, 0, undefined, true);
        return op.resolve({ ok: false, failure });
      case 'load':
        return op.done(failure);
      case 'trial':
        return op.resolve({ ok: false, picked: [], error: failure, durationUs: sinceUs(op.startedAt), console: [] });
      case 'drop':
        return;
    }
  }

  /** A run showed the version keeps state (or the host could not keep checking it): memoization ends. */
  private onStateful(programId: number, reason: string): void {
    const program = this.programsById.get(programId);
    if (program !== undefined) this.endMemo(program, reason, 'stateful');
  }

  /** Ends memoization of a version at once: its records are dropped and every later call runs. */
  private endMemo(program: Program, reason: string, cause: MemoEndCause): void {
    if (program.notMemoized !== null) return;
    program.notMemoized = reason;
    program.memoization = { ...program.memoization, active: false, reason };
    for (const dataset of program.datasets) dataset.memo = null;
    this.logger.warn({ apiId: program.apiId, reason, cause }, 'selector memoization ended');
    this.onMemoEnded?.(program.apiId, cause);
  }

  /** Sends one traced re-run of a memoized answer for the verifier; null when its host cannot take one now. */
  private rerun(dataset: Dataset, request: SelectorRequest, candidates: readonly number[]): Promise<Rerun> | null {
    const program = dataset.program;
    if (this.closed || dataset.released || program.health.quarantined) return null;
    const host = this.pool.hostOf(program.slot);
    if (host === null || !host.alive || host.pending >= VERIFY_MAX_HOST_PENDING) return null;
    const id = ++this.seq;
    const msg = `M${id}\t${dataset.id}\t${candidateKey(candidates)}\t${JSON.stringify(request)}`;
    return new Promise((resolve) => {
      const sent = host.send({ kind: 'verify', id, msg, timeoutMs: wallTimeoutMs(program.config.timeoutMs) * 3, resent: false, dataset, candidates, resolve });
      if (!sent) resolve({ ok: false, failure: unavailable(TOO_LARGE) });
    });
  }

  private onAck(op: SandboxOp, notMemoized: string | null): void {
    if (op.kind === 'load') {
      if (op.dataset === null && notMemoized !== null && op.program.notMemoized === null) op.program.notMemoized = notMemoized;
      op.done(null);
    }
    else if (op.kind !== 'drop') this.onFailed(op, 0, unavailable('unexpected answer from the sandbox'));
  }

  private onTrial(op: SandboxOp, result: TrialResult): void {
    if (op.kind === 'trial') op.resolve(result);
    else this.onFailed(op, 0, unavailable('unexpected answer from the sandbox'));
  }

  private onConsole(programId: number, dropped: number, lines: string[]): void {
    const program = this.programsById.get(programId);
    if (program === undefined) return;
    let budget = this.consoleBudgets.get(program.apiId);
    if (!budget) this.consoleBudgets.set(program.apiId, (budget = new LineBudget(this.consoleRate)));
    const now = Date.now();
    let lost = dropped;
    for (const line of lines) {
      if (budget.take(now)) this.logger.info({ apiId: program.apiId, line }, 'selector console');
      else lost++;
    }
    program.health.consoleDropped += lost;
  }

  private onExit(host: HostProcess<SandboxOp>, role: HostRole | null, unanswered: SandboxOp[], exit: HostExit): void {
    if (this.closed || exit.killedFor === 'close') {
      for (const op of unanswered) this.settle(op, unavailable('the selector sandbox is closed'), true);
      return;
    }
    this.exits++;
    this.logger.warn(
      {
        pid: host.pid,
        role: role?.kind ?? null,
        code: exit.code,
        signal: exit.signal,
        killedFor: exit.killedFor,
        unanswered: unanswered.length,
        stderr: exit.stderrTail.trim().slice(-1000) || undefined,
      },
      'selector sandbox process exited',
    );
    let rest = unanswered;
    // Answers are written synchronously as each request completes, in order: everything before the
    // oldest unanswered request got its answer, so that request is the one that took the host down.
    const blamable = exit.killedFor === null || exit.killedFor === 'hang';
    if (blamable && exit.wasReady && exit.written > 0 && unanswered.length > 0) {
      this.blame(unanswered[0]!, exit);
      rest = unanswered.slice(1);
    }
    if (role === null || role.kind === 'spare') {
      for (const op of rest) this.settle(op, unavailable('its sandbox process exited'));
      return;
    }
    const next =
      role.kind === 'trial'
        ? rest.length > 0
          ? this.pool.trial()
          : null
        : rest.length > 0 || this.hasLivePrograms(role.slot)
          ? this.hostForSlot(role.slot)
          : null;
    for (const op of rest) {
      if (op.kind === 'load' && op.replay) continue; // the replacement got a fresh replay
      if (op.kind === 'drop') continue;
      if (op.kind === 'verify') {
        op.resolve({ ok: false, failure: unavailable('its sandbox process exited') });
        continue;
      }
      if (op.kind === 'call' && op.dataset.program.health.quarantined) {
        op.dataset.program.health.skip(true);
        op.resolve(QUARANTINED);
      } else if (op.resent || next === null) {
        this.settle(op, unavailable(op.resent ? 'its sandbox process exited twice' : 'no sandbox process is available'));
      } else {
        op.resent = true;
        if (!next.send(op)) this.settle(op, unavailable(TOO_LARGE));
      }
    }
  }

  private hasLivePrograms(slot: number): boolean {
    for (const program of this.programsBySlot.get(slot) ?? []) {
      if (program.state === 'ready' && !program.health.quarantined) return true;
    }
    return false;
  }

  /** The request that was running when its host died or hung: it failed, and its selector is quarantined. */
  private blame(op: SandboxOp, exit: HostExit): void {
    const failure: SelectorFailure =
      exit.killedFor === 'hang'
        ? { kind: 'timeout', message: `the script did not stop at its time limit; its sandbox process was killed` }
        : { kind: 'crash', message: `the sandbox process died running the script (${crashCause(exit)})` };
    switch (op.kind) {
      case 'call':
        return op.resolve(this.callFailed(op.dataset.program, failure, sinceUs(op.startedAt), undefined, true));
      case 'load':
        if (op.replay || op.dataset !== null) this.callFailed(op.program, failure, 0, undefined, true);
        else this.poison(op.program.key, failure);
        if (!op.replay) op.done(failure);
        return;
      case 'trial':
        return op.resolve({ ok: false, picked: [], error: failure, durationUs: sinceUs(op.startedAt), console: [] });
      case 'verify':
        this.callFailed(op.dataset.program, failure, 0, undefined, true);
        return op.resolve({ ok: false, failure });
      case 'drop':
        return;
    }
  }

  private poison(key: string, failure: SelectorFailure): void {
    this.poisoned.set(key, failure);
    if (this.poisoned.size > POISONED_KEYS) this.poisoned.delete(this.poisoned.keys().next().value!);
  }

  /** Fails a request that got no answer; `quiet` on shutdown, where it is neither logged nor counted. */
  private settle(op: SandboxOp, failure: SelectorFailure, quiet = false): void {
    switch (op.kind) {
      case 'call':
        if (quiet) return op.resolve({ ok: false, error: failure, durationUs: sinceUs(op.startedAt) });
        return op.resolve(this.callFailed(op.dataset.program, failure, sinceUs(op.startedAt)));
      case 'load':
        return op.done(failure);
      case 'trial':
        return op.resolve({ ok: false, picked: [], error: failure, durationUs: sinceUs(op.startedAt), console: [] });
      case 'verify':
        return op.resolve({ ok: false, failure: unavailable(failure.message) });
      case 'drop':
        return;
    }
  }
}

/** The signal or exit code, and V8's own reason when it printed one. */
function crashCause(exit: HostExit): string {
  const how = exit.signal ?? `exit code ${exit.code}`;
  const line = exit.stderrTail.split('\n').find((l) => /fatal|out of memory|invalid (table |array )?(size|length)|CALL_AND_RETRY/i.test(l));
  return line ? `${how}: ${line.trim().slice(0, 200)}` : how;
}

function isFailure(value: unknown): value is SelectorFailure {
  return typeof value === 'object' && value !== null && 'kind' in value && 'message' in value;
}
