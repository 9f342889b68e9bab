import { LocalLimiter } from './access/limits/local.js';

/** How many lines of one kind a LogBudget lets through, and how fast it gives them back. */
export interface LogBudgetOptions {
  /** Lines written in a burst (per key). */
  burst: number;
  /** One more line is allowed per this many milliseconds once the burst is spent. */
  everyMs: number;
  /** Keys tracked at most (a node, a failure's message); 1 for a budget of one kind of line. */
  maxKeys?: number;
  /** The clock, in milliseconds (performance.now unless given). */
  now?: () => number;
}

/**
 * The allowance of one kind of log line: a burst of `burst` lines per key, then one more per
 * `everyMs`, so that something that keeps happening (a node flapping on every probe, a store that
 * fails every poll, connects failing for want of files) writes a few lines, not one per event. The
 * events left out are counted and the count is handed to the next line that is written, so the log
 * still says how often it happened. The buckets are a rate limit's (LocalLimiter: continuous refill,
 * bounded keys, idle keys dropped first); the counts are bounded by `maxKeys` too (past it, the
 * oldest count is forgotten).
 */
export class LogBudget {
  readonly #lines: LocalLimiter;
  readonly #notLogged = new Map<string, number>();
  readonly #maxKeys: number;

  constructor({ burst, everyMs, maxKeys = 1, now = () => performance.now() }: LogBudgetOptions) {
    this.#maxKeys = maxKeys;
    this.#lines = new LocalLimiter(burst, 1 / everyMs, 'local', maxKeys, now);
  }

  /**
   * Whether a line for `key` may be written now: null when it may not (the event is counted), else
   * how many events of `key` were left out since its last line (0 when none).
   */
  take(key = ''): number | null {
    const skipped = this.#notLogged.get(key);
    if (this.#lines.take(key).allowed) {
      if (skipped === undefined) return 0;
      this.#notLogged.delete(key);
      return skipped;
    }
    if (skipped === undefined && this.#notLogged.size >= this.#maxKeys) {
      this.#notLogged.delete(this.#notLogged.keys().next().value!);
    }
    this.#notLogged.set(key, (skipped ?? 0) + 1);
    return null;
  }
}
