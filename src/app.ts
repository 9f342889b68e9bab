import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createAdminServer } from './admin/server.js';
import { resolveAdminToken } from './admin/token.js';
import type { AdminRuntime } from './admin/runtime.js';
import { prepareDataDir } from './config/data-dir.js';
import type { Options } from './config/options.js';
import { selectorBudgetOf } from './config/selector-budget.js';
import { parseStoreSpec, UnsupportedStoreError } from './config/store-spec.js';
import { resetDemo, seedDemo, startDemoUpstreams } from './demo/seed.js';
import { aggregateMetrics } from './metrics/cluster.js';
import { WorkerCounters } from './metrics/worker-counters.js';
import type { MetricsJson } from './metrics/gateway-metrics.js';
import { processRegistry } from './metrics/process.js';
import { Heartbeat } from './runtime/cluster/heartbeat.js';
import { firstWorkerPort } from './runtime/cluster/worker-ports.js';
import { WorkerSet } from './runtime/cluster/workers.js';
import { controlPlaneRuntime } from './runtime/control-plane.js';
import { startDataPlane, type DataPlane } from './runtime/data-plane.js';
import { listenFastify, StartupError } from './runtime/listen.js';
import { localAdminRuntime } from './runtime/local-runtime.js';
import { selectorBudgetView } from './runtime/selector-status.js';
import { createStatusServer } from './status/server.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';

export { StartupError } from './runtime/listen.js';

/** What one command runs: everything, the data plane only, or the control plane only. */
export type Role = 'start' | 'gateway' | 'admin';

/** A running isogate: its bound addresses, admin token and a graceful stop. */
export interface Isogate {
  readonly role: Role;
  /** Gateway address (null for `admin`). */
  readonly gateway: AddressInfo | null;
  /** The gateway's TLS port address (null for `admin`, or when `--gateway-tls-port` is not given). */
  readonly gatewayTls: AddressInfo | null;
  /** Admin address (null for `gateway`). */
  readonly admin: AddressInfo | null;
  /** Status address (null for `admin`). */
  readonly status: AddressInfo | null;
  readonly adminToken: string | null;
  readonly adminTokenGenerated: boolean;
  readonly store: Store;
  /** The in-process data plane (`--workers 0`), else null. */
  readonly plane: DataPlane | null;
  /** The gateway worker processes (`--workers N`), else null. */
  readonly workers: WorkerSet | null;
  /** What `start` did with the demo: seeded it into an empty store, kept the stored config, reset it; null without the demo. */
  readonly demo: 'seeded' | 'kept' | 'reset' | null;
  /** Stops accepting, finishes in-flight requests (bounded by drainMs), closes everything. */
  close(): Promise<void>;
  /** What stopping now would cut: open client connections and requests in progress, or workers still running. */
  unfinished(): Record<string, unknown>;
}

/**
 * Starts one role in this process. Order: store, status port (not ready yet), demo, the data plane
 * (config loaded before the gateway port opens), the admin API; ready once the config serves.
 */
