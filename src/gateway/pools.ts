import { Pool } from 'undici';

/** Options shared by every upstream pool. */
export interface PoolOptions {
  /** Most sockets per origin. */
  connections: number;
  /** Idle keep-alive sockets are closed after this long. */
  keepAliveMs: number;
}

/**
 * Keep-alive pools by origin and connect timeout. Pools outlive snapshots, so a config change (a tick,
 * a variable flip) never drops warm connections; pools no snapshot uses any more are closed.
 */
export class PoolRegistry {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly options: PoolOptions) {}

  /** The pool for an origin, created on first use. */
  get(origin: string, connectMs: number): Pool {
    const key = `${origin}|${connectMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.options.connections,
        pipelining: 1,
        keepAliveTimeout: this.options.keepAliveMs,
        connect: { timeout: connectMs },
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Closes (gracefully: in-flight requests finish) every pool not in `inUse`. */
  prune(inUse: ReadonlySet<Pool>): void {
    for (const [key, pool] of this.pools) {
      if (!inUse.has(pool)) {
        this.pools.delete(key);
        void pool.close().catch(() => undefined);
      }
    }
  }

  /** Closes every pool, waiting for in-flight requests. */
  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(all.map((p) => p.close()));
  }
}
