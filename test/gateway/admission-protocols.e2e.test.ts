/**
 * The admission limits (src/gateway/admission.ts) on what the plain HTTP/1.1 port is not: TLS
 * connections counted from accept (src/gateway/tls/listener.ts), HTTP/2 sessions as client
 * connections (src/gateway/h2/sessions.ts), and upgraded (WebSocket) connections as busy ones.
 * Real sockets on 127.0.0.1; every flood is a bounded number of connections.
 */
import { createServer, type Server } from 'node:http';
import type { ClientHttp2Session } from 'node:http2';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { EVICT_AFTER_IDLE_MS } from '../../src/gateway/admission.js';
import { TestCa, type TestCertificate } from '../helpers/certs.js';
import { addNode, createApi } from '../helpers/fixtures.js';
import { h2Request, h2Session } from '../helpers/h2-client.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { scrape } from '../helpers/metrics.js';
import { until } from '../helpers/processes.js';
import { expectErrorBody, get, openClients, RawClient } from '../helpers/raw-client.js';
import { httpsGet } from '../helpers/tls-client.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { startWsUpstream, type WsUpstream } from '../helpers/ws-upstreams.js';

const HOST = 'edge.test';
let ca: TestCa;
let cert: TestCertificate;
let ups: TestUpstream[];
let ws: WsUpstream;
/** A node that answers after 1.5 s, so a stream stays open meanwhile. */
let slow: Server;
const gateways: TestGateway[] = [];
const sockets = new Set<Socket>();
const sessions = new Set<ClientHttp2Session>();
const webSockets = new Set<WebSocket>();

beforeAll(async () => {
  ca = new TestCa();
  cert = ca.issue([HOST]);
  ups = await startUpstreams(['a']);
  ws = await startWsUpstream('ws');
  slow = createServer((_req, res) => setTimeout(() => res.end('slow'), 1_500));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
});

afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const s of sessions) s.destroy();
  sessions.clear();
  for (const w of webSockets) w.terminate();
  webSockets.clear();
  for (const c of [...openClients]) c.destroy();
});

afterAll(async () => {
  for (const t of gateways) await t.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  await ws?.close();
  slow?.closeAllConnections();
  slow?.close();
  ca?.dispose();
});

