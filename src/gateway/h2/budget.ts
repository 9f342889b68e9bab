import { H2ConnectionError, H2Error } from './frames.js';

/** The abuse bounds a session counts, from its SessionLimits. */
export interface BudgetLimits {
  maxRefusedStreams: number;
  maxInvalidFrames: number;
  resetBurst: number;
  resetsPerSecond: number;
}

/**
 * What a client may get wrong on one session before the session is closed with ENHANCE_YOUR_CALM:
 * refused streams, invalid frames and malformed requests (each counted for the session's life), and
 * streams it resets before their answer (a bucket of `resetBurst`, refilled at `resetsPerSecond`:
 * the rapid-reset attack, CVE-2023-44487). Each count throws the connection error when passed.
 */
export class SessionBudget {
  private refusedStreams = 0;
  private invalidFrames = 0;
  private resetTokens: number;
  private resetClock = performance.now();

  constructor(private readonly limits: BudgetLimits) {
    this.resetTokens = limits.resetBurst;
  }

  /** A stream was refused (REFUSED_STREAM). */
  refused(): void {
    if (++this.refusedStreams > this.limits.maxRefusedStreams)
      throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'too many refused streams');
  }

  /** A frame broke a stream's rules, or a request was malformed. */
  invalid(): void {
    if (++this.invalidFrames > this.limits.maxInvalidFrames)
      throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'too many invalid frames');
  }

  /** The client reset a stream before its answer was complete. */
  clientReset(): void {
    const now = performance.now();
    const { resetBurst, resetsPerSecond } = this.limits;
    this.resetTokens = Math.min(resetBurst, this.resetTokens + ((now - this.resetClock) / 1000) * resetsPerSecond);
    this.resetClock = now;
    if (--this.resetTokens < 0) throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'streams reset too fast');
  }
}
