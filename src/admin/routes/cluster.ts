import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ClusterProcess, ProcessState, processState, STALE_AFTER_BEATS } from '../../model/cluster.js';
import type { AdminDeps } from '../deps.js';

/** One process of `GET /admin/cluster`: its last heartbeat, its state and how long ago it beat. */
export const ClusterProcessView = ClusterProcess.extend({
  state: ProcessState,
  ageMs: z.number().int().min(0),
});
export type ClusterProcessView = z.infer<typeof ClusterProcessView>;

/** The body of `GET /admin/cluster`. */
export const ClusterView = z.strictObject({
  /** The store's clock when it was read (ages are measured against it). */
  now: z.iso.datetime(),
  /** The stored config version: what every alive process should be serving. */
  configVersion: z.number().int().min(0),
  staleAfterBeats: z.number().int().positive(),
  processes: z.array(ClusterProcessView),
});
export type ClusterView = z.infer<typeof ClusterView>;

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
