import type { FastifyBaseLogger } from 'fastify';
import type { AdminRuntime } from './runtime.js';

/**
 * Waits until the gateway serves the write just committed. A failure is logged, not answered: the
 * write is already durable and the gateway's version poll picks it up, while an error reply would
 * invite the client to repeat a create.
 */
export async function awaitApplied(runtime: AdminRuntime, log: FastifyBaseLogger): Promise<void> {
  try {
    await runtime.applied();
  } catch (err) {
    log.error({ err }, 'config written but the gateway has not applied it yet');
  }
}
