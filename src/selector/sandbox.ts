import type { Logger } from 'pino';
import type { SelectorBudget } from '../model/selector-budget.js';
import type { SelectorConfig } from '../model/selector.js';
import { HostExits } from './blame.js';
import { Calls } from './calls.js';
import { ConsoleSink } from './console-sink.js';
import { SelectorCompileError } from './errors.js';
import { resolveHostCommand } from './host-command.js';
import { HostProcess } from './host-process.js';
import { MemoModes } from './memo-mode.js';
import { DEFAULT_HANG_GRACE_MS, DEFAULT_MAX_HOSTS, HostPool } from './pool.js';
import { unavailable, type Dataset, type Program, type SandboxOp } from './program.js';
import { Programs } from './programs.js';
import { MAX_REPLY_FRAME_BYTES } from './protocol.js';
import { DEFAULT_QUARANTINE, FailureRecorder, type QuarantinePolicy } from './quarantine.js';
import { CONSOLE_LINES_PER_SECOND } from './rate-limit.js';
import { SlotLink } from './slots.js';
import { runTrial } from './trials.js';
import type {
  SelectorFailure,
  SelectorHandle,
  SelectorNode,
  SelectorRequest,
  SelectorSpec,
  SelectorStatus,
  TrialResult,
} from './types.js';
import { MemoVerifier } from './verifier.js';

export { SelectorCompileError } from './errors.js';
export type { SelectorHandle } from './types.js';
export { MAX_PENDING_PER_HOST } from './calls.js';
export { PROGRAM_IDLE_MS } from './programs.js';

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
  /**
   * The selector budget of this process (src/model/selector-budget.ts). The config's selectors are
   * held to it when a snapshot is compiled; the sandbox holds every live version (those of configs
   * still finishing requests, and idle ones, too) to twice it, dropping idle and superseded versions
   * first. Absent: no bound.
   */
  selectorBudget?: SelectorBudget;
  /** Told when a selector version goes into quarantine (for metrics). */
  onQuarantine?: (apiId: string, kind: SelectorFailure['kind']) => void;
  /** Told when memoization of a selector version ends: a run changed kept state, or the verifier disagreed. */
  onMemoEnded?: (apiId: string, cause: MemoEndCause) => void;
}

/** Why memoization of a version ended while it served. */
export type MemoEndCause = 'stateful' | 'mismatch';

/** Which process runs what, for diagnostics and tests. */
export interface SandboxHosts {
  /** Process id of each serving slot's host (null: none running). */
  slots: Array<number | null>;
  spare: number | null;
  trial: number | null;
  /** Host processes that ended other than by close(). */
  exits: number;
  /** Of those, ended by a signal the gateway did not send (nobody blamed on a first such death). */
  killedFromOutside: number;
  /** Frames and requests written to hosts by this gateway process (batching = requests / frames). */
  written: { frames: number; requests: number };
  /** Selector versions it holds: loading, serving, idle, or kept for requests of an older config. */
  versions: number;
}

/**
 * Runs operators' selectors in sandbox host processes, never in the gateway process: whatever a
 * script does (throw, loop, exhaust memory, abort V8), other APIs keep being answered and its own
 * calls resolve with a failure. This class wires the parts, each in its own file: the versions and
 * their catalogs (programs.ts), the call path (calls.ts), memoization (memo-mode.ts, memo.ts,
 * verifier.ts), quarantine (quarantine.ts), blame when a host ends (blame.ts), the requests to each
 * slot's host and reloading a replacement (slots.ts, replay.ts), console lines (console-sink.ts) and
 * admin trials (trials.ts).
 */
export class SelectorSandbox {
  private readonly logger: Logger;
  private readonly pool: HostPool<SandboxOp>;
  private readonly consoleRate: number;
  private readonly onQuarantine: SandboxOptions['onQuarantine'] | null;
  private readonly onMemoEnded: SandboxOptions['onMemoEnded'] | null;
  private readonly programs: Programs;
  private readonly modes: MemoModes;
  private readonly failures: FailureRecorder<Program>;
  private readonly verifier: MemoVerifier<Dataset>;
  private readonly calls: Calls;
  private readonly console: ConsoleSink;
  private readonly slots: SlotLink;
  private exits!: HostExits;
  private seq = 0;
  closed = false;

