import { addressKey } from '../http/address-key.js';

/** Wrong admin tokens a client (an IPv4 address, an IPv6 /64) may present in a burst. */
export const AUTH_FAILURE_BURST = 10;
/** How often one more wrong token is allowed back: 10 a minute once the burst is spent. */
export const AUTH_FAILURE_REFILL_MS = 6_000;
/** Clients tracked at most; past it, those whose allowance is whole again go first, then the oldest. */
export const AUTH_THROTTLE_MAX_CLIENTS = 10_000;

/** One client's allowance of wrong tokens. */
interface Allowance {
  /** Wrong tokens still allowed at `at`. */
  left: number;
  at: number;
}

/**
 * Throttles the guessing of admin tokens, per client: each wrong token spends one of a burst of
 * AUTH_FAILURE_BURST, given back one per AUTH_FAILURE_REFILL_MS. While a client has none left, its
 * admin requests are refused (429 `AUTH_THROTTLED`) without their token being looked at, so a guess
 * tells nothing and costs the store no lookup; a request without a token, or with a right one, spends
 * nothing. Per process and in memory: a restart forgets, and each admin process counts alone.
 */
export class AuthThrottle {
  private readonly clients = new Map<string, Allowance>();

  constructor(
    private readonly burst = AUTH_FAILURE_BURST,
    private readonly refillMs = AUTH_FAILURE_REFILL_MS,
    private readonly maxClients = AUTH_THROTTLE_MAX_CLIENTS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Milliseconds until `ip` may present a token again; 0 when it may now. */
  waitMs(ip: string): number {
    const allowance = this.clients.get(addressKey(ip, 64));
    if (allowance === undefined) return 0;
    const left = this.refill(allowance);
    return left >= 1 ? 0 : Math.ceil((1 - left) * this.refillMs);
  }

  /** Counts a wrong token presented by `ip`. */
  failed(ip: string): void {
    const key = addressKey(ip, 64);
    let allowance = this.clients.get(key);
    if (allowance === undefined) {
      if (this.clients.size >= this.maxClients) this.makeRoom();
      allowance = { left: this.burst, at: this.now() };
      this.clients.set(key, allowance);
    }
    allowance.left = Math.max(0, this.refill(allowance) - 1);
  }

  /** Clients tracked now (for tests and the bound). */
  get size(): number {
    return this.clients.size;
  }

  private refill(allowance: Allowance): number {
    const now = this.now();
    const elapsed = Math.max(0, now - allowance.at);
    allowance.left = Math.min(this.burst, allowance.left + elapsed / this.refillMs);
    allowance.at = now;
    return allowance.left;
  }

  /** Drops clients whose allowance is whole again, then the oldest until an eighth of the room is free. */
  private makeRoom(): void {
    for (const [key, allowance] of this.clients) if (this.refill(allowance) >= this.burst) this.clients.delete(key);
    const target = this.maxClients - Math.ceil(this.maxClients / 8);
    for (const key of this.clients.keys()) {
      if (this.clients.size <= target) break;
      this.clients.delete(key);
    }
  }
}
