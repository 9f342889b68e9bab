import type { Logger } from 'pino';
import type { SelectOutcome, SelectorErrorKind, SelectorFailure, SelectorStatus } from './types.js';
import { steadyNow } from '../runtime/clock.js';

/**
 * Quarantine, decided here and nowhere else: SelectorHealth.fail() is the one decision, and
 * FailureRecorder.record() the one path every failure of a selector version takes to it (calls,
 * crashes blamed on it, oversized answers, repeated deaths of its host). The host process only
 * carries the decision out: told by the gateway, it answers the version's queued calls as
 * quarantined without running them.
 */

/** Failures within QUARANTINE_WINDOW_MS that quarantine a selector. */
export const QUARANTINE_FAILURES = 5;
/** Window for QUARANTINE_FAILURES, in milliseconds. */
export const QUARANTINE_WINDOW_MS = 10_000;
/** Errors kept for the status. */
export const LAST_ERRORS = 10;

/** How many failures in how long quarantine a selector. */
export interface QuarantinePolicy {
  failures: number;
  windowMs: number;
}

/** The default policy: QUARANTINE_FAILURES within QUARANTINE_WINDOW_MS. */
export const DEFAULT_QUARANTINE: QuarantinePolicy = { failures: QUARANTINE_FAILURES, windowMs: QUARANTINE_WINDOW_MS };

/** Deaths of a version's host by a signal the gateway did not send, within OUTSIDE_KILLS_WINDOW_MS, that quarantine it. */
export const OUTSIDE_KILLS = 5;
/** Window for OUTSIDE_KILLS, in milliseconds. */
export const OUTSIDE_KILLS_WINDOW_MS = 60_000;

/** Failure kinds that are the script's doing and so count towards quarantine. */
function countsTowardsQuarantine(kind: SelectorErrorKind): boolean {
  return kind === 'throw' || kind === 'timeout' || kind === 'memory' || kind === 'bad-result' || kind === 'crash';
}

/** Failure kinds that quarantine at once: the script took its whole sandbox process down. */
function quarantinesAtOnce(kind: SelectorErrorKind): boolean {
  return kind === 'crash';
}

/** Remembers the times of the last `failures` failures to tell when too many fell in one window. */
export class FailureWindow {
  private readonly times: number[];
  private next = 0;
  private count = 0;

  constructor(private readonly policy: QuarantinePolicy = DEFAULT_QUARANTINE) {
    this.times = new Array<number>(Math.max(1, policy.failures)).fill(0);
  }

  /** Records a failure at `now` (ms); true when this one completes `failures` within the window. */
  record(now: number): boolean {
    const size = this.times.length;
    this.times[this.next] = now;
    this.next = (this.next + 1) % size;
    if (this.count < size) this.count++;
    if (this.count < size) return false;
    // `next` now points at the oldest of the last `size` failures.
    return now - this.times[this.next]! <= this.policy.windowMs;
  }
}

/** Calls, failures and quarantine of one loaded selector version (gateway side). */
export class SelectorHealth {
  calls = 0;
  failures = 0;
  skipped = 0;
  consoleDropped = 0;
  quarantinedAt: string | null = null;
  private readonly window: FailureWindow;
  /** Deaths of its host from outside while it ran (the OOM killer, an operator's kill -9). */
  private readonly outsideKills = new FailureWindow({ failures: OUTSIDE_KILLS, windowMs: OUTSIDE_KILLS_WINDOW_MS });
  private readonly lastErrors: Array<SelectorFailure & { at: string }> = [];

  constructor(policy: QuarantinePolicy = DEFAULT_QUARANTINE) {
    this.window = new FailureWindow(policy);
  }

  /** True once quarantined; a version never leaves quarantine (a new version starts clean). */
  get quarantined(): boolean {
    return this.quarantinedAt !== null;
  }

  /**
   * Records a failure of a call that ran; true when it put the selector in quarantine. `atOnce`
   * quarantines whatever the kind (a host killed for hanging).
   */
  fail(failure: SelectorFailure, now: number, atOnce = false): boolean {
    this.failures++;
    this.lastErrors.unshift({ ...failure, at: new Date(now).toISOString() });
    if (this.lastErrors.length > LAST_ERRORS) this.lastErrors.length = LAST_ERRORS;
    if (this.quarantined || !(atOnce || countsTowardsQuarantine(failure.kind))) return false;
    if (atOnce || quarantinesAtOnce(failure.kind) || this.window.record(now)) {
      this.quarantinedAt = new Date(now).toISOString();
      return true;
    }
    return false;
  }

  /**
   * Records that its host was killed from outside while running it: no fault of the script, unless
   * it keeps happening (true when this one completes OUTSIDE_KILLS within the window).
   */
  killedFromOutside(now: number): boolean {
    return !this.quarantined && this.outsideKills.record(now);
  }

  /** Records a call answered `quarantined` without running; `counted` when `calls` already has it. */
  skip(counted = false): void {
    if (!counted) this.calls++;
    this.failures++;
    this.skipped++;
  }

  /** A copy for the admin API. */
  status(): Omit<SelectorStatus, 'memoization'> {
    return {
      state: this.quarantined ? 'quarantined' : 'active',
      calls: this.calls,
      failures: this.failures,
      quarantinedAt: this.quarantinedAt,
      lastErrors: this.lastErrors.map((e) => ({ ...e })),
      skipped: this.skipped,
      consoleDropped: this.consoleDropped,
    };
  }
}

/** What the recorder needs to know of a selector version. */
export interface Quarantinable {
  readonly apiId: string;
  readonly health: SelectorHealth;
}

/**
 * Records failures of selector versions: counts and logs each, and when SelectorHealth decides on
 * quarantine, logs it, tells the metrics and tells the version's host to stop running it.
 */
export class FailureRecorder<P extends Quarantinable> {
  constructor(
    private readonly logger: Logger,
    private readonly quarantined: (program: P, kind: SelectorErrorKind) => void,
  ) {}

  /**
   * Records a failure of `program` and builds the call's outcome; `atOnce` quarantines whatever the
   * kind (its host died or hung running it, or wrote an answer over the cap).
   */
  record(program: P, failure: SelectorFailure, durationUs: number, runUs?: number, atOnce = false): SelectOutcome {
    const now = program.health.fail(failure, steadyNow(), atOnce);
    this.logger.warn({ apiId: program.apiId, ...failure }, 'selector call failed');
    if (now) {
      this.logger.error({ apiId: program.apiId, kind: failure.kind }, 'selector quarantined');
      this.quarantined(program, failure.kind);
    }
    return runUs === undefined
      ? { ok: false, error: failure, durationUs }
      : { ok: false, error: failure, durationUs, runUs };
  }
}
