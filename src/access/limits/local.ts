import type { LimitResult, Limiter } from './result.js';

/** Keys one local limit tracks at most; past it, full (idle) buckets go first, then the oldest. */
export const LOCAL_MAX_KEYS = 100_000;

class Bucket {
  constructor(
    public tokens: number,
    public at: number,
  ) {}
}

/**
 * A token bucket per key in this process: `capacity` tokens, refilled at `refillPerMs` continuously.
 * No shared state: each gateway process counts on its own (Kong's `local` policy).
 */
export class LocalLimiter implements Limiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly capacity: number,
    readonly refillPerMs: number,
    private readonly policy: 'local' | 'local-fallback' = 'local',
    private readonly maxKeys = LOCAL_MAX_KEYS,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  take(key: string): LimitResult {
    const now = this.now();
    const bucket = this.bucket(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return this.result(true, bucket.tokens);
    }
    return this.result(false, bucket.tokens);
  }

  peek(key: string): LimitResult {
    const now = this.now();
    const bucket = this.buckets.get(key);
    const tokens =
      bucket === undefined
        ? this.capacity
        : Math.min(this.capacity, bucket.tokens + (now - bucket.at) * this.refillPerMs);
    return this.result(tokens >= 1, tokens >= 1 ? tokens - 1 : tokens);
  }

  /** Keys tracked now. */
  get size(): number {
    return this.buckets.size;
  }

  private bucket(key: string, now: number): Bucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) this.evict(now);
      this.buckets.set(key, (bucket = new Bucket(this.capacity, now)));
      return bucket;
    }
    if (now > bucket.at) {
      bucket.tokens = Math.min(this.capacity, bucket.tokens + (now - bucket.at) * this.refillPerMs);
      bucket.at = now;
    }
    return bucket;
  }

  // A full bucket is the same as none, so dropping those loses nothing; if none is full the oldest
  // key goes (it starts full when it comes back: the bound errs towards letting through).
  private evict(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.refillPerMs >= this.capacity) this.buckets.delete(key);
    }
    if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
  }

  private result(allowed: boolean, tokens: number): LimitResult {
    return {
      allowed,
      remaining: Math.floor(tokens),
      limit: this.capacity,
      resetMs: (this.capacity - tokens) / this.refillPerMs,
      retryAfterMs: allowed ? 0 : (1 - tokens) / this.refillPerMs,
      policy: this.policy,
    };
  }
}
