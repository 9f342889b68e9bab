import { UpstreamPool } from '../upstream/pool.js';
import type { NodeResolver } from '../upstream/resolver.js';
import { unlimitedBudget, type SocketBudget } from '../upstream/socket-budget.js';

/** Options shared by every upstream pool. */
export interface PoolOptions {
  /** Most sockets per origin. */
  connections: number;
  /** Idle keep-alive sockets are closed after this long. */
  keepAliveMs: number;
  /** Most requests waiting for a socket of one origin. */
  maxWaiting: number;
  /** Longest wait for a socket of an origin, ms. */
  waitMs: number;
}

/** How often idle connections past their keep-alive time are closed. */
const SWEEP_MS = 1_000;

/**
 * Keep-alive pools by origin and connect timeout. Pools outlive snapshots, so a config change (a tick,
 * a variable flip) never drops warm connections; pools no snapshot uses any more are closed. Every
 * pool's connections hold places in one `SocketBudget`, the process's bound on upstream sockets, and
 * resolve node names through one `NodeResolver`.
 */
export class PoolRegistry {
  private readonly pools = new Map<string, UpstreamPool>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly options: PoolOptions,
    /** The upstream sockets of the process, all pools together. */
    readonly budget: SocketBudget = unlimitedBudget(),
    /** Resolves node names for every pool (null: the system's lookup, uncached). */
    private readonly resolver: NodeResolver | null = null,
  ) {
    this.sweeper = setInterval(() => {
      for (const pool of this.pools.values()) pool.sweep();
    }, SWEEP_MS);
    this.sweeper.unref();
  }

  /** The pool for an origin, created on first use. */
  get(origin: string, connectMs: number): UpstreamPool {
    const key = `${origin}|${connectMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new UpstreamPool(origin, { ...this.options, connectMs }, this.budget, this.resolver);
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Requests waiting for a connection, all pools together. */
  waiting(): number {
    let n = 0;
    for (const pool of this.pools.values()) n += pool.waiting;
    return n;
  }

  /** Closes (gracefully: in-flight requests finish) every pool not in `inUse`. */
  prune(inUse: ReadonlySet<UpstreamPool>): void {
    for (const [key, pool] of this.pools) {
      if (!inUse.has(pool)) {
        this.pools.delete(key);
        void pool.close();
      }
    }
  }

  /** Closes every pool, waiting for in-flight requests. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(all.map((p) => p.close()));
  }
}
