/**
 * One of a connection's timeouts, kept across its requests: arming it again with the same duration
 * refreshes the timer instead of creating one. It fires `onFire` with its duration; the callback
 * checks whether the phase it guards is still on.
 */
export class PhaseTimer {
  private timer: NodeJS.Timeout | null = null;
  private ms = 0;
  private readonly fire = (): void => this.onFire(this.ms);

  constructor(private readonly onFire: (ms: number) => void) {}

  /** (Re)starts the countdown of `ms`. */
  arm(ms: number): void {
    if (this.timer !== null && this.ms === ms) {
      this.timer.refresh();
      return;
    }
    this.clear();
    this.ms = ms;
    this.timer = setTimeout(this.fire, ms);
    this.timer.unref();
  }

  /** Restarts the countdown if the timer is armed. */
  refresh(): void {
    this.timer?.refresh();
  }

  clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
