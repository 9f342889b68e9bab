import type { Metric, Registry } from 'prom-client';
import type { ResolverStats } from '../upstream/resolver.js';
import { CellMetric } from './exposition.js';

/**
 * Registers the node-name resolver's metrics (docs/dns.md): lookups of connections by how they were
 * answered, DNS queries by result, names cached. No label per name, so the series stay few.
 */
export function registerDnsMetrics(registry: Registry, read: () => ResolverStats | null): void {
  const metrics = [
    new CellMetric(
      'isogate_dns_lookups_total',
      'Node-name lookups of new connections to nodes, by outcome (fresh: cached answer; refreshing: past its validity while its refresh runs; stale: past its validity, refreshes failing; resolved: waited for a query; failed: no address, the connect failed).',
      'counter',
      () => {
        const s = read();
        return s === null ? [] : Object.entries(s.lookups).map(([outcome, value]) => ({ labels: { outcome }, value }));
      },
    ),
    new CellMetric(
      'isogate_dns_queries_total',
      'DNS queries for node names, by result (ok, not_found, timeout, error).',
      'counter',
      () => {
        const s = read();
        return s === null ? [] : Object.entries(s.queries).map(([result, value]) => ({ labels: { result }, value }));
      },
    ),
    new CellMetric('isogate_dns_names', 'Node names cached by the resolver.', 'gauge', () => {
      const s = read();
      return s === null ? [] : [{ labels: {}, value: s.names }];
    }),
  ];
  for (const metric of metrics) registry.registerMetric(metric as unknown as Metric);
}
