import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiCreate, ApiPatch, type Api } from '../../model/api.js';
import { mergeHealth } from '../../model/health.js';
import { awaitApplied } from '../applied.js';
import type { AdminDeps } from '../deps.js';
import { AdminError } from '../errors.js';
import { requireApi } from '../lookup.js';
import { toSelectorRequest } from '../sample.js';
import { requireSelectorTrial } from '../trial.js';
import { parseInput } from '../validate.js';

type IdParams = { Params: { id: string } };

/** An API as `GET /admin/apis` lists it. */
export type ApiSummary = Api & {
  nodeCounts: { enabled: number; total: number };
  selectorState: 'active' | 'quarantined' | 'none';
};

/** `/admin/apis` and `/admin/apis/:id`: list, create, read, patch, delete. */
export function registerApiRoutes(app: FastifyInstance, { store, runtime }: AdminDeps): void {
  app.get('/apis', async (): Promise<ApiSummary[]> => {
    const config = await store.loadConfig();
    const counts = new Map<string, { enabled: number; total: number }>();
    for (const node of config.nodes) {
      const c = counts.get(node.apiId) ?? { enabled: 0, total: 0 };
      c.total++;
      if (node.enabled) c.enabled++;
      counts.set(node.apiId, c);
    }
    return Promise.all(
      config.apis.map(async (api) => ({
        ...api,
        nodeCounts: counts.get(api.id) ?? { enabled: 0, total: 0 },
        selectorState: (await runtime.selectorStatus(api.id))?.state ?? 'none',
      })),
    );
  });

  app.post('/apis', { config: { successStatus: 201 } }, async (request, reply) => {
    const input = parseInput(ApiCreate, request.body);
    if (input.selector !== null) {
      // A new API has no nodes: an id no API has yet makes the runtime trial against an empty list.
      await requireSelectorTrial(runtime, randomUUID(), input.selector, toSelectorRequest(undefined, input));
    }
    const api = await store.createApi(input);
    await awaitApplied(runtime, request.log);
    return reply.code(201).send(api);
  });

  app.get<IdParams>('/apis/:id', async (request) => requireApi(store, request.params.id));

  app.patch<IdParams>('/apis/:id', async (request) => {
    const patch = parseInput(ApiPatch, request.body);
    const current = await requireApi(store, request.params.id);
    if (patch.selector) {
      await requireSelectorTrial(runtime, current.id, patch.selector, toSelectorRequest(undefined, { path: patch.path ?? current.path }));
    }
    // The merged API is validated again by the store (cross-field checks such as hash → hashOn included).
    const updated = await store.updateApi(current.id, (api) => ({
      ...api,
      ...patch,
      timeouts: { ...api.timeouts, ...patch.timeouts },
      retry: { ...api.retry, ...patch.retry },
      health: mergeHealth(api.health, patch.health),
    }));
    if (!updated) throw new AdminError('API_NOT_FOUND', `no API with id ${current.id}`);
    await awaitApplied(runtime, request.log);
    return updated;
  });

  app.delete<IdParams>('/apis/:id', async (request, reply) => {
    if (!(await store.deleteApi(request.params.id))) throw new AdminError('API_NOT_FOUND', `no API with id ${request.params.id}`);
    await awaitApplied(runtime, request.log);
    return reply.code(204).send();
  });
}