export async function startIsogate(
  options: Options,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
  role: Role = 'start',
): Promise<Isogate> {
  try {
    // An unsupported store is named before anything is created.
    parseStoreSpec(options.store, options.dataDir);
  } catch (err) {
    if (err instanceof UnsupportedStoreError) throw new StartupError('--store', err.message);
    throw err;
  }
  const dataDir = prepareDataDir(options.dataDir);
  const withAdmin = role !== 'gateway';
  const withGateway = role !== 'admin';
  let token: ReturnType<typeof resolveAdminToken> | null = null;
  if (withAdmin) {
    try {
      token = resolveAdminToken(dataDir, env);
    } catch (err) {
      throw new StartupError('ISOGATE_ADMIN_TOKEN', (err as Error).message);
    }
  }
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse())
      await Promise.resolve(fn()).catch((err) => log.warn({ err }, 'shutdown step failed'));
  };
  let draining = false;
  try {
    let store: Store;
    try {
      store = await openStore(options.store, dataDir, log, options.storeTimeoutMs);
    } catch (err) {
      throw new StartupError(
        options.store === '' ? '--data-dir' : '--store',
        `cannot open the store (${(err as Error).message})`,
      );
    }
    cleanups.push(() => store.close());

    let plane: DataPlane | null = null;
    let workers: WorkerSet | null = null;
    const workerCounters = new WorkerCounters();
    let status: AddressInfo | null = null;
    let ready = false;
    if (withGateway) {
      const server = await createStatusServer(
        {
          // With workers: ready while at least one serves (a load balancer must not pull a machine
          // whose other workers serve while one restarts); the details say how many do.
          ready: () => ready && !draining && (workers === null || workers.serving() > 0),
          details: () => ({
            role,
            pid: process.pid,
            draining,
            version:
              plane?.holder.current?.version ?? (workers ? Math.min(...workers.views().map((w) => w.version)) : null),
            ...(workers
              ? { workers: workers.views(), workersServing: workers.serving(), workersWanted: options.workers }
              : {}),
            store: store.health?.() ?? { connected: true, lastError: null },
            // Why this process's loads of the stored config fail (workers: in each worker's view).
            ...(plane ? { config: { lastError: plane.holder.loadError } } : {}),
            // The selector budget and the selectors past it (workers: in each worker's view).
            ...(plane ? { selectors: selectorBudgetView(plane.holder.current) } : {}),
            ...(plane?.limits.redis ? { redis: plane.limits.status() } : {}),
            // Still 200 for the load balancer: this process serves its last config while the store (or
            // Redis, where cluster limits then count locally) is away.
            degraded:
              !(store.health?.().connected ?? true) ||
              (plane?.limits.redis ? !plane.limits.status().connected : false) ||
              (workers?.views().some((w) => w.redis?.connected === false) ?? false) ||
              plane?.holder.loadError != null ||
              (workers?.views().some((w) => w.configError !== undefined) ?? false) ||
              (selectorBudgetView(plane?.holder.current ?? null)?.notStarted ?? 0) > 0 ||
              (workers?.views().some((w) => (w.selectors?.notStarted ?? 0) > 0) ?? false),
          }),
          async metrics() {
            if (plane) return plane.metrics.text();
            // The primary's own process metrics plus every worker's, summed; a worker that does not
            // answer within the ask timeout counts with its last counters only (isogate_gateway_processes
            // shows it), and a worker gone leaves its counters in the sums (src/metrics/worker-counters.ts).
            const own = await processRegistry().getMetricsAsJSON();
            if (workers === null) return aggregateMetrics([own]);
            const answers = (await workers.askEach({ t: 'metrics' })) as Map<string, MetricsJson>;
            return aggregateMetrics([own, ...workerCounters.parts(answers, workers.liveProcessIds())]);
          },
        },
        { idleMs: options.clientHeaderTimeoutMs },
      );
      cleanups.push(() => server.close());
      status = await listenFastify(server, options.statusHost, options.statusPort, 'statusPort');
    }

    let demo: Isogate['demo'] = null;
    if (options.demo && role === 'start') {
      // The read spares a write on every start of a stored config; the seed decides again inside its
      // transaction, so a start racing another one on an empty store keeps the demo that one seeded.
      if ((await store.version()) === 0 && (await seedDemo(store, options.demoPortBase)).version !== null) {
        demo = 'seeded';
        log.info('seeded the demo config (APIs demo and demo-sticky; variables IP1_enable, IP2_enable)');
      } else if (options.resetDemo) {
        await resetDemo(store, options.demoPortBase);
        demo = 'reset';
        log.info('reset the demo config (APIs demo and demo-sticky; variables IP1_enable, IP2_enable)');
      } else demo = 'kept';
      const upstreams = await startDemoUpstreams(options.demoPortBase, log);
      cleanups.push(() => Promise.all(upstreams.map((u) => u.close())).then(() => undefined));
    }

    let gateway: AddressInfo | null = null;
    let gatewayTls: AddressInfo | null = null;
    if (withGateway && options.workers === 0) {
      plane = await startDataPlane(options, store, log);
      cleanups.push(() => plane!.close());
      gateway = plane.address;
      gatewayTls = plane.tlsAddress;
    } else if (withGateway) {
      workers = new WorkerSet(options, log, role, (processId) => {
        store.removeProcess(processId).catch(() => undefined);
        void workerCounters.gone(processId);
      });
      const set = workers;
      cleanups.push(() => set.stop(options.drainMs));
      // With --gateway-port 0 the workers share one port the system picked: the first to listen names it.
      const bound = firstWorkerPort();
      try {
        await set.start();
      } finally {
        bound.cancel();
      }
      if (!withAdmin) {
        // Nothing else in this primary uses the store: probe it so /status reports an outage (the workers ride it out on their own).
        const probe = setInterval(() => void store.version().catch(() => undefined), options.pollMs);
        probe.unref();
        cleanups.push(() => clearInterval(probe));
      }
      gateway = {
        address: options.gatewayHost,
        family: 'IPv4',
        port: options.gatewayPort === 0 ? (bound.ports[0] ?? 0) : options.gatewayPort,
      };
      if (options.gatewayTlsPort !== null) {
        const port = options.gatewayTlsPort === 0 ? (bound.ports[1] ?? 0) : options.gatewayTlsPort;
        gatewayTls = { address: options.gatewayHost, family: 'IPv4', port };
      }
    }

    let admin: AddressInfo | null = null;
    // The version this process applies, for the cluster view: its data plane's, else its control plane's.
    let appliedVersion: () => number | null = () => plane?.holder.current?.version ?? null;
    if (withAdmin) {
      let runtime: AdminRuntime;
      if (plane) runtime = localAdminRuntime(plane);
      else {
        const control = await controlPlaneRuntime(options, store, log, workers, cleanups);
        runtime = control.runtime;
        appliedVersion = () => control.holder.current?.version ?? null;
      }
      const server = await createAdminServer({
        store,
        token: token!.token,
        runtime,
        logger: log.child({ component: 'admin' }),
        selectorBudget: selectorBudgetOf(options),
      });
      cleanups.push(() => server.close());
      admin = await listenFastify(server, options.adminHost, options.adminPort, 'adminPort');
    }

    // One row per process that serves: the in-process data plane and/or the admin API (workers register themselves).
    if (plane || withAdmin) {
      const heartbeat = new Heartbeat({
        role,
        worker: null,
        serves: plane && withAdmin ? 'both' : plane ? 'gateway' : 'admin',
        store,
        intervalMs: options.heartbeatMs,
        version: appliedVersion,
        log: log.child({ component: 'cluster' }),
      });
      heartbeat.start();
      cleanups.push(() => heartbeat.stop());
    }

    ready = true;
    // No store call after `ready`: the store may go away the moment the process serves, and that
    // must not fail the start (the version logged is the one serving, when there is one).
    log.info(
      { role, gateway, gatewayTls, admin, status, workers: options.workers, version: appliedVersion() },
      'isogate serving',
    );
    let closing: Promise<void> | null = null;
    return {
      role,
      gateway,
      gatewayTls,
      admin,
      status,
      adminToken: token?.token ?? null,
      adminTokenGenerated: token?.generated ?? false,
      store,
      plane,
      workers,
      demo,
      unfinished() {
        if (plane) return plane.unfinished();
        return workers ? { workersRunning: workers.running() } : {};
      },
      close() {
        draining = true;
        // Ready turns 503 first; the ports stay open until load balancers had time to notice.
        closing ??= new Promise((r) => setTimeout(r, options.drainWaitMs)).then(cleanup);
        return closing;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
