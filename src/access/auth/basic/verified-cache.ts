import { createHash } from 'node:crypto';
import { steadyNow } from '../../../runtime/clock.js';

/** Verified passwords remembered at most (oldest dropped first). */
export const VERIFIED_MAX_ENTRIES = 10_000;
/** How long a verified password is remembered. */
export const VERIFIED_TTL_MS = 5 * 60_000;

/**
 * Basic credentials that passed scrypt recently, by a SHA-256 of stored hash and password (never the
 * password itself). Bounded in size and age.
 */
export class VerifiedCache {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly maxEntries = VERIFIED_MAX_ENTRIES,
    private readonly ttlMs = VERIFIED_TTL_MS,
  ) {}

  /** The cache key of a password checked against a stored hash. */
  static keyOf(storedHash: string, password: string): string {
    return createHash('sha256').update(storedHash).update('\0').update(password, 'utf8').digest('base64url');
  }

  has(key: string): boolean {
    const until = this.until.get(key);
    if (until === undefined) return false;
    if (until > steadyNow()) return true;
    this.until.delete(key);
    return false;
  }

  add(key: string): void {
    this.until.delete(key);
    if (this.until.size >= this.maxEntries) this.until.delete(this.until.keys().next().value!);
    this.until.set(key, steadyNow() + this.ttlMs);
  }
}
