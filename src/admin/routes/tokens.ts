import type { FastifyInstance } from 'fastify';
import { TokenCreate, TokenPatch, type AdminToken } from '../../model/token.js';
import { hashTokenSecret, newTokenSecret, RESERVED_TOKEN_NAMES } from '../auth.js';
import type { AdminDeps } from '../deps.js';
import { AdminError } from '../errors.js';
import { parseInput } from '../validate.js';

type IdParams = { Params: { id: string } };

/** A token as created: its record and, this once, its secret. */
export type CreatedToken = AdminToken & { secret: string };

function refuseReservedName(name: string | undefined): void {
  if (name !== undefined && RESERVED_TOKEN_NAMES.has(name.toLowerCase())) {
    throw new AdminError('VALIDATION_FAILED', undefined, [
      { path: 'name', message: `"${name}" is reserved for isogate's own writes` },
    ]);
  }
}

/**
 * `GET /admin/whoami` (any token) and `/admin/tokens` (admins only): named admin tokens, each with a
 * role. The secret is shown once, when created; the store keeps only its hash.
 */
export function registerTokenRoutes(app: FastifyInstance, { store }: AdminDeps): void {
  app.get('/whoami', async (request) => request.actor);

  const admin = { config: { role: 'admin' as const } };
  app.get('/tokens', admin, async () => store.listTokens());

  app.post(
    '/tokens',
    { config: { role: 'admin', successStatus: 201 } },
    async (request, reply): Promise<CreatedToken> => {
      const input = parseInput(TokenCreate, request.body);
      refuseReservedName(input.name);
      const secret = newTokenSecret();
      const token = await store.createToken(input, hashTokenSecret(secret));
      return reply.code(201).send({ ...token, secret });
    },
  );

  app.get<IdParams>('/tokens/:id', admin, async (request) => {
    const token = await store.getToken(request.params.id);
    if (!token) throw new AdminError('TOKEN_NOT_FOUND', `no admin token with id ${request.params.id}`);
    return token;
  });

  app.patch<IdParams>('/tokens/:id', admin, async (request) => {
    const patch = parseInput(TokenPatch, request.body);
    refuseReservedName(patch.name);
    const token = await store.updateToken(request.params.id, (t) => ({ ...t, ...patch }));
    if (!token) throw new AdminError('TOKEN_NOT_FOUND', `no admin token with id ${request.params.id}`);
    return token;
  });

  app.delete<IdParams>('/tokens/:id', admin, async (request, reply) => {
    if (!(await store.deleteToken(request.params.id)))
      throw new AdminError('TOKEN_NOT_FOUND', `no admin token with id ${request.params.id}`);
    return reply.code(204).send();
  });
}
