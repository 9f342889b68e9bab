import type { GatewayHttpServer } from '../gateway/http/server.js';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Options } from '../config/options.js';
import { parseStoreSpec } from '../config/store-spec.js';
import { LimitRegistry } from '../access/limits/registry.js';
import { RedisLink } from '../access/limits/redis.js';
import { AccessLog } from '../gateway/access-log.js';
import { AccessLogFields } from '../gateway/access-log-fields.js';
import { Admission, MAX_REFUSING } from '../gateway/admission.js';
import { clientIpResolver } from '../gateway/client-ip.js';
import { NodeStats } from '../gateway/node-stats.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { PoolRegistry } from '../gateway/pools.js';
import { createGatewayServer, createH2Sessions, type GatewayDeps } from '../gateway/server.js';
import { ActiveChecker } from '../health/active.js';
import { HealthRegistry } from '../health/registry.js';
import { SelectorSandbox } from '../selector/sandbox.js';
import { selectorBudgetOf } from '../config/selector-budget.js';
import { SnapshotHolder } from '../snapshot/holder.js';
import { watchStoreWrites } from '../snapshot/store-watch.js';
import type { Store } from '../store/store.js';
import { GatewayTlsServer } from '../gateway/tls/listener.js';
import { ticketKeys } from '../tls/settings.js';
import { TunnelRegistry } from '../gateway/upgrade/tunnel.js';
import { caresBackend, getaddrinfoBackend } from '../upstream/dns-query.js';
import { NodeResolver } from '../upstream/resolver.js';
import { outOfFilesLog, SocketBudget } from '../upstream/socket-budget.js';
import { connectionsWithin, openFileLimit, refusalsWithin, upstreamSocketsWithin } from './fd-limit.js';
import { closeHttp, listenHttp } from './listen.js';
import { selectorStatusOf } from './selector-status.js';

