import type { Logger } from 'pino';
import type { HostExit, HostProcess } from './host-process.js';
import type { HostPool, HostRole } from './pool.js';
import { QUARANTINED, TOO_LARGE, sinceUs, unavailable, type Program, type SandboxOp } from './program.js';
import type { Programs } from './programs.js';
import { HOST_PROTOCOL_EXIT_CODE } from './protocol.js';
import { OUTSIDE_KILLS, OUTSIDE_KILLS_WINDOW_MS, type FailureRecorder } from './quarantine.js';
import type { SelectorFailure } from './types.js';
import { steadyNow } from '../runtime/clock.js';

/**
 * Who is blamed when a sandbox host process ends, and for what. Answers are written synchronously
 * in request order, so when a host dies every result it computed has arrived: the oldest unanswered
 * request is the one that was running. Whether that request is to blame depends on how it ended:
 *
 * - `script`: the process aborted by itself (V8 out of memory, a fatal check: SIGABRT, SIGTRAP,
 *   SIGSEGV, an exit code), or the watchdog killed it for overrunning a call's limit. The running
 *   request's selector failed (`crash` or `timeout`) and is quarantined at once.
 * - `outside`: a signal the gateway did not send (SIGKILL from the kernel's OOM killer or an
 *   operator). Nobody's fault: every unanswered request is sent again to the replacement; only when
 *   the same version was running at OUTSIDE_KILLS such deaths within a minute is it quarantined.
 * - `gateway`: the gateway killed it (a broken stream) or it refused the gateway's stream: resent.
 * - `closing`: the sandbox is closing; nothing is resent or counted.
 */
export type ExitCause = 'script' | 'outside' | 'gateway' | 'closing';

/** A request is sent again to replacement hosts at most this often before it fails as unavailable. */
export const MAX_RESENDS = 2;

/** Signals a host only gets from outside: it never raises them itself. */
const OUTSIDE_SIGNALS: ReadonlySet<string> = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT']);

/** How a host's end is to be read. */
export function exitCause(exit: HostExit, closing: boolean): ExitCause {
  if (closing || exit.killedFor === 'close') return 'closing';
  if (exit.killedFor === 'hang') return 'script';
  if (exit.killedFor !== null) return 'gateway';
  if (exit.signal !== null && OUTSIDE_SIGNALS.has(exit.signal)) return 'outside';
  if (exit.code === HOST_PROTOCOL_EXIT_CODE) return 'gateway';
  return 'script';
}

/** The failure of the request that was running when its host died or hung. */
export function blamedFailure(exit: HostExit): SelectorFailure {
  return exit.killedFor === 'hang'
    ? { kind: 'timeout', message: 'the script did not stop at its time limit; its sandbox process was killed' }
    : { kind: 'crash', message: `the sandbox process died running the script (${crashCause(exit)})` };
}

/** The failure that quarantines a version whose host keeps being killed from outside while running it. */
export function outsideKillsFailure(exit: HostExit, kills: number, windowMs: number): SelectorFailure {
  return {
    kind: 'crash',
    message: `its sandbox process was killed from outside (${exit.signal}, e.g. by the kernel's out-of-memory killer) ${kills} times within ${windowMs / 1000} s while running it`,
  };
}

/** The signal or exit code, and V8's own reason when it printed one. */
function crashCause(exit: HostExit): string {
  const how = exit.signal ?? `exit code ${exit.code}`;
  const line = exit.stderrTail
    .split('\n')
    .find((l) => /fatal|out of memory|invalid (table |array )?(size|length)|CALL_AND_RETRY/i.test(l));
  return line ? `${how}: ${line.trim().slice(0, 200)}` : how;
}

/** What exit handling needs from the sandbox. */
export interface ExitLink {
  isClosed(): boolean;
  /** The slot's replacement host (the spare, with the slot's versions reloaded), or null. */
  hostForSlot(slot: number): HostProcess<SandboxOp> | null;
}

/** Handles the end of every host process: blames the request that was running, or nobody, and resends the rest. */
export class HostExits {
  /** Host processes that ended other than by close(). */
  count = 0;
  /** Of those, ended by a signal the gateway did not send. */
  outside = 0;

  constructor(
    private readonly logger: Logger,
    private readonly pool: HostPool<SandboxOp>,
    private readonly programs: Programs,
    private readonly failures: FailureRecorder<Program>,
    private readonly link: ExitLink,
  ) {}

