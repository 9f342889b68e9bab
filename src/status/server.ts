import Fastify, { type FastifyInstance } from 'fastify';

/** What the status endpoints report. */
export interface StatusSource {
  /** True once the config is loaded and until draining starts. */
  ready(): boolean;
  /** Details for `GET /status`. */
  details(): Record<string, unknown>;
}

/**
 * The status port: `GET /status` is 200 while the process serves (load balancers probe it),
 * `GET /status/ready` is 503 until the config is loaded and while draining.
 */
export async function createStatusServer(source: StatusSource): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/status', async () => ({ status: 'serving', ...source.details() }));
  app.get('/status/ready', async (_req, reply) => {
    const ready = source.ready();
    return reply.code(ready ? 200 : 503).send({ ready, ...source.details() });
  });
  return app;
}
