import type { GatewayHttpServer } from '../gateway/http/server.js';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Options } from '../config/options.js';
import { AccessLog } from '../gateway/access-log.js';
import { Admission } from '../gateway/admission.js';
import { clientIpResolver } from '../gateway/client-ip.js';
import { NodeStats } from '../gateway/node-stats.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { PoolRegistry } from '../gateway/pools.js';
import { createGatewayServer } from '../gateway/server.js';
import { ActiveChecker } from '../health/active.js';
import { HealthRegistry } from '../health/registry.js';
import { SelectorSandbox } from '../selector/sandbox.js';
import { SnapshotHolder } from '../snapshot/holder.js';
import type { Store } from '../store/store.js';
import { connectionsWithin, openFileLimit } from './fd-limit.js';
import { closeHttp, listenHttp } from './listen.js';

/** A running data plane: the gateway server and what serves it. */
export interface DataPlane {
  readonly address: AddressInfo;
  readonly holder: SnapshotHolder;
  readonly sandbox: SelectorSandbox;
  readonly stats: NodeStats;
  /** This process's Prometheus metrics. */
  readonly metrics: GatewayMetrics;
  /** Node health of this process (`view()` for the admin API and metrics). */
  readonly health: HealthRegistry;
  /** What closing now would cut: open client connections, and those with a request in progress. */
  unfinished(): { clientConnections: number; requestsInProgress: number };
  /**
   * Stops accepting, finishes in-flight requests (up to drainMs; requests on open keep-alive
   * connections meanwhile are served with `Connection: close`), releases the sandbox and pools.
   */
  close(): Promise<void>;
}

/**
 * Starts the data plane on a store: loads the config (ready to serve before it listens), follows
 * changes (store notifications where the driver has them, plus the version poll), then listens.
 */
export async function startDataPlane(options: Options, store: Store, log: Logger): Promise<DataPlane> {
  let maxConnections = options.maxClientConnections;
  const files = openFileLimit();
  if (files !== null && connectionsWithin(files) < maxConnections) {
    maxConnections = connectionsWithin(files);
    log.warn(
      { maxClientConnections: options.maxClientConnections, openFileLimit: files, effective: maxConnections },
      'the open-file limit is too low for --max-client-connections; the gateway holds fewer client connections',
    );
  }
  const admission = new Admission(
    {
      maxConnections,
      maxConnectionsPerIp: options.maxClientConnectionsPerIp,
      maxHeadMemoryBytes: options.clientHeadMemoryMb * 1024 * 1024,
      maxBufferedResponses: Math.max(1, Math.floor(options.clientBufferMemoryMb / (options.clientResponseBufferKb / 1024))),
    },
    options.trustProxy,
  );
  // The metrics read the holder and sandbox at scrape time; the sandbox reports quarantines to them.
  const refs: { holder?: SnapshotHolder; sandbox?: SelectorSandbox; pools?: PoolRegistry } = {};
  const metrics = new GatewayMetrics({
    current: () => refs.holder?.current ?? null,
    selectorStatus: (apiId) => refs.sandbox?.status(apiId) ?? null,
    edge: { admission, upstreamWaiting: () => refs.pools?.waiting() ?? 0 },
  });
  const sandbox = await SelectorSandbox.start({
    logger: log.child({ component: 'selector' }),
    maxHosts: options.selectorProcesses,
    onQuarantine: (apiId) => metrics.quarantined(apiId),
  });
  const pools = new PoolRegistry({
    connections: options.upstreamConnections,
    keepAliveMs: 60_000,
    maxWaiting: options.upstreamMaxWaiting,
    waitMs: options.upstreamWaitMs,
  });
  const health = new HealthRegistry(log.child({ component: 'health' }));
  const holder = new SnapshotHolder(store, sandbox, pools, log.child({ component: 'config' }), true, health);
  const checker = new ActiveChecker(log.child({ component: 'health' }));
  // Registered before the first load, so probes start with the config, not with the first request.
  holder.onServing((snapshot) => checker.follow(snapshot));
  Object.assign(refs, { holder, sandbox, pools });
  const accessLog = options.accessLog ? AccessLog.of(log) : null;
  let server: GatewayHttpServer | null = null;
  let draining = false;
  let unwatch: (() => void) | null = null;
  const close = async () => {
    unwatch?.();
    holder.stopPolling();
    // Refused from now on, which a load balancer can retry anywhere; connections it still has are
    // served and closed by us after their response, never under a request it is sending.
    draining = true;
    if (server) await closeHttp(server, options.drainMs);
    accessLog?.flush();
    await checker.close();
    holder.close();
    await pools.close();
    await sandbox.close();
  };
  try {
    await holder.refresh();
    holder.startPolling(options.pollMs);
    unwatch =
      store.watch?.(() => {
        holder.refresh().catch((err) => log.warn({ err }, 'config refresh failed; serving the last snapshot'));
      }) ?? null;
    const stats = new NodeStats();
    server = createGatewayServer({
      holder,
      clientIp: clientIpResolver(options.trustProxy),
      accessLog,
      stats,
      metrics,
      draining: () => draining,
    }, {
      headerTimeoutMs: options.clientHeaderTimeoutMs,
      keepAliveTimeoutMs: options.clientKeepaliveTimeoutMs,
      sendTimeoutMs: options.clientSendTimeoutMs,
      responseBufferBytes: options.clientResponseBufferKb * 1024,
    }, admission);
    const address = await listenHttp(server, options.gatewayHost, options.gatewayPort, 'gatewayPort');
    const unfinished = () => ({ clientConnections: admission.open, requestsInProgress: admission.open - admission.idle });
    return { address, holder, sandbox, stats, metrics, health, close, unfinished };
  } catch (err) {
    await close();
    throw err;
  }
}
