// What recording one request's metrics costs on the hot path: isogate's flat-array cells
// (`Traffic.record`) against the same counts kept with prom-client's Counter/Histogram, once with
// label objects on every call and once with label-bound children cached per node. Not a test.
//
//   node --no-node-snapshot --import tsx bench/metrics-record.ts
import { Counter, Histogram, Registry } from 'prom-client';
import type { RequestContext } from '../src/gateway/context.js';
import { Traffic } from '../src/metrics/traffic.js';
import type { CompiledApi } from '../src/snapshot/snapshot.js';

const N = 2_000_000;
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

// The fields the log stage reads, for three nodes of one API.
const api = {
  api: { id: 'api-1', name: 'demo', selector: null },
  nodes: ['a', 'b', 'c'].map((name, index) => ({ index, id: `node-${name}`, name })),
} as unknown as CompiledApi;
const contexts = api.nodes.map(
  (node) =>
    ({
      api,
      node,
      status: 200,
      errorCode: null,
      tried: [node.index],
      selectorOutcome: 'none',
      selectorUs: 0,
      upstreamMs: 1.2,
      res: { destroyed: false },
    }) as unknown as RequestContext,
);

function bench(name: string, fn: (i: number) => void): void {
  for (let i = 0; i < 200_000; i++) fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  console.log(`${name.padEnd(44)} ${(Number(process.hrtime.bigint() - t0) / N).toFixed(0).padStart(5)} ns/request`);
}

const traffic = new Traffic();
bench('isogate Traffic.record (flat arrays)', (i) => traffic.record(contexts[i % 3]!, 2.5));

const registers = [new Registry()];
const requests = new Counter({ name: 'r', help: 'r', labelNames: ['api', 'node', 'node_id', 'class'], registers });
const duration = new Histogram({
  name: 'd',
  help: 'd',
  labelNames: ['api', 'node', 'node_id'],
  buckets: BUCKETS,
  registers,
});
const upstream = new Histogram({
  name: 'u',
  help: 'u',
  labelNames: ['api', 'node', 'node_id'],
  buckets: BUCKETS,
  registers,
});
bench('prom-client, label objects per call', (i) => {
  const n = api.nodes[i % 3]!;
  const labels = { api: 'demo', node: n.name, node_id: n.id };
  requests.inc({ ...labels, class: '2xx' });
  duration.observe(labels, 0.0025);
  upstream.observe(labels, 0.0012);
});

const children = api.nodes.map((n) => ({
  requests: requests.labels('demo', n.name, n.id, '2xx'),
  duration: duration.labels('demo', n.name, n.id),
  upstream: upstream.labels('demo', n.name, n.id),
}));
bench('prom-client, children cached per node', (i) => {
  const c = children[i % 3]!;
  c.requests.inc();
  c.duration.observe(0.0025);
  c.upstream.observe(0.0012);
});
