import type { SelectorErrorKind, SelectorFailure, SelectorStatus } from './types.js';

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

/** Failure kinds that are the script's doing and so count towards quarantine. */
export function countsTowardsQuarantine(kind: SelectorErrorKind): boolean {
  return kind === 'throw' || kind === 'timeout' || kind === 'memory' || kind === 'bad-result' || kind === 'crash';
}

/** Failure kinds that quarantine at once: the script took its whole sandbox process down. */
export function quarantinesAtOnce(kind: SelectorErrorKind): boolean {
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
