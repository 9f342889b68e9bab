import type { StoreHealth } from '../store.js';

interface Failure {
  readonly message: string;
  /** Order of the failure, so the newest one is reported. */
  readonly seq: number;
}

/**
 * Whether a PostgreSQL store reaches its database, from two kinds of sources: the pool (the outcome
 * of its last use) and each watching listener (whether its connection is up). Connected while none
 * of them is failing.
 */
export class HealthTracker {
  private readonly failures = new Map<object, Failure>();
  private seq = 0;
  private readonly pool = {};

  /** A pooled connection was used successfully. */
  poolSucceeded(): void {
    this.failures.delete(this.pool);
  }

  /** A pooled connection could not be made or dropped. */
  poolFailed(message: string): void {
    this.failed(this.pool, message);
  }

  /** A listener (identified by `source`) is connected and listening. */
  listenerUp(source: object): void {
    this.failures.delete(source);
  }

  /** A listener lost (or could not make) its connection. */
  listenerDown(source: object, message: string): void {
    this.failed(source, message);
  }

  /** A listener stopped; it no longer counts. */
  listenerRemoved(source: object): void {
    this.failures.delete(source);
  }

  /** The current state. */
  snapshot(): StoreHealth {
    let newest: Failure | null = null;
    for (const failure of this.failures.values()) if (newest === null || failure.seq > newest.seq) newest = failure;
    return { connected: newest === null, lastError: newest?.message ?? null };
  }

  private failed(source: object, message: string): void {
    this.failures.set(source, { message, seq: ++this.seq });
  }
}
