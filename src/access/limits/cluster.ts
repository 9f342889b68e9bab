import type { LocalLimiter } from './local.js';
import type { RedisLink } from './redis.js';
import type { LimitResult, Limiter } from './result.js';

/** Keys one cluster limit keeps reservations for at most (the oldest dropped first: its tokens are lost, never spent twice). */
export const CLUSTER_MAX_KEYS = 10_000;
/** Requests that may wait at once for one key's reservation; more are refused. */
export const MAX_WAITERS = 1_000;
/** Takes one request may wait for, after which Redis said the shared bucket was empty, before it is refused. */
export const MAX_ROUNDS = 4;

/** How long a reservation may be spent: L = min(1 s, period / 20). Unspent tokens are then dropped. */
export function reservationMs(periodMs: number): number {
  return Math.min(1_000, periodMs / 20);
}

class Reservation {
  tokens = 0;
  expiresAt = 0;
  /** Redis granted fewer than asked (its bucket is empty): every request is refused without asking until then. */
  emptyUntil = 0;
  /** Tokens the shared bucket had left after the last take. */
  left = 0;
  /** Size of the next take: doubles while reservations run out before they expire. */
  batch = 1;
  fetching: Promise<void> | null = null;
  /** Requests waiting for the take in flight (or about to be sent). */
  waiters = 0;
}

/**
 * A token bucket shared by every gateway process through Redis, spent from local reservations so a
 * request does not wait for Redis unless its process's reservation ran out: a take asks Redis (one
 * Lua script) for a batch of tokens, requests spend them locally, and what is unspent after L (see
 * `reservationMs`) is dropped. Tolerance: tokens are drawn from the shared bucket before they are
 * spent, and spent within L, so over any window at most `rate × L / period` more requests pass than
 * one bucket would let through, however many gateways share it; reservations held by other
 * processes can only make it fewer. While Redis is unreachable the `fallback` (a local bucket of the
 * same size) decides, or every request is refused with 503 when the limit fails closed.
 */
export class ClusterLimiter implements Limiter {
  private readonly reservations = new Map<string, Reservation>();
  private readonly maxBatch: number;
  private readonly lifetimeMs: number;

  constructor(
    private readonly redis: RedisLink,
    /** The limit's Redis key prefix (API and limit). */
    private readonly keyPrefix: string,
    private readonly capacity: number,
    private readonly refillPerMs: number,
    periodMs: number,
    private readonly fallback: LocalLimiter,
    private readonly failClosed: boolean,
  ) {
    this.lifetimeMs = reservationMs(periodMs);
    // A process never holds more than an eighth of the bucket, so others are not starved by one
    // (a take is bigger only by the requests already waiting for it, which spend it at once).
    this.maxBatch = Math.max(1, Math.floor(capacity / 8));
  }

  take(key: string): LimitResult | Promise<LimitResult> {
    if (!this.redis.connected) return this.down(key);
    const r = this.reservation(key);
    return this.spend(key, r, performance.now(), 0);
  }

  peek(key: string): LimitResult {
    if (!this.redis.connected) return this.failClosed ? this.unavailable() : this.fallback.peek(key);
    const r = this.reservations.get(key);
    const now = performance.now();
    const held = r !== undefined && now < r.expiresAt ? r.tokens : 0;
    const left = r === undefined ? this.capacity : r.left;
    const allowed = held > 0 || left >= 1 || r === undefined;
    return this.result(allowed, held + left, allowed ? 0 : Math.max(0, (r?.emptyUntil ?? now) - now));
  }

  private spend(key: string, r: Reservation, now: number, round: number): LimitResult | Promise<LimitResult> {
    if (r.tokens > 0 && now < r.expiresAt) {
      r.tokens--;
      return this.result(true, r.tokens + r.left, 0);
    }
    if (now < r.emptyUntil) return this.result(false, r.left, r.emptyUntil - now);
    // Bounded: a request that waited through MAX_ROUNDS takes after which Redis said the bucket was
    // empty, or finds MAX_WAITERS ahead of it, is refused (429) like one that found the bucket empty;
    // the tolerance never depends on contention. A take after which Redis still had tokens does not
    // count: the request arrived after it was sent, and the next take is sized for it.
    if (round >= MAX_ROUNDS || r.waiters >= MAX_WAITERS) return this.result(false, r.left, this.lifetimeMs);
    r.waiters++;
    if (r.fetching === null) r.fetching = this.fetch(key, r);
    return r.fetching.then(
      () => {
        r.waiters--;
        if (!this.redis.connected) return this.down(key);
        return this.spend(key, r, performance.now(), r.left >= 1 ? round : round + 1);
      },
      () => {
        r.waiters--;
        return this.down(key);
      },
    );
  }

  private async fetch(key: string, r: Reservation): Promise<void> {
    // Sent on the next microtask, so that requests arriving together are counted among its waiters.
    await Promise.resolve();
    const now = performance.now();
    // Ran out before it expired: the next take is bigger; expired unspent: smaller.
    if (r.expiresAt > 0)
      r.batch =
        r.tokens === 0 && now < r.expiresAt + this.lifetimeMs
          ? Math.min(this.maxBatch, r.batch * 2)
          : Math.max(1, r.batch >> 1);
    try {
      // One for each request waiting now (they spend it at once), and at least the batch (held for later).
      const want = Math.min(this.capacity, Math.max(Math.min(this.maxBatch, r.batch), r.waiters));
      const reply = await this.redis.take(this.keyPrefix + key, this.capacity, this.refillPerMs, want);
      const at = performance.now();
      r.tokens = reply.granted;
      r.expiresAt = at + this.lifetimeMs;
      r.left = Math.floor(reply.left);
      // Fewer than asked: the shared bucket is empty until Redis said the next token is due.
      r.emptyUntil = reply.granted < want ? at + Math.max(1, reply.waitMs) : 0;
    } finally {
      r.fetching = null;
    }
  }

  private reservation(key: string): Reservation {
    let r = this.reservations.get(key);
    if (r === undefined) {
      if (this.reservations.size >= CLUSTER_MAX_KEYS) this.reservations.delete(this.reservations.keys().next().value!);
      this.reservations.set(key, (r = new Reservation()));
    }
    return r;
  }

  /** Redis is unreachable (or the wait for it is over its bounds): the local bucket decides, or 503 when failing closed. */
  private down(key: string): LimitResult {
    return this.failClosed ? this.unavailable() : this.fallback.take(key);
  }

  private unavailable(): LimitResult {
    return {
      allowed: false,
      remaining: 0,
      limit: this.capacity,
      resetMs: 0,
      retryAfterMs: 1_000,
      policy: 'local-fallback',
      unavailable: true,
    };
  }

  private result(allowed: boolean, remaining: number, retryAfterMs: number): LimitResult {
    const left = Math.max(0, Math.floor(remaining));
    return {
      allowed,
      remaining: left,
      limit: this.capacity,
      resetMs: (this.capacity - left) / this.refillPerMs,
      retryAfterMs,
      policy: 'cluster',
    };
  }
}
