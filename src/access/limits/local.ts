import type { LimitResult, Limiter } from './result.js';

/** Keys one local limit tracks at most; past it, full (idle) buckets go first, then the oldest. */
export const LOCAL_MAX_KEYS = 100_000;
/** The share of LOCAL_MAX_KEYS an eviction frees at least, so that it runs once per that many new keys. */
const EVICT_SHARE = 8;

/**
 * A copy of `key` that shares no memory with the string it was cut from: a header value is a slice
 * of its request's head, and as a kept key it would keep the whole head alive (utf16le round-trips
 * every string exactly).
 */
function ownCopy(key: string): string {
  return key.length < 13 ? key : Buffer.from(key, 'utf16le').toString('utf16le');
}

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
      this.buckets.set(ownCopy(key), (bucket = new Bucket(this.capacity, now)));
      return bucket;
    }
    if (now > bucket.at) {
      bucket.tokens = Math.min(this.capacity, bucket.tokens + (now - bucket.at) * this.refillPerMs);
      bucket.at = now;
    }
    return bucket;
  }

  // A full bucket is the same as none, so dropping those loses nothing; if too few are full the
  // oldest keys go (each starts full when it comes back: the bound errs towards letting through).
  // Each eviction frees an eighth of the keys at least, so its scan is paid once per that many new
  // keys, not once per key (a client rotating a header value would otherwise stall the process).
  private evict(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.refillPerMs >= this.capacity) this.buckets.delete(key);
    }
    const keep = this.maxKeys - Math.max(1, Math.ceil(this.maxKeys / EVICT_SHARE));
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= keep) break;
      this.buckets.delete(key);
    }
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
