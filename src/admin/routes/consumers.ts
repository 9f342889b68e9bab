import type { FastifyInstance } from 'fastify';
import { storeCredential } from '../../access/secrets.js';
import { ConsumerCreate, ConsumerPatch, consumerView, CredentialInput, credentialView, type Consumer, type ConsumerView, type CredentialView } from '../../model/consumer.js';
import type { Store } from '../../store/store.js';
import { awaitApplied } from '../applied.js';
import type { AdminDeps } from '../deps.js';
import { AdminError } from '../errors.js';
import { parseInput } from '../validate.js';

type IdParams = { Params: { id: string } };
type CredentialParams = { Params: { id: string; credentialId: string } };

/** A credential as its creation answers it: with the generated secret, shown this once. */
export type CreatedCredential = CredentialView & { secret?: string };

async function requireConsumer(store: Store, id: string): Promise<Consumer> {
  const consumer = await store.getConsumer(id);
  if (!consumer) throw new AdminError('CONSUMER_NOT_FOUND', `no consumer with id ${id}`);
  return consumer;
}

/**
 * `/admin/consumers`, `/admin/consumers/:id` and `/admin/consumers/:id/credentials[/:credentialId]`:
 * list, create, read, patch, delete consumers; add and remove credentials. Secrets are hashed
 * before they reach the store; a generated API key or JWT secret is in the creating answer only,
 * and no answer ever carries a stored secret or hash.
 */
export function registerConsumerRoutes(app: FastifyInstance, { store, runtime }: AdminDeps): void {
  app.get('/consumers', async (): Promise<ConsumerView[]> => (await store.listConsumers()).map(consumerView));

  app.post('/consumers', async (request, reply) => {
    const input = parseInput(ConsumerCreate, request.body);
    const made = await Promise.all(input.credentials.map(storeCredential));
    const consumer = await store.createConsumer({ name: input.name, tags: input.tags, credentials: made.map((m) => m.stored) });
    await awaitApplied(runtime, request.log);
    const view = consumerView(consumer);
    const credentials: CreatedCredential[] = view.credentials.map((c, i) => withSecret(c, made[i]!.secret));
    return reply.code(201).send({ ...view, credentials });
  });

  app.get<IdParams>('/consumers/:id', async (request) => consumerView(await requireConsumer(store, request.params.id)));

  app.patch<IdParams>('/consumers/:id', async (request) => {
    const patch = parseInput(ConsumerPatch, request.body);
    const updated = await store.updateConsumer(request.params.id, (c) => ({ ...c, ...patch }));
    if (!updated) throw new AdminError('CONSUMER_NOT_FOUND', `no consumer with id ${request.params.id}`);
    await awaitApplied(runtime, request.log);
    return consumerView(updated);
  });

  app.delete<IdParams>('/consumers/:id', async (request, reply) => {
    if (!(await store.deleteConsumer(request.params.id))) throw new AdminError('CONSUMER_NOT_FOUND', `no consumer with id ${request.params.id}`);
    await awaitApplied(runtime, request.log);
    return reply.code(204).send();
  });

  app.post<IdParams>('/consumers/:id/credentials', async (request, reply) => {
    const input = parseInput(CredentialInput, request.body);
    await requireConsumer(store, request.params.id);
    const made = await storeCredential(input);
    const updated = await store.updateConsumer(request.params.id, (c) => ({ ...c, credentials: [...c.credentials, made.stored] }));
    if (!updated) throw new AdminError('CONSUMER_NOT_FOUND', `no consumer with id ${request.params.id}`);
    await awaitApplied(runtime, request.log);
    return reply.code(201).send(withSecret(credentialView(made.stored), made.secret));
  });

  app.delete<CredentialParams>('/consumers/:id/credentials/:credentialId', async (request, reply) => {
    const { id, credentialId } = request.params;
    const updated = await store.updateConsumer(id, (c) => {
      // Thrown inside the transaction, so nothing is written and the version does not move.
      if (!c.credentials.some((cr) => cr.id === credentialId)) throw new AdminError('CREDENTIAL_NOT_FOUND', `consumer ${id} has no credential ${credentialId}`);
      return { ...c, credentials: c.credentials.filter((cr) => cr.id !== credentialId) };
    });
    if (!updated) throw new AdminError('CONSUMER_NOT_FOUND', `no consumer with id ${id}`);
    await awaitApplied(runtime, request.log);
    return reply.code(204).send();
  });
}

function withSecret(view: CredentialView, secret: string | null): CreatedCredential {
  return secret === null ? view : { ...view, secret };
}
