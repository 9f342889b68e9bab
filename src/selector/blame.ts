import { HOST_PROTOCOL_EXIT_CODE } from './protocol.js';
import type { HostExit } from './host-process.js';
import type { SelectorFailure } from './types.js';

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
  const line = exit.stderrTail.split('\n').find((l) => /fatal|out of memory|invalid (table |array )?(size|length)|CALL_AND_RETRY/i.test(l));
  return line ? `${how}: ${line.trim().slice(0, 200)}` : how;
}
