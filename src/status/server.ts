import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
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
 * The status port: `GET /status` is 200 while the process serves (load balancers probe it),
 * `GET /status/ready` is 503 until the config is loaded and while draining, `GET /metrics` is the
 * Prometheus scrape. Every JSON answer, errors too, ends with a newline.
 */
export async function createStatusServer(source: StatusSource): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
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
