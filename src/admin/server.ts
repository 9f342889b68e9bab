import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { jsonLine } from '../http/json-line.js';
import { DryRunResult } from '../store/errors.js';
import { authenticate } from './auth.js';
import { AuthThrottle } from './auth-throttle.js';
import { registerConsole } from './console.js';
import type { AdminDeps } from './deps.js';
import { dryRunAnswer } from './dry-run.js';
import { AdminError, handleAdminError, handleAdminNotFound } from './errors.js';
import { ADMIN_BODY_LIMIT, acceptJsonBodiesOnly, refuseUnstorableParameters } from './json-body.js';
import { addEntityTag, openWriteScope, replayIdempotentRequests } from './retry-safety.js';
import { authorize } from './roles.js';
import { TrialGate } from './trial.js';
import { registerApiRoutes } from './routes/apis.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerCertificateRoutes } from './routes/certificates.js';
import { registerClusterRoutes } from './routes/cluster.js';
import { registerConfigRoutes } from './routes/config.js';
import { registerConnectorRoutes } from './routes/connectors.js';
import { registerConsumerRoutes } from './routes/consumers.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerNodeRoutes } from './routes/nodes.js';
import { registerSelectorRoutes } from './routes/selector.js';
import { registerTemplateRoutes } from './routes/templates.js';
import { registerTokenRoutes } from './routes/tokens.js';
import { registerVariableUsageRoutes } from './routes/variable-usage.js';
import { registerVariableRoutes } from './routes/variables.js';

export type { AdminDeps } from './deps.js';

/** Longest an admin request may take to arrive, body included (a slow client holds a socket and a buffer). */
export const ADMIN_REQUEST_TIMEOUT_MS = 30_000;
/** Connections the admin port holds at most (a console opens a few; past this, new ones wait in the backlog). */
export const ADMIN_MAX_CONNECTIONS = 1024;

/**
 * Builds the admin API (every route under `/admin`, bearer-token protected) and the web console at `/`.
 * Not listening yet: the caller may add more routes and then calls `listen`.
 *
 * Every `/admin` request goes through, in order: authentication (who: the bootstrap token or a named
 * token), the role check (what the route declares, else by method: src/admin/roles.ts), the
 * Idempotency-Key replay, and the write scope in which the route runs, so that every store write it
 * makes is audited under that actor with If-Match and dry run honoured (src/admin/retry-safety.ts).
 */
export async function createAdminServer(deps: AdminDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Typed as fastify's logger interface so the instance has the plain FastifyInstance type callers expect.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: ADMIN_BODY_LIMIT,
    requestTimeout: ADMIN_REQUEST_TIMEOUT_MS,
    // No "incoming request" / "request completed" lines: the scopes log at warn anyway, and the
    // lines fastify wrote for what it answers before any scope (a URL it cannot decode) held the
    // whole URL, query string and whatever secret a client put there included. Failures and
    // refusals are still logged, with the path only (errors.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // A URL fastify cannot decode never reaches a route: it is answered in the admin error shape too.
    frameworkErrors: (err, _request, reply) =>
      (reply as FastifyReply)
        .code(400)
        .type('application/json; charset=utf-8')
        .send(jsonLine(new AdminError('BAD_REQUEST', `the URL cannot be decoded (${err.code})`).toBody())),
  });
  app.server.maxConnections = ADMIN_MAX_CONNECTIONS;
  const trials = new TrialGate();

  // One encapsulated scope: its auth hook, JSON-only parser and error shape stay off whatever else the
  // caller registers on this server. The hook runs after routing, so it sees the decoded route,
  // not a raw URL prefix that percent-encoding could dodge.
  await app.register(
    async (admin) => {
      acceptJsonBodiesOnly(admin);
      admin.setReplySerializer(jsonLine);
      admin.decorateRequest('actor', null as never);
      admin.decorateRequest('idempotency', undefined);
      // A dry run reaches the store's commit and is rolled back there; its answer is what it would change.
      admin.setErrorHandler(async (err, request, reply) =>
        err instanceof DryRunResult
          ? reply.code(200).send(await dryRunAnswer(err, deps, request.log))
          : handleAdminError(err, request, reply),
      );
      // The 404 route is fastify's own and does not take the scope's serializer.
      admin.setNotFoundHandler((request, reply) =>
        handleAdminNotFound(request, reply.type('application/json; charset=utf-8').serializer(jsonLine)),
      );
      admin.addHook('onRequest', authenticate(deps.token, deps.store, new AuthThrottle()));
      admin.addHook('preValidation', refuseUnstorableParameters);
      admin.addHook('preHandler', authorize);
      admin.addHook('preHandler', replayIdempotentRequests(deps.store));
      admin.addHook('preHandler', openWriteScope(deps.selectorBudget));
      admin.addHook('onSend', addEntityTag);
      // Answers may hold secrets (a new token, an export with secrets): no cache keeps any of them.
      admin.addHook('onSend', async (_request, reply, payload) => {
        reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
        return payload;
      });
      registerTokenRoutes(admin, deps);
      registerAuditRoutes(admin, deps);
      registerApiRoutes(admin, deps, trials);
      registerNodeRoutes(admin, deps);
      registerHealthRoutes(admin, deps);
      registerVariableRoutes(admin, deps);
      registerSelectorRoutes(admin, deps, trials);
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
