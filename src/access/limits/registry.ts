import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { PERIOD_MS, type RateLimit } from '../../model/access.js';
import { ClusterLimiter } from './cluster.js';
import { LocalLimiter } from './local.js';
import type { RedisLink, RedisStatus } from './redis.js';
import type { Limiter } from './result.js';

/**
 * The rate-limit state of one gateway process: every limit's buckets, kept across config versions
 * while the limit stays the same (a config change elsewhere does not refill anyone's bucket), and
 * the process's Redis link for cluster limits (null without `--redis`: they count locally).
 */
export class LimitRegistry {
  private readonly limiters = new Map<string, Limiter>();
  private warnedNoRedis = false;

  constructor(
    readonly redis: RedisLink | null,
    private readonly log: Logger | null = null,
    /** Redis key prefix of this cluster's buckets (after the link's own prefix). */
    private readonly keyPrefix = 'rl:',
  ) {}

  /** The limiter of limit `index` of an API (the same one while the limit's settings stay the same). */
  limiter(apiId: string, index: number, limit: RateLimit): Limiter {
    const id = `${apiId}:${index}:${limitSettings(limit)}`;
    let limiter = this.limiters.get(id);
    if (limiter === undefined) this.limiters.set(id, (limiter = this.create(apiId, index, limit)));
    return limiter;
  }

  /**
   * Drops the state of every limit the config version now serving does not use: limits of deleted
   * APIs, removed limits, and a limit as it was before its settings changed (called with the
   * limiters of each version as it starts serving; requests still on an older version keep theirs).
   */
  retain(serving: ReadonlySet<Limiter>): void {
    for (const [id, limiter] of this.limiters) if (!serving.has(limiter)) this.limiters.delete(id);
  }

  /** Whether cluster limits reach Redis (for `/status`). */
  status(): RedisStatus {
    return this.redis?.status() ?? { configured: false, connected: false, lastError: null, downSince: null };
  }

  async close(): Promise<void> {
    await this.redis?.close();
  }

  private create(apiId: string, index: number, limit: RateLimit): Limiter {
    const capacity = limit.burst ?? limit.rate;
    const periodMs = PERIOD_MS[limit.per];
    const refillPerMs = limit.rate / periodMs;
    if (limit.policy === 'local') return new LocalLimiter(capacity, refillPerMs);
    const fallback = new LocalLimiter(capacity, refillPerMs, 'local-fallback');
    if (this.redis === null) {
      if (!this.warnedNoRedis)
        this.log?.warn(
          { apiId },
          'a cluster rate limit is configured but this gateway has no --redis: it counts locally',
        );
      this.warnedNoRedis = true;
      return fallback;
    }
    // The settings' digest in the key: a changed limit starts afresh on Redis too, as it does locally.
    const key = `${this.keyPrefix}${apiId}:${index}:${settingsDigest(limit)}:`;
    return new ClusterLimiter(
      this.redis,
      key,
      capacity,
      refillPerMs,
      periodMs,
      fallback,
      limit.onRedisDown === 'closed',
    );
  }
}

/** Everything that makes a limit the same limit (a change in any starts it afresh). */
function limitSettings(limit: RateLimit): string {
  const base = `${limit.rate}/${limit.per}:${limit.burst ?? limit.rate}:${limit.policy}:${limit.onRedisDown}:${limit.by}:${limit.header ?? ''}`;
  // Only limits that key by address depend on the prefix (the others keep their buckets across it).
  return limit.by === 'ip' || limit.by === 'consumer' ? `${base}:v6/${limit.ipv6Prefix}` : base;
}

/** A short digest of a limit's settings (8 base64url characters), part of its Redis key. */
export function settingsDigest(limit: RateLimit): string {
  return createHash('sha256').update(limitSettings(limit)).digest('base64url').slice(0, 8);
}
