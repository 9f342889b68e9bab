import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { request } from 'undici';
import { discardBody, readCapped } from '../../../http/read-capped.js';

/** JWKS URLs whose key sets a process keeps (least recently used dropped first). */
export const JWKS_MAX_SETS = 64;
/** Longest wait for a JWKS document, its body included. */
export const JWKS_TIMEOUT_MS = 3_000;
/** Largest JWKS document read (a key set is a few KiB); a larger one fails the fetch. */
export const JWKS_MAX_BYTES = 1024 * 1024;
/** How long fetched keys are used before they are fetched again. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;
/** How long keys past their age still verify while fetching them again fails. */
export const JWKS_MAX_STALE_MS = 24 * 60 * 60_000;
/** Least time between two fetches of one URL, failed ones included (an unknown `kid` fetches again, at most this often). */
export const JWKS_COOLDOWN_MS = 30_000;

/** No key set of a JWKS URL can be used: its fetch failed (or none was made yet within the cooldown). */
export class JwksUnavailableError extends Error {
  readonly code = 'JWKS_UNAVAILABLE';
}

/** The JSON of a JWKS URL: one GET, no redirect followed, status 200, at most JWKS_MAX_BYTES within JWKS_TIMEOUT_MS. */
async function fetchKeySet(url: string): Promise<JSONWebKeySet> {
  const res = await request(url, {
    method: 'GET',
    headers: { accept: 'application/json, application/jwk-set+json' },
    signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
  });
  if (res.statusCode !== 200) {
    discardBody(res.body);
    throw new JwksUnavailableError(`the JWKS URL answered HTTP ${res.statusCode}`);
  }
  const bytes = await readCapped(res.body, JWKS_MAX_BYTES);
  if (bytes === null) throw new JwksUnavailableError(`the JWKS document is larger than ${JWKS_MAX_BYTES} bytes`);
  try {
    return JSON.parse(bytes.toString('utf8')) as JSONWebKeySet;
  } catch {
    throw new JwksUnavailableError('the JWKS document is not JSON');
  }
}

/** Why a fetch failed, in words. */
function failure(err: unknown): string {
  if (err instanceof JwksUnavailableError) return err.message;
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
    return `the JWKS URL did not answer within ${JWKS_TIMEOUT_MS} ms`;
  if (err instanceof errors.JOSEError) return `the JWKS document is not a key set (${err.code})`;
  return `the JWKS fetch failed (${err instanceof Error ? err.message : String(err)})`;
}

/**
 * The keys of one JWKS URL. Fetched when first needed and again past their age or on an unknown
 * `kid`, one fetch at a time (requests waiting join it), and never more often than the cooldown,
 * failed fetches included: no client can make the gateway fetch per request, least of all while the
 * identity provider struggles. A failed refresh keeps the keys held, for JWKS_MAX_STALE_MS at most.
 */
export class RemoteKeySet {
  private keys: ReturnType<typeof createLocalJWKSet> | null = null;
  private fetchedAt = -Infinity;
  private triedAt = -Infinity;
  private pending: Promise<void> | null = null;
  private lastFailure = 'no key set fetched yet';

  constructor(
    private readonly url: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** jose's key lookup: the key for a token's header, by `kid` and `alg`. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (this.keys === null || this.now() - this.fetchedAt >= JWKS_MAX_AGE_MS) await this.refresh();
    const keys = this.usable();
    try {
      return await keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      await this.refresh();
      if (this.keys === keys) throw err; // nothing new fetched
      return this.usable()(header, token);
    }
  };

  private usable(): ReturnType<typeof createLocalJWKSet> {
    if (this.keys === null || this.now() - this.fetchedAt >= JWKS_MAX_AGE_MS + JWKS_MAX_STALE_MS)
      throw new JwksUnavailableError(this.lastFailure);
    return this.keys;
  }

  /** Fetches the keys again, unless a fetch is under way (joined) or one was tried within the cooldown. */
  private refresh(): Promise<void> {
    if (this.pending !== null) return this.pending;
    if (this.now() - this.triedAt < JWKS_COOLDOWN_MS) return Promise.resolve();
    this.triedAt = this.now();
    this.pending = (async () => {
      try {
        this.keys = createLocalJWKSet(await fetchKeySet(this.url));
        this.fetchedAt = this.now();
      } catch (err) {
        this.lastFailure = failure(err);
      } finally {
        this.pending = null;
      }
    })();
    return this.pending;
  }
}

const sets = new Map<string, RemoteKeySet>();

/**
 * The key lookup of a JWKS URL, shared by every config version and API that names it (so a config
 * change does not fetch again).
 */
export function jwksFor(url: string): JWTVerifyGetKey {
  let set = sets.get(url);
  if (set !== undefined) {
    sets.delete(url);
    sets.set(url, set);
    return set.getKey;
  }
  if (sets.size >= JWKS_MAX_SETS) sets.delete(sets.keys().next().value!);
  set = new RemoteKeySet(url);
  sets.set(url, set);
  return set.getKey;
}
