import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';

/** What the status endpoints report. */
export interface StatusSource {
  /** True once the config is loaded and until draining starts. */
  ready(): boolean;
  /** Details for `GET /status`. */
  details(): Record<string, unknown>;
  /** The Prometheus text for `GET /metrics` (merged over workers when there are some). */
  metrics(): Promise<string>;
}

/**
 * The status port: `GET /status` is 200 while the process serves (load balancers probe it),
 * `GET /status/ready` is 503 until the config is loaded and while draining, `GET /metrics` is the
 * Prometheus scrape.
 */
export async function createStatusServer(source: StatusSource): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/status', async () => ({ status: 'serving', ...source.details() }));
  app.get('/status/ready', async (_req, reply) => {
    const ready = source.ready();
    return reply.code(ready ? 200 : 503).send({ ready, ...source.details() });
  });
  app.get('/metrics', async (_req, reply) => reply.type(Registry.PROMETHEUS_CONTENT_TYPE).send(await source.metrics()));
  return app;
}
