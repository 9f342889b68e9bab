import type { FastifyInstance } from 'fastify';
import { ClusterView, processState, STALE_AFTER_BEATS } from '../../model/cluster.js';
import type { AdminDeps } from '../deps.js';

/** `GET /admin/cluster`: every registered gateway and admin process with its applied config version and alive/stale state. */
export function registerClusterRoutes(app: FastifyInstance, { store }: AdminDeps): void {
  app.get('/cluster', async (): Promise<ClusterView> => {
    const [state, configVersion] = await Promise.all([store.listProcesses(), store.version()]);
    return ClusterView.parse({
      now: state.now,
      configVersion,
      staleAfterBeats: STALE_AFTER_BEATS,
      processes: state.processes.map((p) => ({ ...p, ...processState(p, state.now) })),
    });
  });
}
