import { performance } from 'node:perf_hooks';
import type { SelectorFailure } from '../types.js';
import { decodeBatch, decodeCall, elapsedUs, busyOrTimeout, runFailure, type RunResult } from './answers.js';
import { MAX_ANSWER_CHARS } from './realm.js';
import { IsolateSession, REALM_TIMEOUT_FLOOR_MS, type MemoMode, type Session } from './session.js';

export type { ConsoleOutput, RunResult } from './answers.js';
export type { MemoMode } from './session.js';

/** Calls one isolate entry may run (a longer batch goes on in the next entry). */
export const MAX_BATCH_CALLS = 64;
/**
 * A batch starts a call only within this many ms of its start, and its entry may run this long (and
 * 1 ms) beyond a call's own limit: every call started has its whole limit ahead, and one that overruns
 * it is stopped at most this much later than alone.
 */
export const BATCH_WINDOW_MS = 2;

/**
 * One selector version in its own isolate (host side): runs calls on its realm (IsolateSession,
 * session.ts: the realm, the catalogs, the rebuild after a memory failure, the kept-state check)
 * under the CPU and memory limits, alone or in batches, and classifies failures.
 */
export class IsolateRunner extends IsolateSession {
  /**
   * Calls are batched until an entry fails after all its calls ran (a promise job a call left threw
   * or ran out of time or memory): no call can be blamed for sure, so from then on they run one by one.
   */
  private batching = true;
  /** Isolate entries that ran calls (one per call alone, one per batch), for tests and diagnostics. */
  entries = 0;

