import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { addNode, createApi, setSelector } from '../../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';
import { scrape } from '../../helpers/metrics.js';
import { closedPort } from '../../helpers/upstreams.js';
import { startWsUpstream, type WsUpstream } from '../../helpers/ws-upstreams.js';
import { until } from '../../helpers/processes.js';

// WebSocket proxying end to end: real `ws` clients and nodes, through the gateway's lifecycle.
let t: TestGateway;
let main: WsUpstream;
let canary: WsUpstream;
let other: WsUpstream;
let refusing: WsUpstream;
const extra: Server[] = [];
const clients: WebSocket[] = [];

beforeAll(async () => {
  t = await startTestGateway();
  [main, canary, other, refusing] = await Promise.all([
    startWsUpstream('main'),
    startWsUpstream('canary'),
    startWsUpstream('other'),
    startWsUpstream('refusing', { refuse: 403 }),
  ]);
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.terminate();
  await t?.stop();
  await Promise.all([main, canary, other, refusing].filter(Boolean).map((u) => u.close()));
  for (const s of extra) s.close();
});

const wsUrl = (path: string) => `${t.gatewayUrl.replace('http', 'ws')}${path}`;

/** Opens a WebSocket through the gateway; resolves with it and its first message (the node's greeting). */
function open(path: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; hello: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(path), { headers });
    clients.push(ws);
    const timer = setTimeout(() => reject(new Error('no greeting in 5 s')), 5_000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve({ ws, hello: String(data) });
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        reject(
          Object.assign(new Error(`status ${res.statusCode}`), {
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        ),
      );
    });
  });
}

const nextMessage = (ws: WebSocket): Promise<string> =>
  new Promise((resolve) => ws.once('message', (d) => resolve(String(d))));
const closed = (ws: WebSocket): Promise<{ code: number; reason: string }> =>
  new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve({ code: 1006, reason: '' });
    else ws.once('close', (code, reason) => resolve({ code, reason: String(reason) }));
  });

