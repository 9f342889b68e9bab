import type { FastifyInstance } from 'fastify';
import { storeCredential } from '../../access/secrets.js';
import {
  ConsumerCreate,
  ConsumerPatch,
  consumerView,
  CredentialInput,
  credentialView,
  type Consumer,
  type ConsumerView,
  type CredentialView,
} from '../../model/consumer.js';
import { objectEtag } from '../../store/changes.js';
import type { Store } from '../../store/store.js';
import { awaitApplied } from '../applied.js';
import type { AdminDeps } from '../deps.js';
import { AdminError } from '../errors.js';
import { pageOf, pagingOf, type ListPage } from '../paging.js';
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
 * and no answer (nor the audit log, nor a replayed Idempotency-Key) ever carries a stored secret or
 * hash. Reading is a viewer's, writing an editor's (the role defaults); a consumer's ETag is that of
 * its view (`GET /admin/consumers/:id`), which If-Match on PATCH, DELETE and a credential's DELETE takes.
 */
export function registerConsumerRoutes(app: FastifyInstance, { store, runtime }: AdminDeps): void {
  // The whole list as an array, or with `limit`/`after` one page of it by name.
  app.get('/consumers', async (request): Promise<ConsumerView[] | ListPage<ConsumerView>> => {
    const paging = pagingOf(request.query);
    const all = await store.listConsumers();
    if (paging === null) return all.map(consumerView);
    const page = pageOf(all, (c) => c.name, paging);
    return { items: page.items.map(consumerView), next: page.next };
  });

  app.post('/consumers', { config: { successStatus: 201 } }, async (request, reply) => {
    const input = parseInput(ConsumerCreate, request.body);
    const made = await Promise.all(input.credentials.map(storeCredential));
    const consumer = await store.createConsumer({
      name: input.name,
      tags: input.tags,
      credentials: made.map((m) => m.stored),
    });
    await awaitApplied(runtime, request.log);
    const view = consumerView(consumer);
    const credentials: CreatedCredential[] = view.credentials.map((c, i) => withSecret(c, made[i]!.secret));
    // The consumer's own entity tag: the answer also holds the generated secrets, shown this once.
    return reply
      .code(201)
      .header('etag', objectEtag('consumer', consumer))
      .send({ ...view, credentials });
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
    if (!(await store.deleteConsumer(request.params.id)))
      throw new AdminError('CONSUMER_NOT_FOUND', `no consumer with id ${request.params.id}`);
    await awaitApplied(runtime, request.log);
    return reply.code(204).send();
  });

  app.post<IdParams>('/consumers/:id/credentials', { config: { successStatus: 201 } }, async (request, reply) => {
    const input = parseInput(CredentialInput, request.body);
    await requireConsumer(store, request.params.id);
    const made = await storeCredential(input);
    const updated = await store.updateConsumer(request.params.id, (c) => ({
      ...c,
      credentials: [...c.credentials, made.stored],
    }));
    if (!updated) throw new AdminError('CONSUMER_NOT_FOUND', `no consumer with id ${request.params.id}`);
    await awaitApplied(runtime, request.log);
    // The ETag is the consumer's (the object this write changed), for a following If-Match.
    return reply
      .code(201)
      .header('etag', objectEtag('consumer', updated))
      .send(withSecret(credentialView(made.stored), made.secret));
  });

  app.delete<CredentialParams>('/consumers/:id/credentials/:credentialId', async (request, reply) => {
    const { id, credentialId } = request.params;
    const updated = await store.updateConsumer(id, (c) => {
      // Thrown inside the transaction, so nothing is written and the version does not move.
      if (!c.credentials.some((cr) => cr.id === credentialId))
        throw new AdminError('CREDENTIAL_NOT_FOUND', `consumer ${id} has no credential ${credentialId}`);
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
