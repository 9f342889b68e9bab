import type { MemoLeaf } from './memo.js';
import type { SelectorFailure, SelectorRequest } from './types.js';

/**
 * The runtime check behind memoization: a sample of the answers given from the memo is run again
 * in the sandbox, off the request path (the request has its answer already), and compared. A
 * memoized answer is exact by construction (the realm has no clock or randomness the trace misses,
 * and a run that changes kept state ends memoization); this is the safety net for what that
 * construction could still miss, such as an engine-dependent result. Any mismatch ends
 * memoization for that selector version at once.
 *
 * What is sampled: the first FIRST_HITS_VERIFIED hits of every new entry (memo.ts), then 1 in
 * VERIFY_EVERY hits of the version, at most one of those per VERIFY_MIN_INTERVAL_MS. A hit costs a
 * counter and, when sampled, one enqueue.
 */

/** After an entry's first hits, one hit in this many (a power of two) is re-run. */
export const VERIFY_EVERY = 256;
/**
 * Those later samples of one version at most this often (per gateway process). A re-run is a round
 * trip to the host that wakes two processes: at 20,000 hits a second, 1 in 256 alone was about 80
 * re-runs a second, which cost the memoized API 8 % of its CPU per request.
 */
export const VERIFY_MIN_INTERVAL_MS = 100;
/** Re-runs in flight at most, over all selectors of a gateway process; further samples are dropped. */
export const MAX_VERIFICATIONS_IN_FLIGHT = 32;

/** A re-run's result: its picks (catalog indices) and whether it stayed cacheable, or its failure. */
export type Rerun =
  { ok: true; picked: readonly number[]; cacheable: boolean } | { ok: false; failure: SelectorFailure };

/** The selector version a hit came from, as the verifier needs it. */
export interface VerifyTarget {
  /** Counters shown in the admin API (status.cache). */
  readonly verification: VerificationCounts;
  /** Node ids by catalog index, to say what differed. */
  readonly nodeIds: readonly string[];
  /** False once memoization has ended (late re-runs are then ignored). */
  readonly memoized: boolean;
}

/** What the verifier did for one selector version. */
export interface VerificationCounts {
  /** Re-runs compared with the recorded answer. */
  verified: number;
  /** Re-runs whose answer differed (memoization ended at the first). */
  mismatches: number;
  /** Samples not re-run: too many in flight, or the sandbox busy. */
  skipped: number;
}

/** New counters. */
export function verificationCounts(): VerificationCounts {
  return { verified: 0, mismatches: 0, skipped: 0 };
}

/**
 * Samples memo hits and compares their re-runs. `rerun` sends one traced call for the target to the
 * sandbox (null when it cannot take one now); `mismatch` ends memoization with the reason.
 */
export class MemoVerifier<T extends VerifyTarget> {
  private inFlight = 0;
  /** When each version's last later sample (after the first hits) was taken. */
  private readonly lastLater = new WeakMap<T, number>();
  /** Re-runs over all selectors, for the bench output and diagnostics. */
  readonly totals = { verified: 0, mismatches: 0, skipped: 0 };

  constructor(
    private readonly rerun: (
      target: T,
      request: SelectorRequest,
      candidates: readonly number[],
    ) => Promise<Rerun> | null,
    private readonly mismatch: (target: T, reason: string) => void,
    private readonly minIntervalMs = VERIFY_MIN_INTERVAL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Called on every memo hit: `hits` is the version's hit count after this one. */
  onHit(target: T, leaf: MemoLeaf, hits: number, request: SelectorRequest, candidates: readonly number[]): void {
    if (leaf.unverified > 0) leaf.unverified--;
    else if ((hits & (VERIFY_EVERY - 1)) !== 0 || !this.laterDue(target)) return;
    this.sample(target, leaf, request, candidates);
  }

  /** Whether a later sample of this version is due (none in the last minIntervalMs); if so, it counts as taken. */
  private laterDue(target: T): boolean {
    const now = this.now();
    const last = this.lastLater.get(target);
    if (last !== undefined && now - last < this.minIntervalMs) return false;
    this.lastLater.set(target, now);
    return true;
  }

  private sample(target: T, leaf: MemoLeaf, request: SelectorRequest, candidates: readonly number[]): void {
    const recorded = leaf.hit;
    if (recorded === null || !recorded.ok) return;
    const running = this.inFlight < MAX_VERIFICATIONS_IN_FLIGHT ? this.rerun(target, request, candidates) : null;
    if (running === null) {
      target.verification.skipped++;
      this.totals.skipped++;
      return;
    }
    this.inFlight++;
    void running.then((result) => {
      this.inFlight--;
      if (!target.memoized) return;
      const reason = differs(recorded.picked, result, target.nodeIds);
      if (reason === undefined) {
        target.verification.skipped++;
        this.totals.skipped++;
        return;
      }
      target.verification.verified++;
      this.totals.verified++;
      if (reason === null) return;
      target.verification.mismatches++;
      this.totals.mismatches++;
      this.mismatch(target, reason);
    });
  }
}

/** Failures that say nothing about the script's answer: the sandbox was busy, gone or out of memory. */
const INCONCLUSIVE = new Set<SelectorFailure['kind']>(['unavailable', 'timeout', 'memory', 'quarantined']);

/** Why a re-run contradicts the recorded picks, null when it agrees, undefined when it proves nothing. */
function differs(recorded: readonly number[], result: Rerun, nodeIds: readonly string[]): string | null | undefined {
  if (!result.ok) {
    if (INCONCLUSIVE.has(result.failure.kind)) return undefined;
    return `the verifier ran a recorded request again and it failed (${result.failure.kind}: ${result.failure.message})`;
  }
  if (!sameList(recorded, result.picked)) {
    return `the verifier ran a recorded request again and got [${names(result.picked, nodeIds)}] where the record says [${names(recorded, nodeIds)}]`;
  }
  if (!result.cacheable)
    return 'the verifier ran a recorded request again and it read the clock, randomness or the console this time';
  return null;
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function names(picked: readonly number[], nodeIds: readonly string[]): string {
  return picked.map((i) => nodeIds[i] ?? String(i)).join(', ');
}
