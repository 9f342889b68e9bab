import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi, setSelector } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { scrape, type Scrape } from '../helpers/metrics.js';
import { closedPort, startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { FlakyFleet } from '../health/flaky-upstream.js';

// `GET /metrics` on the status port of an in-process gateway (`--workers 0`): real upstreams on
// 127.0.0.1, a closed port for connect failures, real selectors in the sandbox.

let t: TestGateway;
let ups: TestUpstream[];
const metrics = (): Promise<Scrape> => scrape(`${t.statusUrl}/metrics`);
const up = (name: string) => ups.find((u) => u.name === name)!;

beforeAll(async () => {
  t = await startTestGateway();
  ups = await startUpstreams(['a', 'b']);
});

const flaky = new FlakyFleet();

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  await flaky.stopAll();
});

async function send(path: string, n: number, init?: RequestInit): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await t.nodeOf(path, init));
  return out;
}

describe('GET /metrics', () => {
  it('counts requests by API, node and status class, with latency histograms of the same count', async () => {
    const api = await createApi(t, { name: 'm', path: '/m/*', algorithm: 'round_robin' });
    const aId = await addNode(t, api, up('a'));
    await addNode(t, api, up('b'));
    const answers = await send('/m/x', 20);
    expect(answers.filter((n) => n === 'a')).toHaveLength(10);
    await t.get('/nowhere').then((r) => r.arrayBuffer());

    const m = await metrics();
    expect(m.types.get('isogate_requests_total')).toBe('counter');
    expect(m.types.get('isogate_request_duration_seconds')).toBe('histogram');
    expect(m.sum('isogate_requests_total', { api: 'm', node: 'a', node_id: aId, class: '2xx' })).toBe(10);
    expect(m.sum('isogate_requests_total', { api: 'm', node: 'b', class: '2xx' })).toBe(10);
    expect(m.sum('isogate_requests_total', { api: 'm', class: '5xx' })).toBe(0);
    expect(m.sum('isogate_request_duration_seconds_count', { api: 'm', node: 'a' })).toBe(10);
    expect(m.sum('isogate_request_duration_seconds_bucket', { api: 'm', node: 'a', le: '+Inf' })).toBe(10);
    expect(m.sum('isogate_request_duration_seconds_sum', { api: 'm', node: 'a' })).toBeGreaterThan(0);
    expect(m.sum('isogate_upstream_response_seconds_count', { api: 'm', node: 'b' })).toBe(10);
    // Nothing matched: no API, no node, and the gateway's own error code.
    expect(m.sum('isogate_requests_total', { api: '', node: '', class: '4xx' })).toBe(1);
    expect(m.sum('isogate_gateway_errors_total', { api: '', code: 'ROUTE_NOT_FOUND' })).toBe(1);

    await send('/m/y', 4);
    const later = await metrics();
    expect(later.sum('isogate_requests_total', { api: 'm', class: '2xx' })).toBe(24);
  });

  it('counts connect failures per node and the retries they caused; a request with no node left is a 5xx on the last one tried', async () => {
    const dead = { name: 'dead', url: `http://127.0.0.1:${await closedPort()}` };
    const api = await createApi(t, { name: 'c', path: '/c/*', algorithm: 'round_robin', retries: 1 });
    await addNode(t, api, up('a'));
    await addNode(t, api, dead);
    const answers = await send('/c/x', 10);
    expect(answers.every((n) => n === 'a')).toBe(true);

    const m = await metrics();
    const failures = m.sum('isogate_upstream_connect_failures_total', { api: 'c', node: 'dead' });
    expect(failures).toBeGreaterThanOrEqual(4); // round robin starts every other request on dead
    expect(m.sum('isogate_upstream_retries_total', { api: 'c', reason: 'connect' })).toBe(failures);
    expect(m.sum('isogate_upstream_connect_failures_total', { api: 'c', node: 'a' })).toBe(0);
    expect(m.sum('isogate_requests_total', { api: 'c', node: 'a', class: '2xx' })).toBe(10);

    const lone = await createApi(t, { name: 'lone', path: '/lone', algorithm: 'round_robin' });
    await addNode(t, lone, { name: 'dead2', url: dead.url });
    expect(await send('/lone', 3)).toEqual([
      'error:UPSTREAM_CONNECT_FAILED',
      'error:UPSTREAM_CONNECT_FAILED',
      'error:UPSTREAM_CONNECT_FAILED',
    ]);
    const n = await metrics();
    expect(n.sum('isogate_upstream_connect_failures_total', { api: 'lone', node: 'dead2' })).toBe(3);
    expect(n.sum('isogate_requests_total', { api: 'lone', node: 'dead2', class: '5xx' })).toBe(3);
    expect(n.sum('isogate_gateway_errors_total', { api: 'lone', code: 'UPSTREAM_CONNECT_FAILED' })).toBe(3);
    expect(n.sum('isogate_upstream_retries_total', { api: 'lone' })).toBe(0);
  });

  it('counts a retry after a listed 5xx by its reason, and the node health gauge follows the passive ejection', async () => {
    const [busy, good] = await flaky.start('busy', 'good');
    busy!.mode = 'fail503';
    const api = await createApi(t, {
      name: 'h',
      path: '/h',
      algorithm: 'round_robin',
      retries: 1,
      health: { passive: { consecutiveFailures: 2, baseEjectionMs: 60_000, maxEjectionMs: 60_000 } },
    });
    const busyId = await addNode(t, api, { name: 'busy', url: busy!.url });
    await addNode(t, api, { name: 'good', url: good!.url });
    const before = await metrics();
    expect(before.sum('isogate_node_healthy', { api: 'h', node: 'busy', node_id: busyId })).toBe(1);
    expect(before.sum('isogate_node_healthy', { api: 'h', node: 'good' })).toBe(1);

    const answers = await send('/h', 6);
    expect(answers.every((n) => n === 'good')).toBe(true);
    const m = await metrics();
    // busy answered 503 twice (each retried on good), then was ejected and saw no more traffic.
    expect(m.sum('isogate_upstream_retries_total', { api: 'h', reason: 'status' })).toBe(2);
    expect(m.sum('isogate_upstream_retries_total', { api: 'h', reason: 'connect' })).toBe(0);
    expect(m.sum('isogate_upstream_connect_failures_total', { api: 'h' })).toBe(0);
    expect(m.sum('isogate_requests_total', { api: 'h', node: 'good', class: '2xx' })).toBe(6);
    expect(m.sum('isogate_node_healthy', { api: 'h', node: 'busy' })).toBe(0);
    expect(m.sum('isogate_node_healthy', { api: 'h', node: 'good' })).toBe(1);
  });

  it('counts selector calls, errors by kind, use-all fallbacks, time, and a quarantine', async () => {
    const api = await createApi(t, { name: 's', path: '/s', algorithm: 'round_robin' });
    await addNode(t, api, up('a'));
    await addNode(t, api, up('b'));
    await setSelector(t, api, {
      code: `function select(request, env, nodes) {
        if (request.headers['x-boom']) throw new Error('boom');
        return nodes.filter((n) => n.name === 'b');
      }`,
      // Every call runs in the sandbox (a memoized hit is not timed).
      memoize: false,
    });
    expect(await send('/s', 2)).toEqual(['b', 'b']);
    // onError use-all: the request goes on with both nodes.
    const failed = await send('/s', 3, { headers: { 'x-boom': '1' } });
    expect(failed.every((n) => n === 'a' || n === 'b')).toBe(true);

    let m = await metrics();
    expect(m.sum('isogate_selector_calls_total', { api: 's', outcome: 'ok' })).toBe(2);
    expect(m.sum('isogate_selector_calls_total', { api: 's', outcome: 'error' })).toBe(3);
    expect(m.sum('isogate_selector_errors_total', { api: 's', kind: 'throw' })).toBe(3);
    expect(m.sum('isogate_selector_fallbacks_total', { api: 's' })).toBe(3);
    expect(m.sum('isogate_selector_duration_seconds_count', { api: 's' })).toBe(5);
    expect(m.sum('isogate_selector_quarantined', { api: 's' })).toBe(0);
    expect(m.sum('isogate_selector_quarantines_total', { api: 's' })).toBe(0);

    // Five failures within ten seconds quarantine the version; later calls are skipped as errors.
    await send('/s', 3, { headers: { 'x-boom': '1' } });
    m = await metrics();
    expect(m.sum('isogate_selector_quarantines_total', { api: 's' })).toBe(1);
    expect(m.sum('isogate_selector_quarantined', { api: 's' })).toBe(1);
    expect(m.sum('isogate_selector_errors_total', { api: 's', kind: 'throw' })).toBe(5);
    expect(m.sum('isogate_selector_errors_total', { api: 's', kind: 'quarantined' })).toBe(1);
    expect(m.sum('isogate_selector_fallbacks_total', { api: 's' })).toBe(6);
  });

  it('a selector error on an API that rejects is a SELECTOR_FAILED answer, not a fallback', async () => {
    const api = await createApi(t, { name: 'r', path: '/r', algorithm: 'round_robin' });
    await addNode(t, api, up('a'));
    await setSelector(t, api, {
      code: `function select(request, env, nodes) { if (request.query.boom) throw new Error('x'); return nodes; }`,
      onError: 'reject',
    });
    expect(await send('/r?boom=1', 2)).toEqual(['error:SELECTOR_FAILED', 'error:SELECTOR_FAILED']);
    const m = await metrics();
    expect(m.sum('isogate_selector_errors_total', { api: 'r', kind: 'throw' })).toBe(2);
    expect(m.sum('isogate_selector_fallbacks_total', { api: 'r' })).toBe(0);
    expect(m.sum('isogate_gateway_errors_total', { api: 'r', code: 'SELECTOR_FAILED' })).toBe(2);
    expect(m.sum('isogate_requests_total', { api: 'r', node: '', class: '5xx' })).toBe(2);
  });

  it('follows the config version after an admin write, and its age starts again', async () => {
    const before = await metrics();
    const version = before.sum('isogate_config_version');
    expect(version).toBe((await t.admin('GET', '/admin/config/version')).body.version);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await metrics()).sum('isogate_config_age_seconds')).toBeGreaterThanOrEqual(1);
    await t.admin('PUT', '/admin/variables/METRICS_flag', { value: 'x' });
    const after = await metrics();
    expect(after.sum('isogate_config_version')).toBe(version + 1);
    expect(after.sum('isogate_config_age_seconds')).toBeLessThan(1);
  });

  it('drops the series of a deleted API and a renamed node at the next scrape', async () => {
    const api = await createApi(t, { name: 'gone', path: '/gone', algorithm: 'round_robin' });
    const node = await addNode(t, api, up('a'));
    await send('/gone', 2);
    expect((await metrics()).sum('isogate_requests_total', { api: 'gone', node: 'a' })).toBe(2);
    await t.admin('PATCH', `/admin/apis/${api}/nodes/${node}`, { name: 'a2' });
    await send('/gone', 1);
    let m = await metrics();
    expect(m.has('isogate_requests_total', { api: 'gone', node: 'a' })).toBe(false);
    expect(m.sum('isogate_requests_total', { api: 'gone', node: 'a2', node_id: node })).toBe(1);
    await t.admin('DELETE', `/admin/apis/${api}`);
    m = await metrics();
    expect(m.has('isogate_requests_total', { api: 'gone' })).toBe(false);
    expect(m.has('isogate_request_duration_seconds_count', { api: 'gone' })).toBe(false);
  });

  it('counts requests refused at the HTTP layer as gateway errors, with no API', async () => {
    const before = await metrics();
    const refused = (bytes: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: t.app.gateway!.port }, () => socket.end(bytes));
        let answer = '';
        socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
      });
    expect(await refused('GET / HTTP/1.1\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /); // no Host
    expect(await refused('GET / HTTP/2.0\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 505 /);
    const m = await metrics();
    const delta = (name: string, labels: Record<string, string>) => m.sum(name, labels) - before.sum(name, labels);
    expect(delta('isogate_gateway_errors_total', { api: '', code: 'BAD_REQUEST' })).toBe(1);
    expect(delta('isogate_gateway_errors_total', { api: '', code: 'HTTP_VERSION_UNSUPPORTED' })).toBe(1);
    expect(delta('isogate_requests_total', { api: '', node: '', class: '4xx' })).toBe(1);
    expect(delta('isogate_requests_total', { api: '', node: '', class: '5xx' })).toBe(1);
  });

  it('includes the process metrics and one gateway process', async () => {
    const m = await metrics();
    expect(m.sum('isogate_gateway_processes')).toBe(1);
    expect(m.sum('process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(m.sum('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(m.has('process_cpu_seconds_total')).toBe(true);
  });
});