  private constructor(options: SandboxOptions) {
    this.logger = options.logger;
    this.consoleRate = options.consoleLinesPerSecond ?? CONSOLE_LINES_PER_SECOND;
    this.onQuarantine = options.onQuarantine ?? null;
    this.onMemoEnded = options.onMemoEnded ?? null;
    this.modes = new MemoModes(options.stateAnalysis ?? true);
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
        onTrial: (_h, op, result) =>
          op.kind === 'trial'
            ? op.resolve(result)
            : this.onFailed(op, 0, unavailable('unexpected answer from the sandbox')),
        onConsole: (_h, programId, dropped, lines) => this.onConsole(programId, dropped, lines),
        onExit: (host, role, unanswered, exit) => this.exits.onExit(host, role, unanswered, exit),
      },
    );
    this.console = new ConsoleSink(this.logger, this.consoleRate);
    this.slots = new SlotLink(this.pool, {
      nextId: () => ++this.seq,
      isClosed: () => this.closed,
      programs: () => this.programs,
      failures: () => this.failures,
    });
    this.programs = new Programs(
      {
        nextId: () => ++this.seq,
        slotFor: (apiId) => this.pool.slotFor(apiId),
        sendLoad: (program, dataset, replay, done) => this.slots.sendLoad(program, dataset, replay, done),
        sendDrop: (slot, tag, target) => this.slots.sendHousekeeping(slot, `${tag}`, target),
      },
      options.quarantine ?? DEFAULT_QUARANTINE,
      this.consoleRate,
      options.selectorBudget === undefined
        ? null
        : {
            programs: options.selectorBudget.programs * 2,
            memoryMb: options.selectorBudget.memoryMb * 2,
            ...(options.selectorBudget.memoryDerived ? { memoryDerived: true } : {}),
          },
    );
    this.failures = new FailureRecorder<Program>(this.logger, (program, kind) => {
      this.onQuarantine?.(program.apiId, kind);
      this.slots.sendHousekeeping(program.slot, 'q', program.id);
    });
    this.verifier = new MemoVerifier<Dataset>(
      (dataset, request, candidates) => this.calls.rerun(dataset, request, candidates),
      (dataset, reason) => this.endMemo(dataset.program, reason, 'mismatch'),
    );
    this.exits = new HostExits(this.logger, this.pool, this.programs, this.failures, {
      isClosed: () => this.closed,
      hostForSlot: (slot) => this.slots.hostForSlot(slot),
    });
    this.calls = new Calls(
      {
        isClosed: () => this.closed,
        nextId: () => ++this.seq,
        hostForSlot: (slot) => this.slots.hostForSlot(slot),
        hostOf: (slot) => this.pool.hostOf(slot),
      },
      this.failures,
      this.verifier,
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
   * `select`, or its top level fails. The same save, code and limits reuse the compiled script.
   */
  async load(spec: SelectorSpec, catalog: SelectorNode[], env: Record<string, string>): Promise<SelectorHandle> {
    if (this.closed) throw new Error('selector sandbox is closed');
    const { memo, refused } = this.modes.of(spec.config);
    let dataset: Dataset;
    try {
      dataset = await this.programs.load({ ...spec, revision: spec.revision ?? '' }, memo, refused, catalog, env);
    } catch (err) {
      const failure = err as SelectorFailure;
      this.logger.warn({ apiId: spec.apiId, ...failure }, 'selector failed to load');
      throw new SelectorCompileError(failure);
    }
    return {
      select: (request, candidates) => this.calls.call(dataset, request, candidates),
      release: () => this.programs.release(dataset),
    };
  }

  /** Admin trial: compiles fresh in the trial host and runs once; never registers or quarantines. */
  trial(
    config: SelectorConfig,
    request: SelectorRequest,
    env: Record<string, string>,
    nodes: SelectorNode[],
  ): Promise<TrialResult> {
    return runTrial(this.closed ? null : this.pool.trial(), ++this.seq, config, request, env, nodes);
  }

  /** Runtime state of the API's current selector version, or null when none is loaded. */
  status(apiId: string): SelectorStatus | null {
    const program = this.programs.currentOf(apiId);
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
    return {
      ...this.pool.describe(),
      exits: this.exits.count,
      killedFromOutside: this.exits.outside,
      written: { ...HostProcess.written },
      versions: this.programs.live,
    };
  }

  /** Kills all hosts; pending calls resolve `unavailable`, pending loads reject. */
  async close(): Promise<void> {
    this.closed = true;
    this.programs.stopTimers();
    await this.pool.close();
  }

  private onOk(op: SandboxOp, runUs: number, positions: number[] | null, trace: string | null): void {
    if (op.kind === 'call') return this.calls.answered(op, runUs, positions, trace);
    if (op.kind === 'verify') return this.calls.reran(op, positions, trace);
    this.onFailed(op, runUs, unavailable('unexpected answer from the sandbox'));
  }

  private onFailed(op: SandboxOp, runUs: number, failure: SelectorFailure): void {
    switch (op.kind) {
      case 'call':
        return this.calls.failed(op, runUs, failure);
      case 'verify':
        // A re-run's failure is the verifier's evidence, not a request's failure.
        return op.resolve({ ok: false, failure });
      case 'load':
        return op.done(failure);
      case 'trial':
        return op.resolve({ ok: false, picked: [], error: failure, durationUs: runUs, console: [] });
      case 'housekeeping':
        return;
    }
  }

  private onAck(op: SandboxOp, notMemoized: string | null): void {
    if (op.kind === 'load') {
      if (op.dataset === null && notMemoized !== null && op.program.notMemoized === null)
        op.program.notMemoized = notMemoized;
      op.done(null);
    } else if (op.kind !== 'housekeeping') this.onFailed(op, 0, unavailable('unexpected answer from the sandbox'));
  }

  /** A run showed the version keeps state (or the host could not keep checking it): memoization ends. */
  private onStateful(programId: number, reason: string): void {
    const program = this.programs.get(programId);
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

  /**
   * The host wrote a frame over the cap (skipped, never held whole): the selector's failure, and
   * quarantined at once, as a crash is.
   */
  private onOversized(op: SandboxOp | null, programId: number | null, bytes: number): void {
    const failure: SelectorFailure = {
      kind: 'bad-result',
      message: `its sandbox wrote an answer of ${bytes} bytes, over the ${MAX_REPLY_FRAME_BYTES}-byte cap`,
    };
    if (op === null) {
      const program = programId === null ? undefined : this.programs.get(programId);
      if (program !== undefined) this.failures.record(program, failure, 0, undefined, true);
      return;
    }
    this.exits.blame(op, failure);
  }

  private onConsole(programId: number, dropped: number, lines: string[]): void {
    const program = this.programs.get(programId);
    if (program !== undefined) this.console.lines(program, dropped, lines);
  }
}
