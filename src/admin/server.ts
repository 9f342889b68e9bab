import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { requireAdminToken } from './auth.js';
import { registerConsole } from './console.js';
import type { AdminDeps } from './deps.js';
import { handleAdminError, handleAdminNotFound } from './errors.js';
import { ADMIN_BODY_LIMIT, acceptJsonBodiesOnly } from './json-body.js';
import { registerApiRoutes } from './routes/apis.js';
import { registerCertificateRoutes } from './routes/certificates.js';
import { registerClusterRoutes } from './routes/cluster.js';
import { registerConfigRoutes } from './routes/config.js';
import { registerConnectorRoutes } from './routes/connectors.js';
import { registerConsumerRoutes } from './routes/consumers.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerNodeRoutes } from './routes/nodes.js';
import { registerSelectorRoutes } from './routes/selector.js';
import { registerTemplateRoutes } from './routes/templates.js';
import { registerVariableUsageRoutes } from './routes/variable-usage.js';
import { registerVariableRoutes } from './routes/variables.js';

export type { AdminDeps } from './deps.js';

/** Every JSON answer ends with a newline, so `curl` output ends its line in a terminal. */
function jsonLine(payload: unknown): string {
  return JSON.stringify(payload) + '\n';
}

/**
 * Builds the admin API (every route under `/admin`, bearer-token protected) and the web console at `/`.
 * Not listening yet: the caller may add more routes and then calls `listen`.
 */
export async function createAdminServer(deps: AdminDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Typed as fastify's logger interface so the instance has the plain FastifyInstance type callers expect.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: ADMIN_BODY_LIMIT,
  });

  // One encapsulated scope: its auth hook, JSON-only parser and error shape stay off whatever else the
  // caller registers on this server. The hook runs after routing, so it sees the decoded route,
  // not a raw URL prefix that percent-encoding could dodge.
  await app.register(
    async (admin) => {
      acceptJsonBodiesOnly(admin);
      admin.setReplySerializer(jsonLine);
      admin.setErrorHandler(handleAdminError);
      // The 404 route is fastify's own and does not take the scope's serializer.
      admin.setNotFoundHandler((request, reply) => handleAdminNotFound(request, reply.type('application/json; charset=utf-8').serializer(jsonLine)));
      admin.addHook('onRequest', requireAdminToken(deps.token));
      registerApiRoutes(admin, deps);
      registerNodeRoutes(admin, deps);
      registerHealthRoutes(admin, deps);
      registerVariableRoutes(admin, deps);
      registerSelectorRoutes(admin, deps);
      registerConnectorRoutes(admin, deps);
      registerConfigRoutes(admin, deps);
      registerClusterRoutes(admin, deps);
      registerTemplateRoutes(admin, deps);
      registerVariableUsageRoutes(admin, deps);
      registerCertificateRoutes(admin, deps);
      registerConsumerRoutes(admin, deps);
    },
    // warn: fastify's per-request info lines would log every console poll; failures still log.
    { prefix: '/admin', logLevel: 'warn' },
  );
  await registerConsole(app, deps.consoleDir);
  return app;
}