describe('WebSocket through the gateway', () => {
  let echoApi: string;

  it('echoes text and binary messages both ways, the node seeing forwarded headers', async () => {
    echoApi = await createApi(t, { name: 'echo', path: '/ws/*', algorithm: 'round_robin' });
    await addNode(t, echoApi, main);
    const { ws, hello } = await open('/ws/chat?room=1', { 'x-user': '42' });
    expect(hello).toBe('hello main');
    ws.send('ping');
    expect(await nextMessage(ws)).toBe('ping');
    const big = Buffer.alloc(256 * 1024, 7);
    ws.send(big);
    const back = await new Promise<Buffer>((resolve) => ws.once('message', (d) => resolve(d as Buffer)));
    expect(Buffer.compare(back, big)).toBe(0);
    const seen = main.seen.at(-1)!;
    expect(seen.url).toBe('/ws/chat?room=1');
    expect(seen.headers['x-user']).toBe('42');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers.upgrade).toBe('websocket');
    ws.close(1000, 'bye');
    expect((await closed(ws)).code).toBe(1000);
    // The client's close reaches the node.
    await until(
      async () => main.closes.at(-1),
      (c) => c === 1000,
      100,
      20,
    );
  });

  it('counts open upgraded connections per API and node in /metrics and the node stats', async () => {
    const a = await open('/ws/a');
    const b = await open('/ws/b');
    const stats = await t.admin('GET', `/admin/apis/${echoApi}/stats`);
    const nodeId = Object.keys(stats.body.nodes)[0]!;
    expect(stats.body.nodes[nodeId].upgraded).toBe(2);
    const metrics = await scrape(`${t.statusUrl}/metrics`);
    expect(metrics.sum('isogate_upgraded_connections', { api: 'echo', node: 'main', node_id: nodeId })).toBe(2);
    a.ws.close();
    b.ws.close();
    await until(
      async () => (await t.admin('GET', `/admin/apis/${echoApi}/stats`)).body.nodes[nodeId].upgraded,
      (n) => n === 0,
      100,
      20,
    );
  });

  it('lets the selector route upgrade requests (canary by query)', async () => {
    const id = await createApi(t, { name: 'canary-ws', path: '/live/*', algorithm: 'round_robin' });
    await addNode(t, id, main);
    await addNode(t, id, canary, { tags: ['temp'] });
    await setSelector(t, id, {
      code: 'function select(r, e, nodes) { return r.query.select_code === "temp_node" ? nodes.filter((n) => n.tags.includes("temp")) : nodes.filter((n) => !n.tags.includes("temp")); }',
    });
    for (let i = 0; i < 4; i++) {
      expect((await open('/live/x')).hello).toBe('hello main');
      expect((await open('/live/x?select_code=temp_node')).hello).toBe('hello canary');
    }
  });

  it('keeps a client on its node with ip_hash', async () => {
    const id = await createApi(t, { name: 'sticky-ws', path: '/sticky-ws', algorithm: 'ip_hash' });
    await addNode(t, id, main);
    await addNode(t, id, other);
    const hellos = new Set<string>();
    for (let i = 0; i < 6; i++) hellos.add((await open('/sticky-ws')).hello);
    expect(hellos.size).toBe(1);
  });

  it('passes a refused upgrade on as a normal response', async () => {
    const id = await createApi(t, { name: 'refuse', path: '/refuse', algorithm: 'round_robin' });
    await addNode(t, id, refusing);
    const err = await open('/refuse').catch(
      (e: unknown) => e as { status: number; body: string; headers: Record<string, string> },
    );
    expect(err).toMatchObject({ status: 403, body: 'refused by refusing' });
    expect((err as { headers: Record<string, string> }).headers['x-node']).toBe('refusing');
    // The same connection goes on serving plain requests.
    expect(await t.nodeOf('/ws/plain')).toBe('main');
  });

  it('closes the client when the node closes, with the node’s close code', async () => {
    const { ws } = await open('/ws/closing');
    await until(
      async () => main.sockets.size,
      (n) => n > 0,
      100,
      20,
    );
    for (const s of main.sockets) s.close(4001, 'node says bye');
    expect(await closed(ws)).toEqual({ code: 4001, reason: 'node says bye' });
  });

  it('closes both sides after the API’s idle timeout', async () => {
    const id = await createApi(t, {
      name: 'idle',
      path: '/idle',
      algorithm: 'round_robin',
      timeouts: { upgradeIdleMs: 1000 },
    });
    await addNode(t, id, main);
    const { ws } = await open('/idle');
    const open0 = main.sockets.size;
    expect((await closed(ws)).code).toBe(1006);
    await until(
      async () => main.sockets.size,
      (n) => n < open0,
      100,
      20,
    );
  });

  it('keeps an established connection when its node is unticked later', async () => {
    const id = await createApi(t, { name: 'untick', path: '/untick', algorithm: 'round_robin' });
    const nodeId = await addNode(t, id, main);
    const { ws } = await open('/untick');
    expect((await t.admin('PATCH', `/admin/apis/${id}/nodes/${nodeId}`, { enabled: false })).status).toBe(200);
    ws.send('still there?');
    expect(await nextMessage(ws)).toBe('still there?');
    await expect(open('/untick')).rejects.toMatchObject({ status: 503 });
    ws.close();
  });

  it('tries another node when the connect fails, never after the upgrade was sent', async () => {
    const dead = await closedPort();
    const retry = await createApi(t, { name: 'retry-ws', path: '/retry-ws', algorithm: 'round_robin', retries: 1 });
    await addNode(t, retry, { name: 'dead', url: `http://127.0.0.1:${dead}` });
    await addNode(t, retry, other);
    for (let i = 0; i < 4; i++) expect((await open('/retry-ws')).hello).toBe('hello other');

    // A node that takes the request and drops the connection: the other node is not tried.
    const rude = createServer((socket) => socket.once('data', () => socket.destroy()));
    extra.push(rude);
    await new Promise<void>((r) => rude.listen(0, '127.0.0.1', () => r()));
    const noRetry = await createApi(t, {
      name: 'no-retry-ws',
      path: '/no-retry-ws',
      algorithm: 'round_robin',
      retries: 3,
    });
    await addNode(t, noRetry, { name: 'rude', url: `http://127.0.0.1:${(rude.address() as AddressInfo).port}` });
    await addNode(t, noRetry, canary);
    const before = canary.seen.length;
    const failures: string[] = [];
    for (let i = 0; i < 4; i++) {
      const got = await open('/no-retry-ws').then(
        (o) => o.hello,
        (e: { status?: number; headers?: Record<string, string> }) => `${e.status}:${e.headers?.['x-isogate-error']}`,
      );
      failures.push(got);
    }
    // Round robin alternates: the rude node's turns fail with UPSTREAM_ERROR, the canary's succeed.
    expect(failures.filter((f) => f === '502:UPSTREAM_ERROR')).toHaveLength(2);
    expect(failures.filter((f) => f === 'hello canary')).toHaveLength(2);
    expect(canary.seen.length - before).toBe(2);
  });
});
