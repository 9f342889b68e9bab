import type { FastifyInstance } from 'fastify';
import type { ApiHealthReport } from '../../health/view.js';
import type { AdminDeps } from '../deps.js';
import { requireApi } from '../lookup.js';

type ApiParams = { Params: { id: string } };

/** `/admin/apis/:id/health`: each node's health state, reason, ejections and last probe. */
export function registerHealthRoutes(app: FastifyInstance, { store, runtime }: AdminDeps): void {
  app.get<ApiParams>('/apis/:id/health', async (request): Promise<ApiHealthReport> => {
    const api = await requireApi(store, request.params.id);
    const nodes = await store.listNodes(api.id);
    const report = await runtime.nodeHealth(nodes.map((n) => n.id));
    return {
      apiId: api.id,
      source: report.source,
      settings: api.health,
      nodes: nodes.map((n) => ({ id: n.id, name: n.name, enabled: n.enabled, ...report.nodes[n.id]! })),
    };
  });
}
