/**
 * Sandbox host: the child process that runs selectors (started by host-process.ts, never imported).
 *
 * It answers requests strictly in arrival order and writes every reply with a synchronous write the
 * moment it is known (the answers of one batch entry together, before the next entry), so that when
 * a script takes the process down (a V8 abort cannot be caught) every earlier answer has already
 * reached the gateway and the oldest unanswered request is the one that killed it, or the first of
 * its batch.
 */
import { performance } from 'node:perf_hooks';
import { Socket } from 'node:net';
import { IsolateRunner, MAX_BATCH_CALLS, type ConsoleOutput, type MemoMode, type RunResult } from './isolate/runner.js';
import { capConsole, capFailure, capText, capTrace, validPositions } from './host-limits.js';
import { answeredCount, failed, hold, notice, release, reply } from './host-output.js';
import { trial, type TrialPayload } from './host-trial.js';
import { FrameReader, HOST_PROTOCOL_EXIT_CODE, MAX_REQUEST_FRAME_BYTES, REQUEST_FD, Tag } from './protocol.js';
import { LineBudget } from './rate-limit.js';

interface Program {
  id: number;
  runner: IsolateRunner;
  /** The gateway quarantined it: its calls are answered `quarantined` without running. */
  quarantined: boolean;
  budget: LineBudget;
  /** Console lines dropped here and not yet reported. */
  unreported: number;
  reportedAt: number;
  datasets: Set<number>;
}

const programs = new Map<number, Program>();
const datasets = new Map<number, Program>();

function forwardConsole(program: Program, raw: ConsoleOutput, now: number): void {
  const output = capConsole(raw);
  program.unreported += output.dropped;
  const lines: string[] = [];
  for (const line of output.lines) {
    if (program.budget.take(now)) lines.push(line);
    else program.unreported++;
  }
  // A script that only prints dropped lines reports its drops at most once a second.
  if (lines.length === 0 && (program.unreported === 0 || now - program.reportedAt < 1000)) return;
  notice(`${Tag.console}${program.id}\t${program.unreported}\t${JSON.stringify(lines)}`);
  program.unreported = 0;
  program.reportedAt = now;
}

/** Splits "X<f0>\t<f1>\t…" into `count` fields; the last one keeps any further tabs. */
function fields(msg: string, count: number): string[] {
  const out: string[] = [];
  let start = 1;
  for (let i = 0; i < count - 1; i++) {
    const tab = msg.indexOf('\t', start);
    if (tab < 0) break;
    out.push(msg.slice(start, tab));
    start = tab + 1;
  }
  out.push(msg.slice(start));
  return out;
}

function onCall(msg: string, traced: boolean): void {
  const t1 = msg.indexOf('\t');
  const t2 = msg.indexOf('\t', t1 + 1);
  const t3 = msg.indexOf('\t', t2 + 1);
  const program = runnable(msg);
  if (program === null) return;
  const cands = msg.slice(t2 + 1, t3);
  const datasetId = Number(msg.slice(t1 + 1, t2));
  answer(program, msg, program.runner.call(datasetId, cands, msg.slice(t3 + 1), traced));
}

/** The program a call message's dataset belongs to, or null after answering the call as failed. */
function runnable(msg: string): Program | null {
  const t1 = msg.indexOf('\t');
  const program = datasets.get(Number(msg.slice(t1 + 1, msg.indexOf('\t', t1 + 1))));
  if (program === undefined) {
    failed(msg.slice(1, t1), 0, { kind: 'unavailable', message: 'the selector is not loaded in this sandbox process' });
    return null;
  }
  if (program.quarantined) {
    failed(msg.slice(1, t1), 0, {
      kind: 'quarantined',
      message: 'the selector is quarantined after repeated failures',
    });
    return null;
  }
  return program;
}

/** Writes a call's answer, with its console lines and state change first. */
function answer(program: Program, msg: string, result: RunResult): void {
  const t1 = msg.indexOf('\t');
  const t2 = msg.indexOf('\t', t1 + 1);
  const opId = msg.slice(1, t1);
  const cands = msg.slice(t2 + 1, msg.indexOf('\t', t2 + 1));
  if (result.console !== null) forwardConsole(program, result.console, Date.now());
  if (result.stateChange !== null)
    notice(`${Tag.stateful}${program.id}\t${JSON.stringify(capText(result.stateChange))}`);
  if (result.ok) {
    if (!validPositions(result.positions, countOf(cands))) {
      failed(opId, result.runUs, { kind: 'bad-result', message: 'the sandbox returned an invalid node position' });
      return;
    }
    const trace = capTrace(result.trace);
    reply(`${Tag.ok}${opId}\t${result.runUs}\t${result.positions}${trace === null ? '' : `\t${trace}`}`);
    return;
  }
  failed(opId, result.runUs, result.failure);
}

/**
 * Runs consecutive calls of one version (queue[from, to)) in as few isolate entries as its limits
 * allow, writing the answers of each entry in one write before the next entry starts; a bug here
 * still answers every one of them. Starts no entry after TURN_BUDGET_MS: how many it answered.
 */
