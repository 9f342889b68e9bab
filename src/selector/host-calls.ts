/**
 * Running calls in the sandbox host (host.ts): one call, or consecutive calls of one version in as
 * few isolate entries as its limits allow, each answer checked against the host's limits and
 * written before the next entry starts.
 */
import { performance } from 'node:perf_hooks';
import type { RunResult } from './isolate/runner.js';
import { capTrace, capText, validPositions } from './host-limits.js';
import { failed, hold, notice, release, reply } from './host-output.js';
import { forwardConsole, programOfDataset, type HostProgram } from './host-programs.js';
import { Tag } from './protocol.js';

/** Work a turn may do before the host reads its input again, so a quarantine arriving meanwhile is seen. */
export const TURN_BUDGET_MS = 2;

/** C or M: runs one call. */
export function onCall(msg: string, traced: boolean): void {
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
function runnable(msg: string): HostProgram | null {
  const t1 = msg.indexOf('\t');
  const program = programOfDataset(Number(msg.slice(t1 + 1, msg.indexOf('\t', t1 + 1))));
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
function answer(program: HostProgram, msg: string, result: RunResult): void {
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
 * Runs consecutive calls of one version (`msgs`) in as few isolate entries as its limits allow,
 * writing the answers of each entry in one write before the next entry starts; a bug here still
 * answers every one of them. Starts no entry after TURN_BUDGET_MS: how many it answered.
 */
export function onCalls(program: HostProgram, msgs: readonly string[]): number {
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
export function batchable(msg: string): HostProgram | undefined {
  if (msg[0] !== Tag.call && msg[0] !== Tag.tracedCall) return undefined;
  const t1 = msg.indexOf('\t');
  return programOfDataset(Number(msg.slice(t1 + 1, msg.indexOf('\t', t1 + 1))));
}

/** Candidates in a "3,0,7" list. */
function countOf(cands: string): number {
  if (cands === '') return 0;
  let n = 1;
  for (let i = 0; i < cands.length; i++) if (cands.charCodeAt(i) === 0x2c) n++;
  return n;
}
