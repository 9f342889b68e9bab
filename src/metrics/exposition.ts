import type { Aggregator, Metric, Registry } from 'prom-client';
import { LATENCY_BOUNDS_MS, SELECTOR_BOUNDS_US } from './buckets.js';
import {
  ERROR_CODES,
  MEMO_END_CAUSES,
  RETRY_REASONS,
  SELECTOR_ERROR_KINDS,
  SELECTOR_OUTCOMES,
  STATUS_CLASSES,
  type Traffic,
} from './traffic.js';

type Labels = Record<string, string | number>;
/** One sample as prom-client's registries and `AggregatorRegistry.aggregate()` expect it. */
export interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
}
type MetricType = 'counter' | 'gauge' | 'histogram';

/**
 * A metric read from the traffic cells at scrape time. It speaks prom-client's metric protocol
 * (`name`, `help`, `type`, `aggregator`, `get()`), so a Registry renders it and the primary's
 * `AggregatorRegistry.aggregate()` merges it like a built-in one.
 */
export class CellMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly read: () => Sample[],
    readonly aggregator: Aggregator = 'sum',
  ) {}

  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() };
  }

  /** Part of the protocol; the cells are only ever reset by a restart. */
  reset(): void {}
}

/** The `le` label of each bucket, in seconds, and `+Inf`. */
function leLabels(bounds: readonly number[], toSeconds: number): Array<string | number> {
  return [...bounds.map((b) => Number((b * toSeconds).toPrecision(6))), '+Inf'];
}

const LATENCY_LE = leLabels(LATENCY_BOUNDS_MS, 1e-3);
const SELECTOR_LE = leLabels(SELECTOR_BOUNDS_US, 1e-6);

/** Pushes a histogram's cumulative buckets, sum and count (sum converted to seconds). */
function histogram(
  out: Sample[],
  name: string,
  labels: Labels,
  cells: Float64Array,
  le: ReadonlyArray<string | number>,
  toSeconds: number,
): void {
  let count = 0;
  for (let b = 0; b < le.length; b++) {
    count += cells[b]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: le[b]! }, value: count });
  }
  out.push({ metricName: `${name}_sum`, labels, value: cells[le.length]! * toSeconds });
  out.push({ metricName: `${name}_count`, labels, value: count });
}

function countOf(cells: Float64Array, buckets: number): number {
  let n = 0;
  for (let b = 0; b < buckets; b++) n += cells[b]!;
  return n;
}

