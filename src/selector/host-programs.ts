/**
 * The sandbox host's selector versions (host.ts): each program's isolate runner with its catalogs,
 * compiled, given catalogs, dropped and quarantined as the gateway asks. Its console lines go to the
 * gateway within the program's own rate.
 */
import { IsolateRunner, type ConsoleOutput, type MemoMode } from './isolate/runner.js';
import { capConsole, capText } from './host-limits.js';
import { failed, notice, reply } from './host-output.js';
import { Tag } from './protocol.js';
import { LineBudget } from './rate-limit.js';

/** One selector version as the host holds it. */
export interface HostProgram {
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

const programs = new Map<number, HostProgram>();
const datasets = new Map<number, HostProgram>();

/** The program that holds catalog `datasetId`, if it is loaded. */
export function programOfDataset(datasetId: number): HostProgram | undefined {
  return datasets.get(datasetId);
}

/** Splits "X<f0>\t<f1>\t…" into `count` fields; the last one keeps any further tabs. */
export function fields(msg: string, count: number): string[] {
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

/** Sends a run's console lines to the gateway within the program's rate; drops are reported at most once a second. */
export function forwardConsole(program: HostProgram, raw: ConsoleOutput, now: number): void {
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

/** P: compiles a version and runs its top level (replacing one of the same id). */
export function onProgram(msg: string): void {
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
  const program: HostProgram = {
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

/** D: gives a loaded version one catalog and env. */
export function onDataset(msg: string): void {
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

/** d: forgets one catalog. */
export function onDropDataset(msg: string): void {
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

/** p: drops a version and its isolate. */
export function onDropProgram(msg: string): void {
  const [opId = '', programId] = fields(msg, 2);
  dropProgram(Number(programId));
  reply(`${Tag.ack}${opId}`);
}

/** q on arrival: the version's calls, queued ones included, are answered `quarantined` from now on. */
export function quarantine(msg: string): void {
  const [, programId] = fields(msg, 2);
  const program = programs.get(Number(programId));
  if (program !== undefined) program.quarantined = true;
}

/** The quarantine itself took effect when the message arrived (see quarantine); this is its answer. */
export function onQuarantine(msg: string): void {
  const [opId = ''] = fields(msg, 2);
  reply(`${Tag.ack}${opId}`);
}
