import { LocalLimiter } from '../access/limits/local.js';
import { addressKey } from '../http/address-key.js';

/** Wrong admin tokens a client (an IPv4 address, an IPv6 /64) may present in a burst. */
export const AUTH_FAILURE_BURST = 10;
/** How often one more wrong token is allowed back: 10 a minute once the burst is spent. */
export const AUTH_FAILURE_REFILL_MS = 6_000;
/** Clients tracked at most; past it, those whose allowance is whole again go first, then the oldest. */
export const AUTH_THROTTLE_MAX_CLIENTS = 10_000;

/**
 * Throttles the guessing of admin tokens, per client: each wrong token spends one of a burst of
 * AUTH_FAILURE_BURST, given back one per AUTH_FAILURE_REFILL_MS. While a client has none left, its
 * admin requests are refused (429 `AUTH_THROTTLED`) without their token being looked at, so a guess
 * tells nothing and costs the store no lookup; a request without a token, or with a right one, spends
 * nothing. Per process and in memory: a restart forgets, and each admin process counts alone. The
 * buckets are a rate limit's (LocalLimiter: bounded keys, full buckets dropped first).
 */
export class AuthThrottle {
  readonly #buckets: LocalLimiter;

  constructor(
    burst = AUTH_FAILURE_BURST,
    refillMs = AUTH_FAILURE_REFILL_MS,
    maxClients = AUTH_THROTTLE_MAX_CLIENTS,
    now: () => number = () => performance.now(),
  ) {
    this.#buckets = new LocalLimiter(burst, 1 / refillMs, 'local', maxClients, now);
  }

  /** Milliseconds until `ip` may present a token again; 0 when it may now. */
  waitMs(ip: string): number {
    return Math.ceil(this.#buckets.peek(addressKey(ip, 64)).retryAfterMs);
  }

  /** Counts a wrong token presented by `ip`. */
  failed(ip: string): void {
    this.#buckets.take(addressKey(ip, 64));
  }

  /** Clients tracked now (for tests and the bound). */
  get size(): number {
    return this.#buckets.size;
  }
}
