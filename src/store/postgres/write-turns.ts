import { StoreUnavailableError } from '../errors.js';

/** Writes of one process that may wait for their turn; past it, a write is refused at once. */
export const MAX_WAITING_WRITES = 256;

/**
 * The writes of one process, one at a time. Every write locks the meta row first, so writes are
 * serial anyway; those waiting wait here rather than on a pooled connection each, so a long write
 * (a big config apply) never takes the whole pool, and reads (token checks included) still find a
 * connection. A wait is bounded in time and in number: past either, StoreUnavailableError.
 */
export class WriteTurns {
  private busy = false;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly waitMs: number) {}

  /** Runs `write` in its turn. */
  async run<T>(write: () => Promise<T>): Promise<T> {
    await this.take();
    try {
      return await write();
    } finally {
      this.release();
    }
  }

  private take(): Promise<void> {
    if (!this.busy) {
      this.busy = true;
      return Promise.resolve();
    }
    if (this.waiting.length >= MAX_WAITING_WRITES)
      return Promise.reject(new StoreUnavailableError(`more than ${MAX_WAITING_WRITES} writes are waiting`));
    return new Promise((resolve, reject) => {
      const turn = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(turn), 1);
        reject(new StoreUnavailableError(`no turn to write within ${this.waitMs} ms (another write is running)`));
      }, this.waitMs);
      this.waiting.push(turn);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.busy = false;
    else next(); // the turn passes straight on: busy stays true
  }
}