/** A running data plane: the gateway server and what serves it. */
export interface DataPlane {
  readonly address: AddressInfo;
  /** The TLS port's address, or null when it is off. */
  readonly tlsAddress: AddressInfo | null;
  readonly holder: SnapshotHolder;
  readonly sandbox: SelectorSandbox;
  readonly stats: NodeStats;
  /** This process's Prometheus metrics. */
  readonly metrics: GatewayMetrics;
  /** Node health of this process (`view()` for the admin API and metrics). */
  readonly health: HealthRegistry;
  /** Rate-limit buckets and the Redis link of cluster limits. */
  readonly limits: LimitRegistry;
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
 * changes (store notifications, or a watch on the SQLite file, plus the version poll), then listens.
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
      maxBufferedResponses: Math.max(
        1,
        Math.floor(options.clientBufferMemoryMb / (options.clientResponseBufferKb / 1024)),
      ),
      maxRefusing: files === null ? MAX_REFUSING : refusalsWithin(files),
    },
    options.trustProxy,
  );
  // The metrics read the holder and sandbox at scrape time; the sandbox reports quarantines to them.
  const refs: { holder?: SnapshotHolder; sandbox?: SelectorSandbox; pools?: PoolRegistry; limits?: LimitRegistry } = {};
  const resolver = nodeResolverOf(options, log.child({ component: 'dns' }));
  const stats = new NodeStats();
  const tunnels = new TunnelRegistry((nodeId, delta) => stats.upgrade(nodeId, delta), admission);
  const metrics = new GatewayMetrics({
    current: () => refs.holder?.current ?? null,
    selectorStatus: (apiId) =>
      refs.sandbox ? selectorStatusOf(refs.holder?.current ?? null, refs.sandbox, apiId) : null,
    tunnels: () => tunnels.counts(),
    memoVerifications: () => refs.sandbox?.memoVerifications() ?? { verified: 0, mismatches: 0, skipped: 0 },
    edge: {
      admission,
      upstreamWaiting: () => refs.pools?.waiting() ?? 0,
      upstreamSockets: () => refs.pools?.budget ?? null,
    },
    redis: () => refs.limits?.status() ?? null,
    dns: () => resolver.stats(),
  });
  const selectorBudget = selectorBudgetOf(options);
  const sandbox = await SelectorSandbox.start({
    logger: log.child({ component: 'selector' }),
    maxHosts: options.selectorProcesses,
    selectorBudget,
    onQuarantine: (apiId) => metrics.quarantined(apiId),
    onMemoEnded: (apiId, cause) => metrics.memoEnded(apiId, cause),
  });
  const pools = new PoolRegistry(
    {
      connections: options.upstreamConnections,
      keepAliveMs: 60_000,
      maxWaiting: options.upstreamMaxWaiting,
      waitMs: options.upstreamWaitMs,
    },
    new SocketBudget(upstreamSockets(options, files, maxConnections, log), outOfFilesLog(log, files)),
    resolver,
  );
  const health = new HealthRegistry(log.child({ component: 'health' }));
  const limitLog = log.child({ component: 'limits' });
  const redis =
    options.redis === ''
      ? null
      : new RedisLink({
          url: options.redis,
          prefix: options.redisPrefix,
          commandTimeoutMs: options.redisTimeoutMs,
          log: limitLog,
        });
  const limits = new LimitRegistry(redis, limitLog);
  const holder = new SnapshotHolder(
    store,
    sandbox,
    pools,
    log.child({ component: 'config' }),
    true,
    health,
    limits,
    selectorBudget,
  );
  const checker = new ActiveChecker(log.child({ component: 'health' }), undefined, resolver.lookup);
  // Registered before the first load, so probes start with the config, not with the first request.
  holder.onServing((snapshot) => checker.follow(snapshot));
  let tls: GatewayTlsServer | null = null;
  Object.assign(refs, { holder, sandbox, pools, limits });
  const accessLog = options.accessLog
    ? AccessLog.of(log, options.accessLogFields.length === 0 ? null : new AccessLogFields(options.accessLogFields))
    : null;
  let server: GatewayHttpServer | null = null;
  let draining = false;
  let unwatch: (() => void) | null = null;
  const close = async () => {
    unwatch?.();
    holder.stopPolling();
    // Refused from now on, which a load balancer can retry anywhere; connections it still has are
    // served and closed by us after their response, never under a request it is sending.
    draining = true;
    const closing: Array<Promise<void>> = [];
    if (server) closing.push(closeHttp(server, options.drainMs));
    if (tls) closing.push(closeHttp(tls, options.drainMs));
    // Upgraded connections never finish on their own: they end as the ports close (their clients
    // reconnect to another gateway), rather than holding the drain for its whole length.
    tunnels.endAll();
    await Promise.all(closing);
    accessLog?.flush();
    await checker.close();
    holder.close();
    await pools.close();
    await sandbox.close();
    await limits.close();
    resolver.close();
  };
  try {
    await holder.refresh();
    holder.startPolling(options.pollMs);
    unwatch = watchStoreWrites(store, parseStoreSpec(options.store, options.dataDir), log, () =>
      holder.refreshInBackground(),
    );
    const deps: GatewayDeps = {
      holder,
      clientIp: clientIpResolver(options.trustProxy),
      accessLog,
      stats,
      metrics,
      draining: () => draining,
      httpsPort: options.gatewayTlsPort,
      tunnels,
      clientBodyTimeoutMs: options.clientBodyTimeoutMs,
    };
    server = createGatewayServer(
      deps,
      {
        headerTimeoutMs: options.clientHeaderTimeoutMs,
        keepAliveTimeoutMs: options.clientKeepaliveTimeoutMs,
        sendTimeoutMs: options.clientSendTimeoutMs,
        responseBufferBytes: options.clientResponseBufferKb * 1024,
      },
      admission,
    );
    const address = await listenHttp(server, options.gatewayHost, options.gatewayPort, 'gatewayPort');
    let tlsAddress: AddressInfo | null = null;
    if (options.gatewayTlsPort !== null) {
      tls = new GatewayTlsServer(
        {
          http: server,
          h2: createH2Sessions(
            deps,
            { idleTimeoutMs: options.clientKeepaliveTimeoutMs, sendTimeoutMs: options.clientSendTimeoutMs },
            admission,
          ),
        },
        {
          handshakeTimeoutMs: options.clientHandshakeTimeoutMs,
          ticketKeys: ticketKeys(),
          certificates: () => holder.current?.tls ?? null,
          admission,
          rejected: (code) => metrics.traffic.rejected(code),
        },
      );
      tlsAddress = await listenHttp(tls, options.gatewayHost, options.gatewayTlsPort, 'gatewayTlsPort');
      deps.httpsPort = tlsAddress.port; // the port bound, when it was given as 0
    }
    // Upgraded connections count as open client connections with a request in progress.
    const unfinished = () => ({
      clientConnections: admission.open,
      requestsInProgress: admission.open - admission.idle,
    });
    return { address, tlsAddress, holder, sandbox, stats, metrics, health, limits, close, unfinished };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The process's node-name resolver: c-ares against `--dns-server` when given, else the system's getaddrinfo. */
function nodeResolverOf(options: Options, log: Logger): NodeResolver {
  const timeoutMs = options.dnsTimeoutMs;
  const backend =
    options.dnsServer.length > 0 ? caresBackend(options.dnsServer, timeoutMs) : getaddrinfoBackend(timeoutMs);
  return new NodeResolver(backend, { validMs: options.dnsValidMs, staleMs: options.dnsStaleMs, timeoutMs, log });
}

/**
 * The process's upstream socket budget: `--upstream-max-sockets`, or (0) what the open-file limit
 * leaves beside the client connections; a larger value is lowered to that, with a warning. No bound
 * when the limit cannot be read.
 */
function upstreamSockets(options: Options, files: number | null, clientConnections: number, log: Logger): number {
  const within = files === null ? Infinity : upstreamSocketsWithin(files, clientConnections);
  if (options.upstreamMaxSockets === 0) return within;
  if (options.upstreamMaxSockets > within) {
    log.warn(
      { upstreamMaxSockets: options.upstreamMaxSockets, openFileLimit: files, effective: within },
      'the open-file limit is too low for --upstream-max-sockets; the gateway holds fewer upstream sockets',
    );
    return within;
  }
  return options.upstreamMaxSockets;
}
