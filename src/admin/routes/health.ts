import type { FastifyInstance } from 'fastify';
import type { HealthSource } from '../runtime.js';
import type { ApiHealth } from '../../model/health.js';
import type { MergedNodeHealthView } from '../../health/view.js';
import type { AdminDeps } from '../deps.js';
import { requireApi } from '../lookup.js';

type ApiParams = { Params: { id: string } };

/** One node in `GET /admin/apis/:id/health`. */
export type NodeHealthEntry = { id: string; name: string; enabled: boolean } & MergedNodeHealthView;

/** `GET /admin/apis/:id/health`. */
export interface ApiHealthReport {
  apiId: string;
  /** `process`: this process serves traffic; `workers`: merged over its gateway workers; `none`: no view here (admin-only). */
  source: HealthSource;
  settings: ApiHealth;
  nodes: NodeHealthEntry[];
}

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
