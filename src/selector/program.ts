import { performance } from 'node:perf_hooks';
import type { SelectorConfig } from '../model/selector.js';
import type { Op } from './host-process.js';
import type { MemoMode } from './isolate/runner.js';
import type { MemoCache } from './memo.js';
import { MAX_REQUEST_FRAME_BYTES } from './protocol.js';
import { SelectorHealth, type QuarantinePolicy } from './quarantine.js';
import type { SelectOutcome, SelectorCacheStatus, SelectorFailure, SelectorMemoization, TrialResult } from './types.js';
import { verificationCounts, type Rerun, type VerificationCounts, type VerifyTarget } from './verifier.js';

/**
 * One selector version as the gateway keeps it: compiled once per save (the API's revision), code,
 * limits and memoization mode, in the host of its slot, with the catalogs (Datasets) the config
 * versions using it loaded. Its health decides its quarantine; its memo counters and verdict are
 * what the admin API shows.
 */
export class Program {
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
    policy: QuarantinePolicy,
    readonly consoleRate: number,
    /** How its realm records state for memoization (see isolate/runner.ts). */
    readonly memoMode: MemoMode,
  ) {
    this.health = new SelectorHealth(policy);
  }

  /** The P request's fields after its id. */
  payload(): string {
    const c = this.config;
    return `${this.id}\t${c.timeoutMs}\t${c.memoryMb}\t${this.consoleRate}\t${this.memoMode}\t${JSON.stringify(c.code)}`;
  }
}

/** One catalog and env of a Program (one config version), with its memoized results. */
export class Dataset implements VerifyTarget {
  state: 'loading' | 'ready' | 'failed' = 'loading';
  released = false;

  constructor(
    readonly id: number,
    readonly program: Program,
    /** The D request's fields after its id. */
    readonly payload: string,
    /** Results of a memoized selector for this catalog and env; dropped on release or when memoization ends. */
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

/** A call of a loaded selector. */
export interface CallOp extends Op {
  kind: 'call';
  dataset: Dataset;
  candidates: readonly number[];
  /** The candidate list's cache key when the call is traced for the cache, else null. */
  memoKey: string | null;
  startedAt: number;
  resolve: (outcome: SelectOutcome) => void;
}

/** A re-run of a memoized answer for the verifier. */
export interface VerifyOp extends Op {
  kind: 'verify';
  dataset: Dataset;
  candidates: readonly number[];
  resolve: (result: Rerun) => void;
}

/** Compiling a program (dataset null) or giving it a catalog. */
export interface LoadOp extends Op {
  kind: 'load';
  program: Program;
  dataset: Dataset | null;
  /** Sent to a replacement host to restore what it lost; regenerated rather than resent. */
  replay: boolean;
  done: (failure: SelectorFailure | null) => void;
}

/** Dropping a catalog or a program, or telling the host a program is quarantined. */
export interface HousekeepingOp extends Op {
  kind: 'housekeeping';
}

/** An admin trial in the trial host. */
export interface TrialOp extends Op {
  kind: 'trial';
  startedAt: number;
  resolve: (result: TrialResult) => void;
}

/** Every request the gateway sends to a host. */
export type SandboxOp = CallOp | VerifyOp | LoadOp | HousekeepingOp | TrialOp;

/** The answer of every call of a quarantined version (not run). */
export const QUARANTINED: SelectOutcome = Object.freeze({
  ok: false as const,
  error: Object.freeze({
    kind: 'quarantined' as const,
    message: 'the selector is quarantined after repeated failures',
  }),
  durationUs: 0,
});

/** Why a message was not sent: it does not fit in a request frame. */
export const TOO_LARGE = `the message for the sandbox is over its ${MAX_REQUEST_FRAME_BYTES}-byte frame cap`;

/** A failure that is no one's doing: no sandbox could take the request. */
export function unavailable(message: string): SelectorFailure {
  return { kind: 'unavailable', message };
}

/** Microseconds since `t0` (a performance.now() reading). */
export function sinceUs(t0: number): number {
  return Math.round((performance.now() - t0) * 1000);
}

// The wire form of a candidate list, kept per array: the balance stage passes the same array for
// every request while all of an API's nodes are healthy.
const candidateKeys = new WeakMap<readonly number[], string>();

/** "3,0,7" for [3, 0, 7], computed once per array. */
export function candidateKey(candidates: readonly number[]): string {
  let key = candidateKeys.get(candidates);
  if (key === undefined) candidateKeys.set(candidates, (key = candidates.join(',')));
  return key;
}

/** Whether a rejection value is a SelectorFailure. */
export function isFailure(value: unknown): value is SelectorFailure {
  return typeof value === 'object' && value !== null && 'kind' in value && 'message' in value;
}
