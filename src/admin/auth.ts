import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../model/token.js';
import type { Store } from '../store/store.js';
import type { AuthThrottle } from './auth-throttle.js';
import { AdminError } from './errors.js';

/** Whether the presented token equals the expected one, in time that does not depend on where they differ. */
export function tokenMatches(expected: string, presented: string): boolean {
  // Hashing first gives timingSafeEqual two equal-length buffers, so not even the length leaks.
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(presented, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return match?.[1] ?? null;
}

/** Who the data dir's token (or ISOGATE_ADMIN_TOKEN) is: an admin, named in the audit log as `admin-token`. */
export const BOOTSTRAP_ACTOR: Actor = { id: 'bootstrap', name: 'admin-token', role: 'admin' };

/** Names named tokens may not take: they are the bootstrap token's and isogate's own in the audit log. */
export const RESERVED_TOKEN_NAMES = new Set(['admin-token', 'system', 'cli']);

/** A new named token's secret: `isg_` and 32 random bytes (the prefix makes leaked ones easy to scan for). */
export function newTokenSecret(): string {
  return `isg_${randomBytes(32).toString('base64url')}`;
}

/**
 * What the store keeps of a named token's secret. One SHA-256 is enough: the secrets are 256 random
 * bits, so there is nothing to guess, and a lookup by hash needs no per-token salt.
 */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * An onRequest hook that finds who calls: the bootstrap token is an admin (checked first, so it works
 * while the store is away); any other token must be a stored named token. Sets `request.actor`;
 * answers 401 UNAUTHORIZED otherwise, and 429 AUTH_THROTTLED (with `Retry-After`) to a client that
 * presented too many wrong tokens of late, whatever token it sends now (src/admin/auth-throttle.ts).
 */
export function authenticate(bootstrapToken: string, store: Store, throttle: AuthThrottle) {
  return async function identifyCaller(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const presented = bearerToken(request.headers.authorization);
    if (presented === null) throw new AdminError('UNAUTHORIZED');
    const waitMs = throttle.waitMs(request.ip);
    if (waitMs > 0) {
      reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
      throw new AdminError('AUTH_THROTTLED');
    }
    if (tokenMatches(bootstrapToken, presented)) {
      request.actor = BOOTSTRAP_ACTOR;
      return;
    }
    const token = await store.findTokenByHash(hashTokenSecret(presented));
    if (token === null) {
      throttle.failed(request.ip);
      if (throttle.waitMs(request.ip) > 0) request.log.warn({ ip: request.ip }, 'admin token guessing throttled');
      throw new AdminError('UNAUTHORIZED');
    }
    request.actor = { id: token.id, name: token.name, role: token.role };
  };
}