function onCalls(program: Program, from: number, to: number): number {
  const msgs = queue.slice(from, to);
  const t0 = performance.now();
  let done = 0;
  try {
    while (done < msgs.length && (done === 0 || performance.now() - t0 < TURN_BUDGET_MS)) {
      const results = program.runner.callSome(done === 0 ? msgs : msgs.slice(done));
      hold();
      for (const result of results) {
        answer(program, msgs[done]!, result);
        done++;
      }
      release();
    }
    return done;
  } catch (err) {
    release();
    for (; done < msgs.length; done++) {
      const msg = msgs[done]!;
      failed(msg.slice(1, msg.indexOf('\t')), 0, {
        kind: 'unavailable',
        message: `sandbox error: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
    return done;
  }
}

/** A C or M message: its dataset's program (undefined for any other message). */
function batchable(msg: string): Program | undefined {
  if (msg[0] !== Tag.call && msg[0] !== Tag.tracedCall) return undefined;
  const t1 = msg.indexOf('\t');
  return datasets.get(Number(msg.slice(t1 + 1, msg.indexOf('\t', t1 + 1))));
}

function onProgram(msg: string): void {
  const [opId = '', programId, timeoutMs, memoryMb, consoleRate, memo = 'off', codeJson = '""'] = fields(msg, 7);
  const id = Number(programId);
  const runner = new IsolateRunner(JSON.parse(codeJson) as string, Number(timeoutMs), Number(memoryMb), memoMode(memo));
  const started = runner.start();
  if (started.failure !== null) {
    runner.dispose();
    failed(opId, 0, started.failure);
    return;
  }
  dropProgram(id);
  const program: Program = {
    id,
    runner,
    quarantined: false,
    budget: new LineBudget(Number(consoleRate)),
    unreported: 0,
    reportedAt: 0,
    datasets: new Set(),
  };
  programs.set(id, program);
  if (started.console !== null) forwardConsole(program, started.console, Date.now());
  reply(
    started.notMemoized === null
      ? `${Tag.ack}${opId}`
      : `${Tag.ack}${opId}\t${JSON.stringify(capText(started.notMemoized))}`,
  );
}

function memoMode(text: string): MemoMode {
  return text === 'checked' || text === 'trusted' ? text : 'off';
}

function onDataset(msg: string): void {
  const [opId = '', programId, datasetId, catalogJson = '[]', envJson = '{}'] = fields(msg, 5);
  const program = programs.get(Number(programId));
  if (program === undefined) {
    failed(opId, 0, { kind: 'unavailable', message: 'the selector is not loaded in this sandbox process' });
    return;
  }
  const id = Number(datasetId);
  const failure = program.runner.loadDataset(id, catalogJson, envJson);
  if (failure !== null) {
    failed(opId, 0, failure);
    return;
  }
  program.datasets.add(id);
  datasets.set(id, program);
  reply(`${Tag.ack}${opId}`);
}

function dropProgram(id: number): void {
  const program = programs.get(id);
  if (program === undefined) return;
  programs.delete(id);
  for (const datasetId of program.datasets) datasets.delete(datasetId);
  program.runner.dispose();
}

function onDropDataset(msg: string): void {
  const [opId = '', datasetId] = fields(msg, 2);
  const id = Number(datasetId);
  const program = datasets.get(id);
  if (program !== undefined) {
    datasets.delete(id);
    program.datasets.delete(id);
    program.runner.dropDataset(id);
  }
  reply(`${Tag.ack}${opId}`);
}

function onDropProgram(msg: string): void {
  const [opId = '', programId] = fields(msg, 2);
  dropProgram(Number(programId));
  reply(`${Tag.ack}${opId}`);
}

/** The quarantine itself took effect when the message arrived (see onFrame); this is its answer. */
function onQuarantine(msg: string): void {
  const [opId = ''] = fields(msg, 2);
  reply(`${Tag.ack}${opId}`);
}

function onTrial(msg: string): void {
  const [opId = '', payloadJson = '{}'] = fields(msg, 2);
  const result = trial(JSON.parse(payloadJson) as TrialPayload);
  if (result.error !== undefined) result.error = capFailure(result.error);
  reply(`${Tag.trialResult}${opId}\t${JSON.stringify(result)}`);
}

/** Candidates in a "3,0,7" list. */
function countOf(cands: string): number {
  if (cands === '') return 0;
  let n = 1;
  for (let i = 0; i < cands.length; i++) if (cands.charCodeAt(i) === 0x2c) n++;
  return n;
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
/** Work a turn may do before the host reads its input again, so a quarantine arriving meanwhile is seen. */
const TURN_BUDGET_MS = 2;

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

function quarantine(msg: string): void {
  const [, programId] = fields(msg, 2);
  const program = programs.get(Number(programId));
  if (program !== undefined) program.quarantined = true;
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
      const end = queueHead + onCalls(program!, queueHead, to);
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
