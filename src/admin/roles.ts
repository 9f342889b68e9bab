import type { FastifyReply, FastifyRequest } from 'fastify';
import { roleAllows, type Actor, type Role } from '../model/token.js';
import { AdminError } from './errors.js';

/** The role a route needs: fixed, or decided from the request (a node PATCH that only ticks is an operator's). */
export type RoleNeed = Role | ((request: FastifyRequest) => Role);

declare module 'fastify' {
  interface FastifyRequest {
    /** Who calls, set by the admin scope's authentication hook. */
    actor: Actor;
  }
  interface FastifyContextConfig {
    /** The role the route needs; without it, `defaultRole` of its method. */
    role?: RoleNeed;
    /** The status a successful call answers with (201 for creates); what a replayed Idempotency-Key answers with. */
    successStatus?: number;
  }
}

/**
 * The role a route needs when it declares none: reading is a viewer's, any write an editor's. So a
 * new route is safe by default; the routes of ticks and variables declare `operator`, token
 * management `admin`, read-only POSTs (a selector test) `viewer`.
 */
export function defaultRole(method: string): Role {
  return method === 'GET' || method === 'HEAD' ? 'viewer' : 'editor';
}

/** The role this request needs. */
export function requiredRole(request: FastifyRequest): Role {
  const need = request.routeOptions.config.role;
  if (need === undefined) return defaultRole(request.method);
  return typeof need === 'function' ? need(request) : need;
}

/** A preHandler hook (after the body is parsed, which a role may depend on) that answers 403 FORBIDDEN to a token whose role is too low. */
export async function authorize(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  const need = requiredRole(request);
  if (!roleAllows(request.actor.role, need)) {
    throw new AdminError(
      'FORBIDDEN',
      `this needs the ${need} role; the token "${request.actor.name}" is ${request.actor.role}`,
    );
  }
}
