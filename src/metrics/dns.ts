import type { Metric, Registry } from 'prom-client';
import type { ResolverStats } from '../upstream/resolver.js';
import { CellMetric } from './exposition.js';

/** A counter with one series per key of the record `pick` reads from the stats, labelled `label`. */
function countedBy(
  read: () => ResolverStats,
  name: string,
  help: string,
  label: string,
  pick: (stats: ResolverStats) => Readonly<Record<string, number>>,
): CellMetric {
  return new CellMetric(name, help, 'counter', () =>
    Object.entries(pick(read())).map(([key, value]) => ({ labels: { [label]: key }, value })),
  );
}

/**
 * Registers the node-name resolver's metrics (docs/dns.md): lookups of connections by how they were
 * answered, DNS queries by result, names cached. No label per name, so the series stay few.
 */
export function registerDnsMetrics(registry: Registry, read: () => ResolverStats): void {
  const metrics = [
    countedBy(
      read,
      'isogate_dns_lookups_total',
      'Node-name lookups of new connections to nodes, by outcome (fresh: cached answer; refreshing: past its validity while its refresh runs; stale: past its validity, refreshes failing; resolved: waited for a query; failed: no address, the connect failed).',
      'outcome',
      (s) => s.lookups,
    ),
    countedBy(
      read,
      'isogate_dns_queries_total',
      'DNS queries for node names, by result (ok, not_found, timeout, error).',
      'result',
      (s) => s.queries,
    ),
    new CellMetric('isogate_dns_names', 'Node names cached by the resolver.', 'gauge', () => [
      { labels: {}, value: read().names },
    ]),
  ];
  for (const metric of metrics) registry.registerMetric(metric as unknown as Metric);
}
