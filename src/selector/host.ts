/**
 * Sandbox host: the child process that runs selectors (started by host-process.ts, never imported).
 *
 * It answers requests strictly in arrival order and writes every reply with a synchronous write the
 * moment it is known (the answers of one batch entry together, before the next entry), so that when
 * a script takes the process down (a V8 abort cannot be caught) every earlier answer has already
 * reached the gateway and the oldest unanswered request is the one that killed it, or the first of
 * its batch. Its parts: the versions it holds (host-programs.ts), running calls (host-calls.ts), its
 * replies (host-output.ts), trials (host-trial.ts); this file is its request queue and dispatch.
 */
import { performance } from 'node:perf_hooks';
import { Socket } from 'node:net';
import { MAX_BATCH_CALLS } from './isolate/runner.js';
import { capFailure } from './host-limits.js';
import { answeredCount, failed, notice, reply } from './host-output.js';
import { TURN_BUDGET_MS, batchable, onCall, onCalls } from './host-calls.js';
import {
  fields,
  onDataset,
  onDropDataset,
  onDropProgram,
  onProgram,
  onQuarantine,
  quarantine,
} from './host-programs.js';
import { trial, type TrialPayload } from './host-trial.js';
import { FrameReader, HOST_PROTOCOL_EXIT_CODE, MAX_REQUEST_FRAME_BYTES, REQUEST_FD, Tag } from './protocol.js';

function onTrial(msg: string): void {
  const [opId = '', payloadJson = '{}'] = fields(msg, 2);
  const result = trial(JSON.parse(payloadJson) as TrialPayload);
  if (result.error !== undefined) result.error = capFailure(result.error);
  reply(`${Tag.trialResult}${opId}\t${JSON.stringify(result)}`);
}

function dispatch(msg: string): void {
  switch (msg[0]) {
    case Tag.call:
      return onCall(msg, false);
    case Tag.tracedCall:
      return onCall(msg, true);
    case Tag.program:
      return onProgram(msg);
    case Tag.dataset:
      return onDataset(msg);
    case Tag.dropDataset:
      return onDropDataset(msg);
    case Tag.dropProgram:
      return onDropProgram(msg);
    case Tag.trial:
      return onTrial(msg);
    case Tag.quarantine:
      return onQuarantine(msg);
    default:
      throw new Error(`unknown sandbox request ${JSON.stringify(msg.slice(0, 20))}`);
  }
}

/** Runs one request; a bug here still answers it, so the gateway's request order stays in step. */
function dispatchSafely(msg: string): void {
  const before = answeredCount();
  try {
    dispatch(msg);
  } catch (err) {
    if (answeredCount() !== before) throw err;
    const tab = msg.indexOf('\t');
    failed(msg.slice(1, tab < 0 ? msg.length : tab), 0, {
      kind: 'unavailable',
      message: `sandbox error: ${err instanceof Error ? err.message : String(err)}`,
    });
  }
}

/** Requests received and not yet run, in arrival order (the gateway bounds how many it sends). */
const queue: string[] = [];
let queueHead = 0;
let draining = false;

function onFrame(buf: Buffer, start: number, end: number): void {
  const text = buf.toString('utf8', start, end);
  let from = 0;
  // Bounded by the frame length: every turn consumes at least one character.
  while (from <= text.length) {
    let nl = text.indexOf('\n', from);
    if (nl < 0) nl = text.length;
    if (nl > from) {
      const msg = text.slice(from, nl);
      // The gateway's quarantine takes effect on arrival: calls already queued are not run.
      if (msg[0] === Tag.quarantine) quarantine(msg);
      queue.push(msg);
    }
    from = nl + 1;
  }
  if (!draining) drain();
}

/** Runs queued requests in order; yields to read input after TURN_BUDGET_MS of work. */
function drain(): void {
  draining = true;
  const t0 = performance.now();
  while (queueHead < queue.length) {
    const msg = queue[queueHead]!;
    // Calls of one version in a row run together (see IsolateRunner.callBatch).
    const program = batchable(msg);
    let to = queueHead + 1;
    if (program !== undefined && !program.quarantined)
      while (to < queue.length && to - queueHead < MAX_BATCH_CALLS && batchable(queue[to]!) === program) to++;
    if (to - queueHead > 1) {
      const end = queueHead + onCalls(program!, queue.slice(queueHead, to));
      while (queueHead < end) queue[queueHead++] = '';
    } else {
      queue[queueHead++] = '';
      dispatchSafely(msg);
    }
    if (performance.now() - t0 > TURN_BUDGET_MS && queueHead < queue.length) {
      // Keep the queue from growing under a steady stream: drop what has run.
      if (queueHead >= 1024) {
        queue.splice(0, queueHead);
        queueHead = 0;
      }
      setImmediate(drain);
      return;
    }
  }
  queue.length = 0;
  queueHead = 0;
  draining = false;
}

// A terminal's Ctrl-C reaches the whole process group; the gateway decides when hosts end (it closes
// the request pipe or kills them), so a host must not die under a call it would then be blamed for.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
// A terminal hang-up reaches the group too; SIGUSR2 would end a host and SIGUSR1 open an inspector in
// it (runtime/signals.ts says why neither may): a listener of its own keeps Node's default actions away.
process.on('SIGHUP', () => {});
process.on('SIGUSR1', () => {});
process.on('SIGUSR2', () => {});

// The gateway never sends a frame over the cap: one means the stream is broken, and only a new host helps.
const reader = new FrameReader(onFrame, MAX_REQUEST_FRAME_BYTES, () => process.exit(HOST_PROTOCOL_EXIT_CODE));
const input = new Socket({ fd: REQUEST_FD, readable: true, writable: false });
input.on('data', (chunk: Buffer) => reader.push(chunk));
input.on('end', () => process.exit(0));
input.on('error', () => process.exit(0));
notice(`${Tag.ready}${process.pid}`);
