import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { aggregateMetrics } from '../../src/metrics/cluster.js';
import type { MetricsJson } from '../../src/metrics/gateway-metrics.js';
import { WorkerCounters } from '../../src/metrics/worker-counters.js';
import { parseMetrics } from '../helpers/metrics.js';

/** One worker's metrics: a counter per API, a latency histogram and an in-flight gauge, as prom-client writes them. */
function worker() {
  const registry = new Registry();
  const requests = new Counter({ name: 't_requests_total', help: 'r', labelNames: ['api'], registers: [registry] });
  const latency = new Histogram({ name: 't_latency_seconds', help: 'l', buckets: [0.1, 1], registers: [registry] });
  const inFlight = new Gauge({ name: 't_in_flight', help: 'i', registers: [registry] });
  return {
    requests,
    latency,
    inFlight,
    json: async (): Promise<MetricsJson> => (await registry.getMetricsAsJSON()) as MetricsJson,
  };
}

async function scrape(counters: WorkerCounters, answers: Map<string, MetricsJson>, alive: string[]) {
  return parseMetrics(await aggregateMetrics(counters.parts(answers, alive)));
}

describe('summed worker counters', () => {
  it('never go back when a worker restarts or misses a scrape; gauges of a silent worker are left out', async () => {
    const counters = new WorkerCounters();
    const a = worker();
    const b = worker();
    a.requests.inc({ api: 'x' }, 100);
    b.requests.inc({ api: 'x' }, 50);
    a.latency.observe(0.5);
    a.inFlight.set(3);
    b.inFlight.set(4);
    let m = await scrape(
      counters,
      new Map([
        ['a', await a.json()],
        ['b', await b.json()],
      ]),
      ['a', 'b'],
    );
    expect(m.sum('t_requests_total', { api: 'x' })).toBe(150);
    expect(m.sum('t_in_flight')).toBe(7);

    // b misses the answer window: its last counts stay, its gauge does not.
    a.requests.inc({ api: 'x' }, 10);
    m = await scrape(counters, new Map([['a', await a.json()]]), ['a', 'b']);
    expect(m.sum('t_requests_total', { api: 'x' })).toBe(160);
    expect(m.sum('t_in_flight')).toBe(3);

    // a dies and is forked again as a2, whose counts start from zero: the sum goes on from 160.
    await counters.gone('a');
    const a2 = worker();
    a2.requests.inc({ api: 'x' }, 5);
    m = await scrape(
      counters,
      new Map([
        ['a2', await a2.json()],
        ['b', await b.json()],
      ]),
      ['a2', 'b'],
    );
    expect(m.sum('t_requests_total', { api: 'x' })).toBe(165);
    expect(m.sum('t_latency_seconds_count')).toBe(1);
    expect(m.sum('t_latency_seconds_bucket', { le: '1' })).toBe(1);
    expect(m.sum('t_in_flight')).toBe(4);

    // A series no live worker reports any more (an API deleted since) leaves the carry too.
    const c = worker();
    c.requests.inc({ api: 'y' }, 7);
    await counters.parts(new Map([['c', await c.json()]]), ['a2', 'b', 'c']);
    await counters.gone('c');
    m = await scrape(
      counters,
      new Map([
        ['a2', await a2.json()],
        ['b', await b.json()],
      ]),
      ['a2', 'b'],
    );
    expect(m.has('t_requests_total', { api: 'y' })).toBe(false);
    expect(m.sum('t_requests_total', { api: 'x' })).toBe(165);
  });
});
