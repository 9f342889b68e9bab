import { performance } from 'node:perf_hooks';
import type { HostProcess } from './host-process.js';
import { wallTimeoutMs } from './limits.js';
import { parseTrace } from './memo.js';
import {
  QUARANTINED,
  TOO_LARGE,
  candidateKey,
  sinceUs,
  unavailable,
  type CallOp,
  type Dataset,
  type Program,
  type SandboxOp,
} from './program.js';
import type { FailureRecorder } from './quarantine.js';
import type { SelectOutcome, SelectorFailure, SelectorRequest } from './types.js';
import type { MemoVerifier, Rerun } from './verifier.js';

/** Requests queued on one host beyond which new calls fail fast as `unavailable`. */
export const MAX_PENDING_PER_HOST = 10_000;
/** A re-run for the verifier waits behind at most this many requests on its host, else it is skipped. */
const VERIFY_MAX_HOST_PENDING = 8;

/** What the call path needs from the sandbox. */
export interface CallLink {
  isClosed(): boolean;
  nextId(): number;
  /** The slot's live host, a replacement (the spare, with the slot's versions reloaded) when it died, or null. */
  hostForSlot(slot: number): HostProcess<SandboxOp> | null;
  /** The slot's host as it is, without attaching a new one. */
  hostOf(slot: number): HostProcess<SandboxOp> | null;
}

/**
 * One selector call, from the balance stage to the answer: a quarantined version answers at once;
 * a memoized one answers from its records when the request's reads lead to one (the verifier may
 * take a sample); otherwise the request goes to the version's host, traced when its answer can be
 * recorded, and the answer is checked (positions within the candidates) and recorded.
 */
export class Calls {
  constructor(
    private readonly link: CallLink,
    private readonly failures: FailureRecorder<Program>,
    private readonly verifier: MemoVerifier<Dataset>,
  ) {}

  /** Calls a loaded version on one request; at once when known without the sandbox, else a promise. */
  call(
    dataset: Dataset,
    request: SelectorRequest,
    candidates: readonly number[],
  ): SelectOutcome | Promise<SelectOutcome> {
    const program = dataset.program;
    const health = program.health;
    if (health.quarantined) {
      health.skip();
      return Promise.resolve(QUARANTINED);
    }
    if (this.link.isClosed())
      return Promise.resolve({ ok: false, error: unavailable('the selector sandbox is closed'), durationUs: 0 });
    health.calls++;
    if (dataset.released)
      return Promise.resolve(this.failures.record(program, unavailable('the selector was released'), 0));
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
    const host = this.link.hostForSlot(program.slot);
    if (host === null || host.pending >= MAX_PENDING_PER_HOST) {
      const message = host === null ? 'no sandbox process is available' : 'the sandbox process is overloaded';
      return Promise.resolve(this.failures.record(program, unavailable(message), 0));
    }
    const id = this.link.nextId();
    const msg = `${memoKey === null ? 'C' : 'M'}${id}\t${dataset.id}\t${cands}\t${JSON.stringify(request)}`;
    const startedAt = performance.now();
    // A script may be rebuilt inside the call after it hit its memory limit: realm, top level, call.
    const timeoutMs = wallTimeoutMs(program.config.timeoutMs) * 3;
    return new Promise((resolve) => {
      const sent = host.send({
        kind: 'call',
        id,
        msg,
        timeoutMs,
        resends: 0,
        dataset,
        candidates,
        memoKey,
        startedAt,
        resolve,
      });
      if (!sent) resolve({ ok: false, error: unavailable(TOO_LARGE), durationUs: 0 });
    });
  }

  /** Sends one traced re-run of a memoized answer for the verifier; null when its host cannot take one now. */
  rerun(dataset: Dataset, request: SelectorRequest, candidates: readonly number[]): Promise<Rerun> | null {
    const program = dataset.program;
    if (this.link.isClosed() || dataset.released || program.health.quarantined) return null;
    const host = this.link.hostOf(program.slot);
    if (host === null || !host.alive || host.pending >= VERIFY_MAX_HOST_PENDING) return null;
    const id = this.link.nextId();
    const msg = `M${id}\t${dataset.id}\t${candidateKey(candidates)}\t${JSON.stringify(request)}`;
    return new Promise((resolve) => {
      const timeoutMs = wallTimeoutMs(program.config.timeoutMs) * 3;
      const sent = host.send({ kind: 'verify', id, msg, timeoutMs, resends: 0, dataset, candidates, resolve });
      if (!sent) resolve({ ok: false, failure: unavailable(TOO_LARGE) });
    });
  }

  /** A call's answer: positions into its candidates, and the reads it made when it can be recorded. */
  answered(op: CallOp, runUs: number, positions: number[] | null, trace: string | null): void {
    const picked = toCatalog(positions, op.candidates);
    if (picked === null) {
      const failure: SelectorFailure = { kind: 'bad-result', message: 'the sandbox returned an invalid node position' };
      return op.resolve(this.failures.record(op.dataset.program, failure, sinceUs(op.startedAt), runUs));
    }
    if (op.memoKey !== null) this.remember(op, picked, trace);
    op.resolve({ ok: true, picked, durationUs: sinceUs(op.startedAt), runUs });
  }

  /** A re-run's answer, for the verifier. */
  reran(op: Extract<SandboxOp, { kind: 'verify' }>, positions: number[] | null, trace: string | null): void {
    const picked = toCatalog(positions, op.candidates);
    if (picked === null)
      return op.resolve({
        ok: false,
        failure: { kind: 'bad-result', message: 'the sandbox returned an invalid node position' },
      });
    op.resolve({ ok: true, picked, cacheable: trace !== null });
  }

  /** A call that failed in the sandbox. */
  failed(op: CallOp, runUs: number, failure: SelectorFailure): void {
    const program = op.dataset.program;
    if (failure.kind === 'quarantined') {
      // The host carried out the gateway's quarantine (it never decides one itself).
      program.health.skip(true);
      return op.resolve({ ok: false, error: failure, durationUs: sinceUs(op.startedAt), runUs });
    }
    op.resolve(this.failures.record(program, failure, sinceUs(op.startedAt), runUs));
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
}

/** Positions into `candidates` mapped to catalog indices, or null when one is out of range. */
function toCatalog(positions: number[] | null, candidates: readonly number[]): number[] | null {
  if (positions === null) return null;
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i]!;
    if (p >= candidates.length) return null;
    positions[i] = candidates[p]!;
  }
  return positions;
}