  constructor(
    code: string,
    /** CPU time a call may use. */
    timeoutMs: number,
    memoryMb: number,
    memo: MemoMode = 'off',
    /** The batch start window (BATCH_WINDOW_MS; tests widen it so that their batches never split). */
    readonly windowMs = BATCH_WINDOW_MS,
  ) {
    super(code, timeoutMs, memoryMb, memo);
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
      this.entries++;
      // Through the batch entry, as one message: the script's stack (new Error().stack) is the same
      // whether its call ran alone or with others, so a memoized answer cannot depend on batching.
      const message = `${traced ? 'M' : 'C'}0\t${datasetId}\t${cands}\t${requestJson}`;
      raw = session.api.batch.applySync(undefined, [message, 0], { timeout: this.wallMs });
    } catch (err) {
      const runUs = elapsedUs(t0);
      let failure = runFailure(err, isolate, this.timeoutMs, this.memoryMb);
      if (isolate.isDisposed) this.session = null;
      else {
        const cpuMs = Number(isolate.cpuTime - cpu0) / 1e6;
        failure = busyOrTimeout(failure, cpuMs, cpuMs, this.timeoutMs, this.wallMs);
      }
      // A run cut off halfway is checked like any other (a lost isolate is rebuilt as it was loaded).
      const stateChange = this.checking && this.session !== null ? this.check(session) : null;
      return { ok: false, failure, runUs, console: null, stateChange };
    }
    // The prelude bounds its answer; this bound holds whatever the realm did.
    const decoded: RunResult[] = [];
    if (typeof raw === 'string' && raw.length <= 2 * MAX_ANSWER_CHARS) decodeBatch(raw, elapsedUs(t0), decoded);
    const result = decoded[0] ?? decodeCall('', elapsedUs(t0));
    if (result.stateChange !== null) this.checking = false;
    // Checked again once the run's promise jobs have run (a separate call).
    else if (this.checking) result.stateChange = this.check(session);
    return result;
  }

  /**
   * Runs calls given as the host's C/M messages ("C<opId>\t<datasetId>\t<candidates>\t<request
   * JSON>") in as few isolate entries as the limits allow; one result per message, in order. Each
   * call keeps its own limits and failures: an entry is cut off at the call overrunning its time limit
   * (the calls before it keep their answers, it fails as it would alone, the rest go on in a new
   * entry); when the isolate is lost to its memory limit, the shared progress cell says which call
   * was running: it fails, and the calls before it, whose answers were lost with the isolate, run
   * again in the rebuilt one (which starts from the top level, as after any memory failure).
   */
  callBatch(msgs: readonly string[]): RunResult[] {
    const results: RunResult[] = [];
    while (results.length < msgs.length) results.push(...this.callSome(msgs.slice(results.length)));
    return results;
  }

  /**
   * One step of callBatch: the results of the first calls of `msgs` (at least one), run in one isolate
   * entry (or a few, after a memory failure), so the host can write them before it runs more.
   */
  callSome(msgs: readonly string[]): RunResult[] {
    const results: RunResult[] = [];
    const session = this.session;
    if (!this.batching || msgs.length === 1 || session === null || session.isolate.isDisposed)
      results.push(this.callMessage(msgs[0]!));
    else this.enter(session, msgs.slice(0, MAX_BATCH_CALLS), results);
    return results;
  }

  /** One C/M message run on its own. */
  private callMessage(msg: string): RunResult {
    const t1 = msg.indexOf('\t');
    const t2 = msg.indexOf('\t', t1 + 1);
    const t3 = msg.indexOf('\t', t2 + 1);
    return this.call(Number(msg.slice(t1 + 1, t2)), msg.slice(t2 + 1, t3), msg.slice(t3 + 1), msg[0] === 'M');
  }

  /** One isolate entry running the head of `part`; how many of its calls got their result. */
  private enter(session: Session, part: readonly string[], results: RunResult[]): number {
    const isolate = session.isolate;
    this.progress[0] = 0;
    this.progress[1] = 0;
    this.entries++;
    const cpu0 = isolate.cpuTime;
    const t0 = performance.now();
    let raw: unknown;
    try {
      raw = session.api.batch.applySync(undefined, [part.join('\n'), this.windowMs], {
        timeout: this.wallMs + this.windowMs + 1,
      });
    } catch (err) {
      // A disposed isolate has no CPU time to read.
      const cpuMs = isolate.isDisposed ? 0 : Number(isolate.cpuTime - cpu0) / 1e6;
      return this.failedEntry(session, part, err, cpuMs, elapsedUs(t0), results);
    }
    const before = results.length;
    const done =
      typeof raw === 'string' && raw.length <= MAX_ANSWER_CHARS * part.length
        ? decodeBatch(raw, elapsedUs(t0), results)
        : 0;
    if (done === 0) {
      const failure: SelectorFailure = { kind: 'bad-result', message: 'the sandbox returned an unreadable result' };
      results.push({ ok: false, failure, runUs: elapsedUs(t0), console: null, stateChange: null });
      return 1;
    }
    if (this.checking) {
      for (let i = before; i < results.length; i++) if (results[i]!.stateChange !== null) this.checking = false;
      // Checked again once the entry's promise jobs have run (after the whole batch).
      const why = this.checking ? this.check(session) : null;
      if (why !== null) results[results.length - 1]!.stateChange ??= why;
    }
    return done;
  }

  /** An entry that threw: the calls answered before it keep their results, and the one running fails. */
  private failedEntry(
    session: Session,
    part: readonly string[],
    err: unknown,
    cpuMs: number,
    runUs: number,
    results: RunResult[],
  ): number {
    const isolate = session.isolate;
    let failure = runFailure(err, isolate, this.timeoutMs, this.memoryMb);
    // Finished: every call the entry started had answered, and what failed was a promise job one of
    // them left (run after the entry's calls). No call can be blamed for sure: the last one takes
    // it, and this version's calls run one by one from now on.
    const finished = this.progress[1] === 1;
    if (finished) this.batching = false;
    if (isolate.isDisposed) {
      this.session = null;
      const ran = this.progress[0]!;
      const k = Math.max(0, Math.min(finished ? ran - 1 : ran, part.length - 1));
      results.push(...this.callBatch(part.slice(0, k)));
      results.push({ ok: false, failure, runUs, console: null, stateChange: null });
      return k + 1;
    }
    let taken: unknown = '';
    try {
      taken = session.api.takeBatch.applySync(undefined, [], { timeout: REALM_TIMEOUT_FLOOR_MS });
    } catch {
      // Nothing is taken: the running call is the first.
    }
    const before = results.length;
    const done = decodeBatch(taken, runUs, results);
    for (let i = before; i < results.length; i++) if (results[i]!.stateChange !== null) this.checking = false;
    let k = done;
    if (finished && done > 0) {
      results.pop();
      k = done - 1;
    }
    // The CPU the running call used at least: the calls before it ran within the start window.
    failure = busyOrTimeout(failure, k > 0 ? cpuMs - this.windowMs - 1 : cpuMs, cpuMs, this.timeoutMs, this.wallMs);
    if (failure.kind === 'throw') this.batching = false; // a throw no call caught: not the usual path
    const stateChange = this.checking && this.session !== null ? this.check(session) : null;
    results.push({ ok: false, failure, runUs, console: null, stateChange });
    return k + 1;
  }
}
