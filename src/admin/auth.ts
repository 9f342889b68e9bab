import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
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

/** An onRequest hook that answers 401 UNAUTHORIZED unless the request carries the admin token. */
export function requireAdminToken(token: string) {
  return async function checkAdminToken(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const presented = bearerToken(request.headers.authorization);
    if (presented === null || !tokenMatches(token, presented)) throw new AdminError('UNAUTHORIZED');
  };
}