/** A gateway with a TLS port and its certificate, the APIs /a/* (fast), /slow and /ws, and its metrics. */
async function gateway(
  args: string[],
): Promise<{ t: TestGateway; port: number; tlsPort: number; metrics: () => ReturnType<typeof scrape> }> {
  const t = await startTestGateway(['--gateway-tls-port', '0', ...args]);
  gateways.push(t);
  expect(
    (await t.admin('POST', '/admin/certificates', { certificate: cert.certificate, privateKey: cert.privateKey }))
      .status,
  ).toBe(201);
  await addNode(t, await createApi(t, { name: 'a', path: '/a/*', algorithm: 'round_robin' }), ups[0]!);
  await addNode(t, await createApi(t, { name: 'slow', path: '/slow', algorithm: 'round_robin' }), {
    name: 'slow',
    url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`,
  });
  await addNode(t, await createApi(t, { name: 'ws', path: '/ws', algorithm: 'round_robin' }), {
    name: 'ws',
    url: ws.url,
  });
  return {
    t,
    port: t.app.gateway!.port,
    tlsPort: t.app.gatewayTls!.port,
    metrics: () => scrape(`${t.statusUrl}/metrics`),
  };
}

/** Opens `n` TCP connections to `port`, one after the other, each sending the first bytes of a TLS record and no more (a handshake that never ends). */
async function halfOpenHandshakes(port: number, n: number): Promise<Array<{ closed: () => boolean }>> {
  const out: Array<{ closed: () => boolean }> = [];
  for (let i = 0; i < n; i++) {
    const socket = connect({ host: '127.0.0.1', port });
    sockets.add(socket);
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => {});
    await new Promise<void>((resolve) => {
      socket.once('connect', () => resolve());
      socket.once('close', () => resolve());
    });
    // A handshake record announcing 512 bytes of ClientHello, of which none follow.
    if (!socket.destroyed) socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
    out.push({ closed: () => closed });
  }
  return out;
}

async function session(tlsPort: number): Promise<ClientHttp2Session> {
  const s = await h2Session(tlsPort, HOST, cert.ca);
  sessions.add(s);
  return s;
}

/** One GET on a fresh plain connection: the status and the gateway error code, if any. */
async function plainGet(port: number, path: string): Promise<{ status: number; code: string | undefined }> {
  const c = await RawClient.connect(port);
  c.write(get(path));
  const [res] = await c.read(1);
  c.destroy();
  return { status: res!.status, code: res!.headers['x-isogate-error'] };
}

const idleLongEnough = () => new Promise((r) => setTimeout(r, EVICT_AFTER_IDLE_MS + 50));

describe('TLS connections count from accept', () => {
  it('bounds a flood of half-open handshakes by the connection limit while another client is served, and the handshake timeout ends them', async () => {
    const { tlsPort, metrics } = await gateway([
      '--max-client-connections',
      '30',
      '--client-handshake-timeout-ms',
      '3000',
    ]);
    const flood = await halfOpenHandshakes(tlsPort, 90);
    // Never more than the limit open: the rest were refused at once or closed the oldest to make room.
    const m = await until(
      metrics,
      (s) => s.sum('isogate_client_connections') <= 30 && flood.filter((c) => !c.closed()).length <= 30,
    );
    expect(m.sum('isogate_client_connections')).toBeGreaterThan(0);
    expect(
      m.sum('isogate_client_refusals_total', { limit: 'connections' }) +
        m.sum('isogate_client_connections_evicted_total'),
    ).toBeGreaterThanOrEqual(60);
    // They are idle (nothing of a request read): a real client closes the oldest and is served.
    await idleLongEnough();
    const answer = await httpsGet(tlsPort, HOST, '/a/x', cert.ca);
    expect(answer.status).toBe(200);
    expect(answer.headers['x-node']).toBe('a');
    // The handshake timeout closes whatever of the flood is left.
    await until(
      async () => flood.every((c) => c.closed()),
      (done) => done,
      120,
      50,
    );
    await until(metrics, (s) => s.sum('isogate_client_connections') === 0);
  });

  it('shares one count with the plain port: a full TLS port refuses plain connections too', async () => {
    const { port, tlsPort, metrics } = await gateway(['--max-client-connections-per-ip', '20']);
    const flood = await halfOpenHandshakes(tlsPort, 20);
    await until(metrics, (s) => s.sum('isogate_client_connections') === 20);
    expect(await plainGet(port, '/a/x')).toEqual({ status: 429, code: 'CLIENT_CONNECTION_LIMIT' });
    expect(flood.filter((c) => c.closed())).toHaveLength(0);
    const m = await metrics();
    expect(m.sum('isogate_client_refusals_total', { limit: 'connections_per_ip' })).toBe(1);
  });
});

describe('HTTP/2 sessions are client connections', () => {
  it('are counted per address, and the session past the limit is refused until one closes', async () => {
    const { port, tlsPort, metrics } = await gateway(['--max-client-connections-per-ip', '3']);
    const open = [await session(tlsPort), await session(tlsPort), await session(tlsPort)];
    for (const s of open) expect((await h2Request(s, { ':path': '/a/x' })).status).toBe(200);
    await until(
      metrics,
      (m) => m.sum('isogate_client_connections') === 3 && m.sum('isogate_client_connections_idle') === 3,
    );
    await expect(session(tlsPort)).rejects.toThrow();
    // The same count holds on the plain port.
    expect(await plainGet(port, '/a/x')).toEqual({ status: 429, code: 'CLIENT_CONNECTION_LIMIT' });
    expect((await metrics()).sum('isogate_client_refusals_total', { limit: 'connections_per_ip' })).toBe(2);
    open[0]!.destroy();
    await until(metrics, (m) => m.sum('isogate_client_connections') === 2);
    const again = await session(tlsPort);
    expect((await h2Request(again, { ':path': '/a/y' })).status).toBe(200);
  });

  it('are closed as idle to make room when the process is at its limit, but not while a stream is open', async () => {
    const { tlsPort, metrics } = await gateway(['--max-client-connections', '2']);
    const idle = await session(tlsPort);
    let idleClosed = false;
    idle.on('close', () => (idleClosed = true));
    idle.on('error', () => {});
    const busy = await session(tlsPort);
    const pending = h2Request(busy, { ':path': '/slow' });
    await until(
      metrics,
      (m) => m.sum('isogate_client_connections') === 2 && m.sum('isogate_client_connections_idle') === 1,
    );
    await idleLongEnough();
    // A new client: the idle session makes room (GOAWAY, then closed); the one with a stream open is kept.
    const answer = await httpsGet(tlsPort, HOST, '/a/x', cert.ca);
    expect(answer.status).toBe(200);
    await until(
      async () => idleClosed,
      (closed) => closed,
      100,
      50,
    );
    expect((await pending).status).toBe(200);
    expect(busy.closed || busy.destroyed).toBe(false);
    expect((await metrics()).sum('isogate_client_connections_evicted_total')).toBe(1);
  });
});

describe('upgraded connections', () => {
  it('count as busy connections: never closed to make room, refused past the limit until the WebSocket closes', async () => {
    // Two places: the WebSocket's client connection, and its own connection to the node.
    const { port, metrics } = await gateway(['--max-client-connections', '2']);
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    webSockets.add(socket);
    const hello = await new Promise<string>((resolve, reject) => {
      socket.once('message', (data) => resolve(String(data)));
      socket.once('error', reject);
    });
    expect(hello).toBe('hello ws');
    await until(
      metrics,
      (m) => m.sum('isogate_client_connections') === 1 && m.sum('isogate_client_connections_idle') === 0,
    );
    await idleLongEnough();
    const c = await RawClient.connect(port);
    c.write(get('/a/x'));
    const [refused] = await c.read(1);
    expectErrorBody(refused!, 'TOO_MANY_CONNECTIONS');
    // The tunnel is untouched.
    const echo = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    socket.send('still here');
    expect(await echo).toBe('still here');
    socket.close();
    await until(metrics, (m) => m.sum('isogate_client_connections') === 0);
    expect(await plainGet(port, '/a/x')).toEqual({ status: 200, code: undefined });
  });
});
