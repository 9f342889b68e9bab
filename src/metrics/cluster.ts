import { AggregatorRegistry } from 'prom-client';
import type { MetricsJson } from './gateway-metrics.js';

/**
 * One scrape for the machine from each process's metrics: counters and histograms are summed, gauges
 * merged by their own `aggregator` (lowest config version, oldest config age, …).
 */
export function aggregateMetrics(parts: readonly MetricsJson[]): Promise<string> {
  return AggregatorRegistry.aggregate([...parts]).metrics();
}
