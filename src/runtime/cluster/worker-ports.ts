import cluster from 'node:cluster';

/** Records the port of the first gateway worker that listens (the cluster's 'listening' event), until cancelled. */
export function firstWorkerPort(): { readonly ports: readonly number[]; cancel(): void } {
  // A worker listens on the plain port first, then on the TLS port: the first worker to report both names them.
  const byWorker = new Map<number, number[]>();
  const seen: { ports: number[]; cancel(): void } = {
    ports: [],
    cancel: () => cluster.off('listening', onListening),
  };
  const onListening = (worker: { id: number }, address: { port: number }) => {
    const ports = byWorker.get(worker.id) ?? [];
    ports.push(address.port);
    byWorker.set(worker.id, ports);
    if (ports.length > seen.ports.length) seen.ports = ports;
  };
  cluster.on('listening', onListening);
  return seen;
}
