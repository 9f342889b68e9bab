/** State moves of one node logged in a burst; past it, one more line is allowed per MOVE_LOG_REFILL_MS. */
export const MOVE_LOG_BURST = 6;
/** How often a flapping node may log one more state move once its burst is spent. */
export const MOVE_LOG_REFILL_MS = 10_000;

/**
 * The log allowance of one node's state moves: a node that flaps (in, out, in, … on every probe)
 * would otherwise write a line per probe for as long as it flaps. The moves left out are counted and
 * reported on the next line that is written, so the log still says how often it moved; the node's
 * state itself is always current in `/status`, the admin API and `/metrics`.
 */
export class MoveLogBudget {
  #left = MOVE_LOG_BURST;
  #at: number;
  #skipped = 0;

  constructor(now: number) {
    this.#at = now;
  }

  /** Whether this move may be logged: null when it may not (it is counted), else the moves left out before it. */
  take(now: number): number | null {
    this.#left = Math.min(MOVE_LOG_BURST, this.#left + Math.max(0, now - this.#at) / MOVE_LOG_REFILL_MS);
    this.#at = now;
    if (this.#left < 1) {
      this.#skipped++;
      return null;
    }
    this.#left -= 1;
    const skipped = this.#skipped;
    this.#skipped = 0;
    return skipped;
  }
}