/** Registers every traffic metric (see the README's Metrics section) in the registry. */
export function registerTrafficMetrics(registry: Registry, traffic: Traffic): void {
  const metrics: CellMetric[] = [
    new CellMetric(
      'isogate_requests_total',
      'Requests answered, by API, node (empty when none was picked) and status class.',
      'counter',
      () => {
        const out: Sample[] = [];
        for (const cell of traffic.nodes()) {
          for (let c = 0; c < STATUS_CLASSES.length; c++) {
            const value = cell.requests[c]!;
            if (value > 0)
              out.push({
                labels: { api: cell.api, node: cell.node, node_id: cell.nodeId, class: STATUS_CLASSES[c]! },
                value,
              });
          }
        }
        return out;
      },
    ),
    new CellMetric(
      'isogate_request_duration_seconds',
      'Time from the arrival of the request to the end of the answer, by API and node.',
      'histogram',
      () => {
        const out: Sample[] = [];
        for (const cell of traffic.nodes()) {
          if (countOf(cell.duration, LATENCY_LE.length) === 0) continue;
          histogram(
            out,
            'isogate_request_duration_seconds',
            { api: cell.api, node: cell.node, node_id: cell.nodeId },
            cell.duration,
            LATENCY_LE,
            1e-3,
          );
        }
        return out;
      },
    ),
    new CellMetric(
      'isogate_upstream_response_seconds',
      'Time from the arrival of the request to the response headers of the node (balance stage and retries included), by API and node.',
      'histogram',
      () => {
        const out: Sample[] = [];
        for (const cell of traffic.nodes()) {
          if (countOf(cell.upstream, LATENCY_LE.length) === 0) continue;
          histogram(
            out,
            'isogate_upstream_response_seconds',
            { api: cell.api, node: cell.node, node_id: cell.nodeId },
            cell.upstream,
            LATENCY_LE,
            1e-3,
          );
        }
        return out;
      },
    ),
    new CellMetric(
      'isogate_upstream_connect_failures_total',
      'Attempts that could not connect to the node (refused, unreachable, connect timeout).',
      'counter',
      () =>
        traffic
          .nodes()
          .filter((cell) => cell.connectFailures > 0)
          .map((cell) => ({
            labels: { api: cell.api, node: cell.node, node_id: cell.nodeId },
            value: cell.connectFailures,
          })),
    ),
    new CellMetric(
      'isogate_upstream_retries_total',
      'Requests sent again to another node, by API and the reason the previous attempt was given up.',
      'counter',
      () => perApi(traffic, RETRY_REASONS, (cell) => cell.retries, 'reason'),
    ),
    new CellMetric(
      'isogate_upstream_retries_refused_total',
      "Retries not made because the API's retry budget was spent (the failure was answered as it was).",
      'counter',
      () => perApiTotal(traffic, (cell) => cell.retriesRefused),
    ),
    new CellMetric(
      'isogate_gateway_errors_total',
      'Answers the gateway made itself, by API (empty when none matched) and error code.',
      'counter',
      () => perApi(traffic, ERROR_CODES, (cell) => cell.errors, 'code'),
    ),
    new CellMetric(
      'isogate_selector_calls_total',
      'Selector calls by API and outcome (error includes calls skipped while quarantined).',
      'counter',
      () => perApi(traffic, SELECTOR_OUTCOMES, (cell) => cell.selectorCalls, 'outcome'),
    ),
    new CellMetric('isogate_selector_errors_total', 'Selector failures by API and kind.', 'counter', () =>
      perApi(traffic, SELECTOR_ERROR_KINDS, (cell) => cell.selectorErrors, 'kind'),
    ),
    new CellMetric(
      'isogate_selector_fallbacks_total',
      'Selector failures the API went on from with every candidate (onError use-all).',
      'counter',
      () => perApiTotal(traffic, (cell) => cell.selectorFallbacks),
    ),
    new CellMetric(
      'isogate_selector_quarantines_total',
      'Selector versions put in quarantine after repeated failures, by API.',
      'counter',
      () => perApiTotal(traffic, (cell) => cell.selectorQuarantines),
    ),
    new CellMetric(
      'isogate_selector_memo_ended_total',
      'Selector versions whose memoization ended while serving, by API and cause (stateful: a run changed what the top level kept; mismatch: the verifier got another answer).',
      'counter',
      () =>
        traffic
          .apis()
          .flatMap((cell) =>
            MEMO_END_CAUSES.map((cause, i) => ({ labels: { api: cell.api, cause }, value: cell.memoEnded[i]! })).filter(
              (sample) => sample.value > 0,
            ),
          ),
    ),
    new CellMetric(
      'isogate_selector_duration_seconds',
      'Selector call time as the gateway saw it (the sandbox round trip; memoized answers are not timed), by API.',
      'histogram',
      () => {
        const out: Sample[] = [];
        for (const cell of traffic.apis()) {
          if (countOf(cell.selectorTime, SELECTOR_LE.length) === 0) continue;
          histogram(out, 'isogate_selector_duration_seconds', { api: cell.api }, cell.selectorTime, SELECTOR_LE, 1e-6);
        }
        return out;
      },
    ),
  ];
  for (const metric of metrics) registry.registerMetric(metric as unknown as Metric);
}

/** One sample per API whose count is above zero, labelled by API alone. */
function perApiTotal(traffic: Traffic, count: (cell: ReturnType<Traffic['apis']>[number]) => number): Sample[] {
  return traffic
    .apis()
    .filter((cell) => count(cell) > 0)
    .map((cell) => ({ labels: { api: cell.api }, value: count(cell) }));
}

function perApi(
  traffic: Traffic,
  names: readonly string[],
  cells: (cell: ReturnType<Traffic['apis']>[number]) => Float64Array,
  label: string,
): Sample[] {
  const out: Sample[] = [];
  for (const cell of traffic.apis()) {
    const values = cells(cell);
    for (let i = 0; i < names.length; i++) {
      if (values[i]! > 0) out.push({ labels: { api: cell.api, [label]: names[i]! }, value: values[i]! });
    }
  }
  return out;
}
