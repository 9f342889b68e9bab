import type { FastifyInstance } from 'fastify';
import type { AdminDeps } from '../deps.js';

/** `GET /admin/config/version`: the stored config version. */
export function registerConfigRoutes(app: FastifyInstance, { store }: AdminDeps): void {
  app.get('/config/version', async () => ({ version: await store.version() }));
}