  /** A host ended: who failed (see ExitCause), and the rest sent to its replacement. */
  onExit(host: HostProcess<SandboxOp>, role: HostRole | null, unanswered: SandboxOp[], exit: HostExit): void {
    const cause = exitCause(exit, this.link.isClosed());
    if (cause === 'closing') {
      for (const op of unanswered) this.settle(op, unavailable('the selector sandbox is closed'), true);
      return;
    }
    this.count++;
    if (cause === 'outside') this.outside++;
    this.logger.warn(
      {
        pid: host.pid,
        role: role?.kind ?? null,
        code: exit.code,
        signal: exit.signal,
        killedFor: exit.killedFor,
        cause,
        unanswered: unanswered.length,
        stderr: exit.stderrTail.trim().slice(-1000) || undefined,
      },
      'selector sandbox process exited',
    );
    let rest = unanswered;
    const running = exit.wasReady && exit.written > 0 ? unanswered[0] : undefined;
    if (running !== undefined && cause === 'script') {
      this.blame(running, blamedFailure(exit));
      rest = unanswered.slice(1);
    } else if (running !== undefined && cause === 'outside') {
      this.killedFromOutside(running, exit);
    }
    if (role === null || role.kind === 'spare') {
      for (const op of rest) this.settle(op, unavailable('its sandbox process exited'));
      return;
    }
    const next =
      role.kind === 'trial'
        ? rest.length > 0
          ? this.pool.trial()
          : null
        : rest.length > 0 || this.programs.hasLive(role.slot)
          ? this.link.hostForSlot(role.slot)
          : null;
    for (const op of rest) {
      if (op.kind === 'load' && op.replay) continue; // the replacement got a fresh replay
      if (op.kind === 'housekeeping') continue;
      if (op.kind === 'verify') {
        op.resolve({ ok: false, failure: unavailable('its sandbox process exited') });
        continue;
      }
      if (op.kind === 'call' && op.dataset.program.health.quarantined) {
        op.dataset.program.health.skip(true);
        op.resolve(QUARANTINED);
      } else if (op.resends >= MAX_RESENDS || next === null) {
        this.settle(
          op,
          unavailable(
            next === null ? 'no sandbox process is available' : `its sandbox process exited ${op.resends + 1} times`,
          ),
        );
      } else {
        op.resends++;
        if (!next.send(op)) this.settle(op, unavailable(TOO_LARGE));
      }
    }
  }

  /**
   * A request whose selector took its host down, hung it, or wrote an answer over the cap: it
   * failed, and its version is quarantined at once (a version whose first load did it is poisoned).
   */
  blame(op: SandboxOp, failure: SelectorFailure): void {
    switch (op.kind) {
      case 'call':
        return op.resolve(this.failures.record(op.dataset.program, failure, sinceUs(op.startedAt), undefined, true));
      case 'verify':
        this.failures.record(op.dataset.program, failure, 0, undefined, true);
        return op.resolve({ ok: false, failure });
      case 'load':
        if (op.replay || op.dataset !== null) this.failures.record(op.program, failure, 0, undefined, true);
        else this.programs.poison(op.program, failure);
        if (!op.replay) op.done(failure);
        return;
      case 'trial':
        return op.resolve({ ok: false, picked: [], error: failure, durationUs: sinceUs(op.startedAt), console: [] });
      case 'housekeeping':
        return;
    }
  }

  /**
   * Its host was killed from outside while `op` ran: nobody's fault (it is sent again), unless the
   * same version keeps being the one running when that happens.
   */
  private killedFromOutside(op: SandboxOp, exit: HostExit): void {
    const program =
      op.kind === 'call' || op.kind === 'verify' ? op.dataset.program : op.kind === 'load' ? op.program : null;
    if (program === null || !program.health.killedFromOutside(steadyNow())) return;
    this.failures.record(
      program,
      outsideKillsFailure(exit, OUTSIDE_KILLS, OUTSIDE_KILLS_WINDOW_MS),
      0,
      undefined,
      true,
    );
  }

  /** Fails a request that got no answer; `quiet` on shutdown, where it is neither logged nor counted. */
  private settle(op: SandboxOp, failure: SelectorFailure, quiet = false): void {
    switch (op.kind) {
      case 'call':
        if (quiet) return op.resolve({ ok: false, error: failure, durationUs: sinceUs(op.startedAt) });
        return op.resolve(this.failures.record(op.dataset.program, failure, sinceUs(op.startedAt)));
      case 'verify':
        return op.resolve({ ok: false, failure: unavailable(failure.message) });
      case 'load':
        return op.done(failure);
      case 'trial':
        return op.resolve({ ok: false, picked: [], error: failure, durationUs: sinceUs(op.startedAt), console: [] });
      case 'housekeeping':
        return;
    }
  }
}
