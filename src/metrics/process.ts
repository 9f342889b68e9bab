import { collectDefaultMetrics, Registry } from 'prom-client';

let registry: Registry | null = null;

/**
 * This process's prom-client default metrics (CPU, memory, heap, event loop lag, GC, handles), one
 * registry per process however many gateways it hosts: the collectors watch the whole process and
 * install process-wide observers, so they are set up once.
 */
export function processRegistry(): Registry {
  if (registry === null) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry });
  }
  return registry;
}
