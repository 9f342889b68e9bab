import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Registry } from 'prom-client';
import { jsonLine } from '../http/json-line.js';

/** What the status endpoints report. */
export interface StatusSource {
  /** True once the config is loaded and until draining starts. */
  ready(): boolean;
  /** Details for `GET /status`. */
  details(): Record<string, unknown>;
  /** The Prometheus text for `GET /metrics` (merged over workers when there are some). */
  metrics(): Promise<string>;
}

/** The status port's own errors, with their stable codes, answered as `{ "error": { "code", "message" } }`. */
export const STATUS_ERRORS = {
  NOT_FOUND: { status: 404, message: 'The status port serves GET /status, /status/ready and /metrics.' },
  BAD_REQUEST: { status: 400, message: 'The request is not one the status port accepts.' },
  INTERNAL_ERROR: { status: 500, message: 'The status port failed while answering.' },
} as const satisfies Record<string, { status: number; message: string }>;

/** A status error code. */
export type StatusErrorCode = keyof typeof STATUS_ERRORS;

function sendError(reply: FastifyReply, code: StatusErrorCode): FastifyReply {
  const { status, message } = STATUS_ERRORS[code];
  // The 404 and error handlers are fastify's own routes and do not take the instance's serializer.
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .serializer(jsonLine)
    .send({ error: { code, message } });
}

/**
 * Connections the status port holds at once (a scrape or a probe is one short request). A new one
 * past it takes the place of the oldest that has no request in progress, so silent connections
 * cannot keep a load balancer's probe out; when every one is busy, the new one is closed.
 */
export const STATUS_MAX_CONNECTIONS = 64;

/** How long the status port waits for a connection's first request head (`--client-header-timeout-ms`). */
export interface StatusLimits {
  readonly idleMs: number;
}

/**
 * The status port: `GET /status` is 200 while the process serves (load balancers probe it),
 * `GET /status/ready` is 503 until the config is loaded and while draining, `GET /metrics` is the
 * Prometheus scrape. Every JSON answer, errors too, ends with a newline. It is
 * unauthenticated, so it is bounded: STATUS_MAX_CONNECTIONS, and a connection whose first head is not
 * in within `idleMs` is closed (a keep-alive one idle after an answer after 5 s at most).
 */
export async function createStatusServer(source: StatusSource, limits: StatusLimits): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    keepAliveTimeout: Math.min(5_000, limits.idleMs),
    // A URL fastify cannot decode never reaches a route: it is answered in this port's error shape too.
    frameworkErrors: (_err, _request, reply) => sendError(reply as FastifyReply, 'BAD_REQUEST'),
  });
  app.server.headersTimeout = limits.idleMs;
  bound(app.server, STATUS_MAX_CONNECTIONS, limits.idleMs);
  app.setReplySerializer(jsonLine);
  app.setNotFoundHandler((_request, reply) => sendError(reply, 'NOT_FOUND'));
  app.setErrorHandler<FastifyError>((err, _request, reply) =>
    sendError(reply, (err.statusCode ?? 500) < 500 ? 'BAD_REQUEST' : 'INTERNAL_ERROR'),
  );
  app.get('/status', async () => ({ status: 'serving', ...source.details() }));
  app.get('/status/ready', async (_req, reply) => {
    const ready = source.ready();
    return reply.code(ready ? 200 : 503).send({ ready, ...source.details() });
  });
  app.get('/metrics', async (_req, reply) => reply.type(Registry.PROMETHEUS_CONTENT_TYPE).send(await source.metrics()));
  return app;
}

/**
 * Holds `max` connections at most: a new one past it closes the oldest idle one, or itself when none
 * is idle. A connection whose first request head is not complete within `firstHeadMs` (silent, or
 * trickling) is closed; the time the server takes to answer does not count.
 */
function bound(server: Server, max: number, firstHeadMs: number): void {
  // Open connections, oldest first, and whether each has a request in progress.
  const open = new Map<Socket, boolean>();
  const firstHead = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    if (open.size >= max) {
      let idle: Socket | undefined;
      for (const [held, busy] of open)
        if (!busy) {
          idle = held;
          break;
        }
      if (idle === undefined) {
        socket.destroy();
        return;
      }
      open.delete(idle);
      idle.destroy();
    }
    open.set(socket, false);
    const silent = setTimeout(() => socket.destroy(), firstHeadMs);
    silent.unref();
    firstHead.set(socket, silent);
    socket.once('close', () => {
      clearTimeout(silent);
      open.delete(socket);
    });
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    clearTimeout(firstHead.get(socket));
    if (!open.has(socket)) return;
    open.set(socket, true);
    response.once('close', () => {
      if (open.has(socket)) open.set(socket, false);
    });
  });
}
