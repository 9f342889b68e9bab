import type { Metric, Registry } from 'prom-client';
import type { AdmissionStats } from '../gateway/admission.js';
import type { SocketBudgetStats } from '../upstream/socket-budget.js';
import { CellMetric } from './exposition.js';

/** What the edge metrics read at scrape time. */
export interface EdgeStats {
  /** The admission's counters (shared by every listener of the process). */
  admission: AdmissionStats;
  /** Requests waiting for a connection to a node, all pools together. */
  upstreamWaiting(): number;
  /** The process's upstream sockets and their budget (absent before the pools exist). */
  upstreamSockets?(): SocketBudgetStats | null;
}

/**
 * Registers the edge metrics (docs/edge-limits.md): open, idle and evicted client connections, the
 * admission's refusals by limit, head memory, slow readers cut, requests waiting for a node, upstream
 * sockets within their budget. Refused requests are also in `isogate_gateway_errors_total` under
 * their error code.
 */
export function registerEdgeMetrics(registry: Registry, edge: EdgeStats): void {
  const stats = edge.admission;
  const one = (value: number) => [{ labels: {}, value }];
  const metrics = [
    new CellMetric(
      'isogate_client_connections',
      'Open client connections of the gateway ports (TLS ones from accept, HTTP/2 sessions and upgraded connections included).',
      'gauge',
      () => one(stats.open),
    ),
    new CellMetric(
      'isogate_client_connections_idle',
      'Open client connections waiting for a request (closed oldest first when the limit is reached).',
      'gauge',
      () => one(stats.idle),
    ),
    new CellMetric('isogate_client_head_memory_bytes', 'Memory held for unfinished request heads.', 'gauge', () =>
      one(stats.headMemoryBytes),
    ),
    new CellMetric(
      'isogate_client_connections_evicted_total',
      'Idle client connections closed to make room for a new one.',
      'counter',
      () => one(stats.evicted),
    ),
    new CellMetric(
      'isogate_client_refusals_total',
      'Client connections or requests refused by an admission limit, by limit.',
      'counter',
      () => [
        { labels: { limit: 'connections' }, value: stats.refusedProcess },
        { labels: { limit: 'connections_per_ip' }, value: stats.refusedIp },
        { labels: { limit: 'head_memory' }, value: stats.headMemoryRefused },
      ],
    ),
    new CellMetric(
      'isogate_client_slow_readers_cut_total',
      'Client connections cut because they read nothing of their answer for the send timeout.',
      'counter',
      () => one(stats.slowReadersCut),
    ),
    new CellMetric(
      'isogate_client_responses_buffered',
      'Client connections holding an answer beyond their socket buffer (a client slower than its node).',
      'gauge',
      () => one(stats.buffering),
    ),
    new CellMetric('isogate_upstream_waiting', 'Requests waiting for a connection to a node.', 'gauge', () =>
      one(edge.upstreamWaiting()),
    ),
    ...upstreamSocketMetrics(() => edge.upstreamSockets?.() ?? null),
  ];
  for (const metric of metrics) registry.registerMetric(metric as unknown as Metric);
}

/** The upstream socket budget's metrics (a budget without limit has no `isogate_upstream_sockets_limit` sample). */
function upstreamSocketMetrics(read: () => SocketBudgetStats | null): CellMetric[] {
  const cell = (value: (b: SocketBudgetStats) => number) => () => {
    const budget = read();
    if (budget === null) return [];
    const v = value(budget);
    return Number.isFinite(v) ? [{ labels: {}, value: v }] : [];
  };
  return [
    new CellMetric(
      'isogate_upstream_sockets',
      'Open connections to nodes, all nodes together (connecting, busy or idle).',
      'gauge',
      cell((b) => b.open),
    ),
    new CellMetric(
      'isogate_upstream_sockets_idle',
      'Of those, idle keep-alive connections (closed least recently used first when the budget is spent).',
      'gauge',
      cell((b) => b.idle),
    ),
    new CellMetric(
      'isogate_upstream_sockets_limit',
      'Most connections to nodes open at once (--upstream-max-sockets, by default from the open-file limit).',
      'gauge',
      cell((b) => b.limit),
    ),
    new CellMetric(
      'isogate_upstream_sockets_evicted_total',
      'Idle connections to nodes closed to make room for a connection to another node.',
      'counter',
      cell((b) => b.evicted),
    ),
    new CellMetric(
      'isogate_upstream_out_of_files_total',
      'Connects to nodes that failed because the process or the system had no file descriptor left.',
      'counter',
      cell((b) => b.outOfFiles),
    ),
  ];
}
