/** console.log lines per second per selector that reach the gateway log by default. */
export const CONSOLE_LINES_PER_SECOND = 20;

/** A fixed one-second window of line budget; counts what it refused. */
export class LineBudget {
  private windowStart = 0;
  private used = 0;
  /** Lines refused since creation. */
  dropped = 0;

  constructor(private readonly perSecond: number = CONSOLE_LINES_PER_SECOND) {}

  /** True when one more line may pass at `now` (ms); otherwise counts it as dropped. */
  take(now: number): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used < this.perSecond) {
      this.used++;
      return true;
    }
    this.dropped++;
    return false;
  }
}
