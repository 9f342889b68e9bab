import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';

/** JWKS URLs whose key sets a process keeps (least recently used dropped first). */
export const JWKS_MAX_SETS = 64;
/** Longest wait for a JWKS document. */
export const JWKS_TIMEOUT_MS = 3_000;
/** How long fetched keys are used before they are fetched again. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;
/** Least time between two fetches of one URL (an unknown `kid` fetches again, at most this often). */
export const JWKS_COOLDOWN_MS = 30_000;

const sets = new Map<string, JWTVerifyGetKey>();

/**
 * The key set of a JWKS URL, shared by every config version and API that names it (so a config
 * change does not fetch again). jose fetches with the timeout, caches for the max age and refetches
 * on an unknown `kid` no more often than the cooldown.
 */
export function jwksFor(url: string): JWTVerifyGetKey {
  let set = sets.get(url);
  if (set !== undefined) {
    sets.delete(url);
    sets.set(url, set);
    return set;
  }
  if (sets.size >= JWKS_MAX_SETS) sets.delete(sets.keys().next().value!);
  set = createRemoteJWKSet(new URL(url), {
    timeoutDuration: JWKS_TIMEOUT_MS,
    cacheMaxAge: JWKS_MAX_AGE_MS,
    cooldownDuration: JWKS_COOLDOWN_MS,
  });
  sets.set(url, set);
  return set;
}
