import type { FastifyInstance } from 'fastify';
import { describeConnectorKinds } from '../../connectors/registry.js';
import type { AdminDeps } from '../deps.js';

/** `GET /admin/connectors`: every connector kind with its settings as JSON Schema. */
export function registerConnectorRoutes(app: FastifyInstance, _deps: AdminDeps): void {
  const kinds = describeConnectorKinds();
  app.get('/connectors', async () => kinds);
}
