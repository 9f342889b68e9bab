import type { HostPool } from './pool.js';
import type { HostProcess } from './host-process.js';
import { wallTimeoutMs } from './limits.js';
import { TOO_LARGE, unavailable, type Dataset, type LoadOp, type Program, type SandboxOp } from './program.js';
import type { Programs } from './programs.js';
import type { FailureRecorder } from './quarantine.js';
import { replaySlot } from './replay.js';
import { COMPILE_ALLOWANCE_MS } from './trials.js';

/** Time a housekeeping request (drop, quarantine) may take before the watchdog counts the host as hung. */
const HOUSEKEEPING_TIMEOUT_MS = 1000;

/** What the slot link needs from the sandbox (read when used: the parts are made after it). */
export interface SlotLinkDeps {
  nextId(): number;
  isClosed(): boolean;
  programs(): Programs;
  failures(): FailureRecorder<Program>;
}

/**
 * The sandbox's requests to the host of each slot: compiling a version or giving it a catalog, the
 * housekeeping that drops or quarantines one, and a host for a slot whose host died (the spare,
 * given every live version of the slot first, replay.ts).
 */
export class SlotLink {
  constructor(
    private readonly pool: HostPool<SandboxOp>,
    private readonly deps: SlotLinkDeps,
  ) {}

  /** Sends a P (dataset null) or D request; `done` gets null or the failure. */
  sendLoad(program: Program, dataset: Dataset | null, replay: boolean, done: LoadOp['done']): void {
    const host = replay ? this.pool.hostOf(program.slot) : this.hostForSlot(program.slot);
    if (host === null) return done(unavailable('no sandbox process is available'));
    const timeoutMs = wallTimeoutMs(program.config.timeoutMs);
    const id = this.deps.nextId();
    const sent = host.send({
      kind: 'load',
      id,
      msg: dataset === null ? `P${id}\t${program.payload()}` : `D${id}\t${dataset.payload}`,
      timeoutMs: dataset === null ? timeoutMs * 2 + COMPILE_ALLOWANCE_MS : timeoutMs + COMPILE_ALLOWANCE_MS,
      resends: 0,
      program,
      dataset,
      replay,
      done,
    });
    if (!sent) done(unavailable(TOO_LARGE));
  }

  /** Sends a drop (d, p) or the quarantine of a version (q) to the slot's host, if it has one. */
  sendHousekeeping(slot: number, tag: string, target: number): void {
    const host = this.pool.hostOf(slot);
    if (host === null || !host.alive || this.deps.isClosed()) return;
    const id = this.deps.nextId();
    host.send({
      kind: 'housekeeping',
      id,
      msg: `${tag}${id}\t${target}`,
      timeoutMs: HOUSEKEEPING_TIMEOUT_MS,
      resends: 0,
    });
  }

  /** The slot's host; a new one (the spare) gets every live selector of the slot loaded first. */
  hostForSlot(slot: number): HostProcess<SandboxOp> | null {
    const existing = this.pool.hostOf(slot);
    if (existing !== null && existing.alive) return existing;
    if (this.deps.isClosed()) return null;
    const host = this.pool.attach(slot);
    if (host !== null) {
      const failures = this.deps.failures();
      replaySlot(
        this.deps.programs(),
        slot,
        (program, dataset, done) => this.sendLoad(program, dataset, true, done),
        (program, failure) => failures.record(program, failure, 0, undefined, true),
      );
    }
    return host;
  }
}
