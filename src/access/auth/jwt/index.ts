import { decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { z } from 'zod';
import type { JwtAuth } from '../../../model/access.js';
import type { CompiledConsumer, CompiledConsumers } from '../../consumers.js';
import { failed, headerValue, okOutcome, quoted, type AuthKindFactory, type AuthOutcome } from '../kind.js';
import { jwksFor, JwksUnavailableError } from './jwks.js';

/** Longest token accepted, in characters (a header is at most 16 KiB anyway). */
const MAX_TOKEN = 8192;

/**
 * `jwt`: `Authorization: Bearer <JWS>` (RFC 6750, RFC 7519). Only the configured algorithms pass
 * (so `alg: none` never does); `exp` and `nbf` are checked with the clock tolerance, `iss` and
 * `aud` when configured. The key is the API's JWKS, or else the secret or public key of the consumer
 * credential whose subject is the token's `claim`; with a JWKS the claim still names the consumer,
 * whose credential for that subject must then have no key of its own. With `maxLifetimeSec`, a
 * token must carry `exp`, at most that far ahead (plus the tolerance).
 */
export const jwtAuth: AuthKindFactory<z.infer<typeof JwtAuth>> = {
  kind: 'jwt',
  create(method, realm) {
    const options: JWTVerifyOptions = {
      algorithms: method.algorithms,
      clockTolerance: method.clockToleranceSec,
      ...(method.issuer === null ? {} : { issuer: method.issuer }),
      ...(method.audience === null ? {} : { audience: method.audience }),
      ...(method.maxLifetimeSec === null ? {} : { requiredClaims: ['exp'] }),
    };
    const longest = method.maxLifetimeSec === null ? null : method.maxLifetimeSec + method.clockToleranceSec;
    /** The token's claims passed the checks: the consumer, unless its `exp` is further ahead than allowed. */
    const passed = (payload: JWTPayload, consumer: CompiledConsumer): AuthOutcome => {
      // jose has checked that `exp`, required when `longest` is set, is a number.
      if (longest !== null && (payload.exp as number) - Date.now() / 1000 > longest)
        return failed('jwt', `token lives longer than maxLifetimeSec (${method.maxLifetimeSec} s)`);
      return okOutcome('jwt', consumer);
    };
    const jwks = method.jwksUrl === null ? null : jwksFor(method.jwksUrl);
    const claim = method.claim;
    const subjectOf = (payload: Record<string, unknown>): string | null => {
      const value = payload[claim];
      return typeof value === 'string' && value !== '' ? value : null;
    };
    async function verify(token: string, consumers: CompiledConsumers): Promise<AuthOutcome> {
      try {
        if (jwks !== null) {
          const { payload } = await jwtVerify(token, jwks, options);
          const subject = subjectOf(payload);
          const credential = subject === null ? undefined : consumers.byJwtSubject.get(subject);
          // A credential with its own secret or key is proven with it, never by the identity provider
          // naming its subject (else any IdP user called "acme" would be the consumer acme).
          return credential === undefined || credential.key !== null
            ? failed('jwt', `no consumer without a key of its own has the ${claim} of this token`)
            : passed(payload, credential.consumer);
        }
        // The unverified claim only picks which consumer's key to verify with; nothing is trusted before that.
        const subject = subjectOf(decodeJwt(token));
        const credential = subject === null ? undefined : consumers.byJwtSubject.get(subject);
        if (credential === undefined || credential.key === null)
          return failed('jwt', `no consumer with a key has the ${claim} of this token`);
        const { payload } = await jwtVerify(token, credential.key, options);
        return passed(payload, credential.consumer);
      } catch (err) {
        return failed('jwt', reasonOf(err));
      }
    }
    return {
      kind: 'jwt',
      challenge: `Bearer realm=${quoted(realm)}`,
      carriers: { headers: ['authorization'], query: [] },
      find(req) {
        const value = headerValue(req.headers, 'authorization');
        return value !== undefined && /^bearer /i.test(value) ? value.slice(7).trim() : null;
      },
      verify(credential, consumers) {
        if (credential.length > MAX_TOKEN) return failed('jwt', 'token too long');
        return verify(credential, consumers);
      },
    };
  },
};

/** Why a token failed, in words that name no secret (for explain and debug logs). */
function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} check failed (${err.reason})`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no JWKS key matches the token';
  if (err instanceof JwksUnavailableError) return `JWKS unavailable: ${err.message}`;
  if (err instanceof errors.JOSEError) return `invalid token (${err.code})`;
  return 'invalid token';
}
