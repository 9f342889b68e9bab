import { AggregatorRegistry } from 'prom-client';
import type { MetricsJson } from './gateway-metrics.js';

/** Kinds of metric whose values only grow: what a sum over processes must never lose. */
const GROWING = new Set(['counter', 'histogram']);

/** A metric series' identity: its name and labels (histogram buckets by their own metric name and `le`). */
function seriesKey(name: string, value: { metricName?: string; labels: object }): string {
  return `${value.metricName ?? name}|${JSON.stringify(value.labels)}`;
}

/** The counters and histograms of `part`, nothing else. */
function growingOnly(part: MetricsJson): MetricsJson {
  return part.filter((m) => GROWING.has(String(m.type)));
}

/**
 * Keeps the machine's summed counters and histograms from going back when a gateway worker restarts
 * or misses a scrape. Without it a worker that restarted took its counts with it, so the machine's
 * sums dropped and Prometheus read a counter reset: `rate()` then counted the other workers' whole
 * totals again, a false spike the size of the machine's history. Here:
 *
 * - a live worker that did not answer in time counts with the counters and histograms of its last
 *   answer (its gauges are left out: they say what is now, and nobody knows that);
 * - a worker that is gone leaves its last counters and histograms in a carry added to every later
 *   scrape (what it counted after its last scrape is lost: sums may lag, never go back);
 * - the carry keeps only series some live worker still reports, so an API or node deleted since goes
 *   from the sums as it goes from the workers' own metrics, and the carry stays as small as they are.
 *
 * Lives in the primary; a restart of the primary starts every count afresh (a real reset).
 */
export class WorkerCounters {
  /** Each live worker process's last answer, by its process id. */
  readonly #last = new Map<string, MetricsJson>();
  /** Counters and histograms of workers gone, summed. */
  #carry: MetricsJson = [];

  /**
   * The parts to sum for one scrape: the answers that came (by worker process id), the last counters
   * of live workers that did not answer, and the carry of workers gone.
   */
  parts(answers: ReadonlyMap<string, MetricsJson>, alive: readonly string[]): MetricsJson[] {
    const parts: MetricsJson[] = [];
    for (const [id, part] of answers) {
      this.#last.set(id, part);
      parts.push(part);
    }
    for (const id of alive) {
      if (answers.has(id)) continue;
      const last = this.#last.get(id);
      if (last !== undefined) parts.push(growingOnly(last));
    }
    if (this.#carry.length > 0) {
      this.#carry = this.#reported(this.#carry, parts);
      if (this.#carry.length > 0) parts.push(this.#carry);
    }
    return parts;
  }

  /** A worker process is gone: its last counters and histograms stay in every later sum. */
  async gone(processId: string): Promise<void> {
    const last = this.#last.get(processId);
    this.#last.delete(processId);
    if (last === undefined) return;
    const parts = this.#carry.length > 0 ? [this.#carry, growingOnly(last)] : [growingOnly(last)];
    this.#carry = growingOnly(await AggregatorRegistry.aggregate(parts).getMetricsAsJSON());
  }

  /** The series of `carry` that one of `parts` reports too (an empty scrape keeps the carry whole). */
  #reported(carry: MetricsJson, parts: readonly MetricsJson[]): MetricsJson {
    if (parts.length === 0) return carry;
    const live = new Set<string>();
    for (const part of parts) for (const m of part) for (const v of m.values) live.add(seriesKey(m.name, v));
    const kept: MetricsJson = [];
    for (const m of carry) {
      const values = m.values.filter((v) => live.has(seriesKey(m.name, v)));
      if (values.length > 0) kept.push({ ...m, values });
    }
    return kept;
  }
}
