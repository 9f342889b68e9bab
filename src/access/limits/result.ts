/** What one rate limit decided for one request. */
export interface LimitResult {
  readonly allowed: boolean;
  /** Requests left in the bucket after this one (floored). */
  readonly remaining: number;
  /** The bucket's size (`burst`). */
  readonly limit: number;
  /** Milliseconds until the bucket is full again. */
  readonly resetMs: number;
  /** Milliseconds until the next request would pass (0 when this one passed). */
  readonly retryAfterMs: number;
  /** Which policy decided: `cluster` (Redis), `local`, or `local-fallback` (cluster limit while Redis is unreachable). */
  readonly policy: 'local' | 'cluster' | 'local-fallback';
  /** A cluster limit with `onRedisDown: "closed"` while Redis is unreachable: 503, not 429. */
  readonly unavailable?: true;
}

/** A rate limit's buckets (one per key): `take` spends a token, `peek` only looks (explain). */
export interface Limiter {
  take(key: string): LimitResult | Promise<LimitResult>;
  peek(key: string): LimitResult;
}
