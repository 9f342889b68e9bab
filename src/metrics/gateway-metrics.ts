import { Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { RequestContext } from '../gateway/context.js';
import type { RedisStatus } from '../access/limits/redis.js';
import type { MemoEndCause } from '../selector/sandbox.js';
import type { SelectorStatus } from '../selector/types.js';
import type { CompiledApi, Snapshot } from '../snapshot/snapshot.js';
import type { TunnelCount } from '../gateway/upgrade/tunnel.js';
import type { ResolverStats } from '../upstream/resolver.js';
import { registerDnsMetrics } from './dns.js';
import { registerEdgeMetrics, type EdgeStats } from './edge.js';
import { registerTrafficMetrics } from './exposition.js';
import { processRegistry } from './process.js';
import { Traffic } from './traffic.js';

/** Metrics in the JSON form prom-client's `getMetricsAsJSON()` gives and `AggregatorRegistry.aggregate()` takes. */
export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

/** What the gateway metrics read at scrape time. */
export interface MetricsSources {
  /** The snapshot serving now (null before the first load). */
  current(): Snapshot | null;
  /** The runtime state of an API's selector in this process, or null. */
  selectorStatus(apiId: string): SelectorStatus | null;
  /** Open upgraded connections (WebSockets) by API and node. */
  tunnels(): readonly TunnelCount[];
  /** Memoized answers the sandbox's verifier ran again, over all selectors (verifier.ts). */
  memoVerifications(): { verified: number; mismatches: number; skipped: number };
  /** The edge's counters (admission limits, slow clients, waits for a node), when there is a gateway port. */
  edge?: EdgeStats;
  /** The Redis link of cluster limits (null before it exists). */
  redis?: () => RedisStatus | null;
  /** The node-name resolver's counters (none: no DNS metrics). */
  dns?: () => ResolverStats;
}

/**
 * One gateway process's Prometheus metrics: the request counters (recorded by the log stage), the
 * config version and age, selector quarantine state, node health, and the process's default metrics. Each
 * process keeps its own; a primary with workers merges theirs (see `cluster.ts`).
 */
export class GatewayMetrics {
  readonly traffic = new Traffic();
  private readonly registry = new Registry();

  constructor(private readonly sources: MetricsSources) {
    registerTrafficMetrics(this.registry, this.traffic);
    if (sources.edge !== undefined) registerEdgeMetrics(this.registry, sources.edge);
    const dns = sources.dns;
    if (dns !== undefined) registerDnsMetrics(this.registry, dns);
    const registers = [this.registry];
    new Gauge({
      name: 'isogate_config_version',
      help: 'Config version this gateway serves (with workers: the lowest, so a lagging worker shows).',
      registers,
      aggregator: 'min',
      collect() {
        const snapshot = sources.current();
        if (snapshot) this.set(snapshot.version);
      },
    });
    new Gauge({
      name: 'isogate_redis_connected',
      help: 'Whether the Redis of cluster limits is usable (1) or not (0, cluster limits decide locally); absent without --redis. With workers: the lowest.',
      registers,
      aggregator: 'min',
      collect() {
        const redis = sources.redis?.() ?? null;
        if (redis?.configured) this.set(redis.connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'isogate_config_age_seconds',
      help: 'Seconds since this gateway started serving its config version (with workers: the oldest).',
      registers,
      aggregator: 'max',
      collect() {
        const snapshot = sources.current();
        if (snapshot) this.set((Date.now() - snapshot.loadedAt) / 1000);
      },
    });
    selectorFlagGauge(
      registers,
      sources,
      'isogate_selector_quarantined',
      '1 while the current selector version of the API is quarantined, else 0 (with workers: quarantined in any).',
      (api) => sources.selectorStatus(api.api.id)?.state === 'quarantined',
    );
    selectorFlagGauge(
      registers,
      sources,
      'isogate_selector_over_budget',
      "1 while the API's selector is not started because it is past the process's selector budget (its requests answer SELECTOR_OVER_BUDGET), else 0 (with workers: in any).",
      (api) => api.selector?.state === 'over-budget',
    );
    new Counter({
      name: 'isogate_selector_memo_verifications_total',
      help: 'Memoized selector answers run again by the verifier, by outcome (verified: compared; mismatch: differed, memoization ended; skipped: sampled but not run, the sandbox busy).',
      labelNames: ['outcome'],
      registers,
      collect() {
        const totals = sources.memoVerifications();
        this.reset();
        this.inc({ outcome: 'verified' }, totals.verified);
        this.inc({ outcome: 'mismatch' }, totals.mismatches);
        this.inc({ outcome: 'skipped' }, totals.skipped);
      },
    });
    new Gauge({
      name: 'isogate_node_healthy',
      help: '1 while the enabled node is healthy in this gateway (active and passive checks), 0 while unhealthy or ejected (with workers: 0 if any worker sees it down).',
      labelNames: ['api', 'node', 'node_id'],
      registers,
      aggregator: 'min',
      collect() {
        this.reset();
        const now = Date.now();
        for (const api of sources.current()?.apis.values() ?? []) {
          for (const node of api.enabled) {
            this.set(
              { api: api.api.name, node: node.name, node_id: node.node.id },
              node.health.view(now).state === 'healthy' ? 1 : 0,
            );
          }
        }
      },
    });
    new Gauge({
      name: 'isogate_upgraded_connections',
      help: 'Upgraded connections (WebSockets) open now, by API and node (with workers: summed).',
      labelNames: ['api', 'node', 'node_id'],
      registers,
      aggregator: 'sum',
      collect() {
        this.reset();
        for (const t of sources.tunnels()) this.set({ api: t.api, node: t.node, node_id: t.nodeId }, t.open);
      },
    });
    new Gauge({
      name: 'isogate_gateway_processes',
      help: 'Gateway processes whose metrics are in this scrape (with workers: those that answered in time).',
      registers,
      aggregator: 'sum',
      collect() {
        this.set(1);
      },
    });
  }

  /** Counts one finished request (called by the log stage); `ms` is its total time. */
  record(ctx: RequestContext, ms: number): void {
    this.traffic.record(ctx, ms);
  }

  /** Counts a selector quarantine reported by the sandbox. */
  quarantined(apiId: string): void {
    this.traffic.quarantined(apiId, this.sources.current());
  }

  /** Counts the end of a selector version's memoization reported by the sandbox. */
  memoEnded(apiId: string, cause: MemoEndCause): void {
    this.traffic.memoEnded(apiId, cause, this.sources.current());
  }

  /** This process's metrics (gateway and process) as JSON, for the primary to merge. */
  async json(): Promise<MetricsJson> {
    this.traffic.prune(this.sources.current());
    const [own, proc] = await Promise.all([this.registry.getMetricsAsJSON(), processRegistry().getMetricsAsJSON()]);
    return [...own, ...proc];
  }

  /** This process's metrics in the Prometheus text format. */
  async text(): Promise<string> {
    this.traffic.prune(this.sources.current());
    return Registry.merge([this.registry, processRegistry()]).metrics();
  }
}

/** A gauge of 1 or 0 per API with a selector (by name), from `on`, max over workers. */
function selectorFlagGauge(
  registers: Registry[],
  sources: Pick<MetricsSources, 'current'>,
  name: string,
  help: string,
  on: (api: CompiledApi) => boolean,
): void {
  new Gauge({
    name,
    help,
    labelNames: ['api'],
    registers,
    aggregator: 'max',
    collect() {
      this.reset();
      for (const api of sources.current()?.apis.values() ?? [])
        if (api.selector !== null) this.set({ api: api.api.name }, on(api) ? 1 : 0);
    },
  });
}
