/**
 * A slow node under load beside two fast ones (real upstreams on 127.0.0.1): the requests waiting for
 * a connection to the slow node are bounded in number (UPSTREAM_QUEUE_FULL past it) and in time
 * (UPSTREAM_QUEUE_TIMEOUT), counted in /metrics, and the fast nodes' requests are all served.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { scrape } from '../helpers/metrics.js';

const SLOW_MS = 1_500;
const WAITING = 6;
let t: TestGateway;
const servers: Server[] = [];

function node(name: string, delayMs: number): Promise<string> {
  const server = createServer((_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'x-node': name, 'content-type': 'text/plain' });
      res.end(name);
    }, delayMs);
  });
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

beforeAll(async () => {
  t = await startTestGateway([
    '--upstream-connections',
    '4',
    '--upstream-max-waiting',
    String(WAITING),
    '--upstream-wait-ms',
    '500',
  ]);
  const id = await createApi(t, { name: 'three', path: '/three', algorithm: 'round_robin', retries: 0 });
  await addNode(t, id, { name: 'slow', url: await node('slow', SLOW_MS) });
  await addNode(t, id, { name: 'fast1', url: await node('fast1', 0) });
  await addNode(t, id, { name: 'fast2', url: await node('fast2', 0) });
});

afterAll(async () => {
  await t?.stop();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

describe('a slow node beside two fast ones, under load', () => {
  it('bounds the requests waiting for it (full, then timed out), and the fast nodes serve every request of theirs', async () => {
    const outcomes: string[] = [];
    let maxWaiting = 0;
    let loading = true;
    const watch = (async () => {
      while (loading) {
        maxWaiting = Math.max(maxWaiting, (await scrape(`${t.statusUrl}/metrics`)).sum('isogate_upstream_waiting'));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // 24 clients, each sending 12 requests one after the other (bounded: at most 288 requests).
    await Promise.all(
      Array.from({ length: 24 }, async () => {
        for (let i = 0; i < 12; i++) {
          const res = await fetch(`${t.gatewayUrl}/three`, { signal: AbortSignal.timeout(10_000) });
          await res.arrayBuffer();
          outcomes.push(res.headers.get('x-node') ?? res.headers.get('x-isogate-error') ?? String(res.status));
        }
      }),
    );
    loading = false;
    await watch;
    const count = (what: string) => outcomes.filter((o) => o === what).length;
    expect(outcomes).toHaveLength(288);
    expect(
      outcomes.filter((o) => !['slow', 'fast1', 'fast2', 'UPSTREAM_QUEUE_FULL', 'UPSTREAM_QUEUE_TIMEOUT'].includes(o)),
    ).toEqual([]);
    // Round robin sends every third request to the slow node; only those can be refused.
    expect(count('fast1') + count('fast2')).toBe(192);
    expect(count('UPSTREAM_QUEUE_TIMEOUT')).toBeGreaterThan(0);
    expect(count('slow') + count('UPSTREAM_QUEUE_FULL') + count('UPSTREAM_QUEUE_TIMEOUT')).toBe(96);
    expect(maxWaiting).toBeLessThanOrEqual(WAITING);
    const m = await scrape(`${t.statusUrl}/metrics`);
    expect(m.sum('isogate_gateway_errors_total', { code: 'UPSTREAM_QUEUE_TIMEOUT' })).toBe(
      count('UPSTREAM_QUEUE_TIMEOUT'),
    );
    expect(m.sum('isogate_gateway_errors_total', { code: 'UPSTREAM_QUEUE_FULL' })).toBe(count('UPSTREAM_QUEUE_FULL'));
    console.log(
      `slow node: ${count('slow')} answered, ${count('UPSTREAM_QUEUE_FULL')} queue full, ${count('UPSTREAM_QUEUE_TIMEOUT')} waited too long; most waiting ${maxWaiting}`,
    );
  }, 60_000);
});
