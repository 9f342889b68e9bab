/**
 * The process's budget of upstream sockets (`--upstream-max-sockets`, else from the open-file limit),
 * end to end with real upstreams on 127.0.0.1: idle keep-alive sockets of other nodes are closed for a
 * new connection (least recently used first), a request finding every place busy waits and is refused
 * `503 UPSTREAM_SOCKETS_EXHAUSTED`, never held against its node, and /metrics shows the budget.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { scrape } from '../helpers/metrics.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let t: TestGateway;
let ups: TestUpstream[] = [];
let slow: Server;

beforeAll(async () => {
  t = await startTestGateway(['--upstream-max-sockets', '2', '--upstream-wait-ms', '300']);
  ups = await startUpstreams(['a', 'b', 'c']);
  slow = createServer((_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'x-node': 'slow' });
      res.end('slow');
    }, 1_000);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  // One failure would eject a node, and with every node out the API answers NO_HEALTHY_NODE.
  const health = { passive: { consecutiveFailures: 1 }, panic: 'reject' };
  for (const up of ups) {
    const id = await createApi(t, { name: up.name, path: `/${up.name}`, algorithm: 'round_robin', retries: 0, health });
    await addNode(t, id, up);
  }
  const id = await createApi(t, { name: 'slow', path: '/slow', algorithm: 'round_robin', retries: 0, health });
  await addNode(t, id, { name: 'slow', url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}` });
});

afterAll(async () => {
  await t?.stop();
  for (const up of ups) await up.close();
  slow?.closeAllConnections();
  slow?.close();
});

describe('the upstream socket budget', () => {
  it('closes idle sockets of other nodes for new ones, refuses (not ejects) when all are busy, and shows it in /metrics', async () => {
    for (const name of ['a', 'b', 'c', 'a', 'b', 'c']) expect(await t.nodeOf(`/${name}`)).toBe(name);
    let m = await scrape(`${t.statusUrl}/metrics`);
    expect(m.sum('isogate_upstream_sockets_limit')).toBe(2);
    expect(m.sum('isogate_upstream_sockets')).toBeLessThanOrEqual(2);
    expect(m.sum('isogate_upstream_sockets_evicted_total')).toBeGreaterThanOrEqual(4);

    // Both places busy with the slow node: a request to another node waits 300 ms, then is refused.
    const held = [t.nodeOf('/slow'), t.nodeOf('/slow')];
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    expect(await t.nodeOf('/a')).toBe('error:UPSTREAM_SOCKETS_EXHAUSTED');
    expect(performance.now() - started).toBeGreaterThan(250);
    expect(await Promise.all(held)).toEqual(['slow', 'slow']);
    // The refusal was not held against node a.
    expect(await t.nodeOf('/a')).toBe('a');
    m = await scrape(`${t.statusUrl}/metrics`);
    expect(m.sum('isogate_gateway_errors_total', { code: 'UPSTREAM_SOCKETS_EXHAUSTED' })).toBe(1);
    expect(m.sum('isogate_upstream_sockets')).toBeLessThanOrEqual(2);
    expect(m.sum('isogate_upstream_out_of_files_total')).toBe(0);
  });
});
