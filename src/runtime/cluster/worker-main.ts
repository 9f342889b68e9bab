import cluster from 'node:cluster';
import { z } from 'zod';
import { Options } from '../../config/options.js';
import { createLogger } from '../../log.js';
import { ProcessRole } from '../../model/cluster.js';
import { openStore } from '../../store/open.js';
import { startDataPlane } from '../data-plane.js';
import { selectorBudgetView, selectorStatusOf } from '../selector-status.js';
import { StartupError } from '../listen.js';
import { LOG_CLOSE_MS, stopOnce } from '../shutdown.js';
import { ignoreStraySignals } from '../signals.js';
import { Heartbeat, WORKER_IDENTITY_ENV } from './heartbeat.js';
import { WORKER_OPTIONS_ENV, type FromWorker, type ToWorker } from './messages.js';

// A gateway worker process (forked by the primary with `--workers N`): one data plane sharing the
// gateway port with its siblings, steered by the primary over the cluster IPC channel.
const options = Options.parse(JSON.parse(process.env[WORKER_OPTIONS_ENV] ?? '{}'));
const identity = z
  .object({ id: z.string().min(1), role: ProcessRole, worker: z.number().int().min(1) })
  .parse(JSON.parse(process.env[WORKER_IDENTITY_ENV] ?? '{}'));
const logger = createLogger(options.logLevel);
const { log } = logger;
// Once the primary is gone there is nobody to tell.
const send = (message: FromWorker) => {
  if (process.connected) process.send?.(message);
};
const exit = (code: number) => void logger.close(LOG_CLOSE_MS).then(() => process.exit(code));
ignoreStraySignals(log);
// The primary's watchdog pings from the fork on: answered before the store opens, so a slow start is
// not taken for a stuck one (only a main thread blocked for the watchdog's whole bound is).
process.on('message', (message: ToWorker) => {
  if (message.t === 'ping') send({ t: 'pong', id: message.id });
});

async function main(): Promise<void> {
  const store = await openStore(options.store, options.dataDir, log, options.storeTimeoutMs);
  const plane = await startDataPlane(options, store, log);
  const heartbeat = new Heartbeat({
    ...identity,
    serves: 'gateway',
    store,
    intervalMs: options.heartbeatMs,
    version: () => plane.holder.current?.version ?? null,
    log: log.child({ component: 'cluster' }),
  });
  heartbeat.start();
  let lastVersion = plane.holder.current?.version ?? 0;
  const reportVersion = () => {
    const version = plane.holder.current?.version ?? 0;
    if (version !== lastVersion) send({ t: 'version', version: (lastVersion = version) });
  };
  let lastRedis = '';
  const reportRedis = () => {
    if (plane.limits.redis === null) return;
    const status = plane.limits.status();
    const text = JSON.stringify(status);
    if (text !== lastRedis) send({ t: 'redis', status: JSON.parse((lastRedis = text)) });
  };
  let lastConfigError: string | null = null;
  const reportConfigError = () => {
    const error = plane.holder.loadError;
    const text = error === null ? null : JSON.stringify(error);
    if (text !== lastConfigError) send({ t: 'config', error: (lastConfigError = text) === null ? null : error });
  };
  let lastSelectors = '';
  const reportSelectors = () => {
    const view = selectorBudgetView(plane.holder.current);
    const text = JSON.stringify(view);
    if (text !== lastSelectors) send({ t: 'selectors', view: JSON.parse((lastSelectors = text)) });
  };
  setInterval(() => {
    reportVersion();
    reportRedis();
    reportConfigError();
    reportSelectors();
  }, 250).unref();

  process.on('message', (message: ToWorker) => {
    const answer = (value: unknown) => send({ t: 'answer', id: message.id, value });
    const fail = (err: unknown) => send({ t: 'answer', id: message.id, value: null, error: (err as Error).message });
    switch (message.t) {
      case 'refresh':
        plane.holder.refresh().then(() => {
          reportVersion();
          answer(plane.holder.current?.version ?? 0);
        }, fail);
        break;
      case 'selectorStatuses':
        answer(
          Object.fromEntries(
            message.apiIds.map((id) => [id, selectorStatusOf(plane.holder.current, plane.sandbox, id)]),
          ),
        );
        break;
      case 'nodeStats':
        answer(Object.fromEntries(message.nodeIds.map((id) => [id, plane.stats.view(id)])));
        break;
      case 'metrics':
        plane.metrics.json().then(answer, fail);
        break;
      case 'nodeHealth':
        answer(plane.health.view(message.nodeIds));
        break;
    }
  });

  const stop = stopOnce({
    log,
    // The row goes first: this worker is leaving, whatever draining still takes.
    stop: () =>
      heartbeat
        .stop()
        .then(() => plane.close())
        .then(() => store.close()),
    boundMs: options.drainMs,
    unfinished: () => plane.unfinished(),
    exit,
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => undefined); // the primary decides; Ctrl-C reaches the whole group
  // The primary is gone: nobody restarts or steers this worker, so it stops accepting, finishes what
  // is in flight (bounded by --drain-ms) and leaves, as nginx workers do when their master dies.
  // Node's cluster code exits a worker at once when its channel to the primary closes, unless the
  // worker asked for the disconnect itself (lib/internal/cluster/child.js: `process.once('disconnect')`
  // checks `worker.exitedAfterDisconnect` right after emitting the worker's 'disconnect'); that exit
  // would reset every request in flight. Marking the disconnect as asked for keeps the worker alive.
  cluster.worker?.once('disconnect', () => {
    cluster.worker!.exitedAfterDisconnect = true;
    stop('the primary process is gone');
  });
  send({ t: 'ready', version: plane.holder.current?.version ?? 0 });
}

main().catch((err) => {
  // The primary reports it (one line naming the flag) and stops the others.
  send({ t: 'failed', flag: err instanceof StartupError ? err.flag : null, message: (err as Error).message });
  log.fatal({ err }, 'gateway worker failed to start');
  exit(1);
});
