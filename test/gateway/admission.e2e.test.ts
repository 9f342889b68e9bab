/**
 * The gateway port's admission limits through real sockets on 127.0.0.1 (src/gateway/admission.ts):
 * the per-process connection limit (idle connections closed oldest first, then TOO_MANY_CONNECTIONS),
 * the per-address limit (CLIENT_CONNECTION_LIMIT; peers in --trust-proxy exempt) and the memory of
 * unfinished request heads (HEAD_MEMORY_FULL). Each flood is a few hundred connections, bounded.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EVICT_AFTER_IDLE_MS } from '../../src/gateway/admission.js';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { scrape } from '../helpers/metrics.js';
import { until } from '../helpers/processes.js';
import { expectErrorBody, get, openClients, RawClient } from '../helpers/raw-client.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

/** Sockets a test opened itself (destroyed after each test). */
const sockets = new Set<Socket>();

/** Opens `n` connections one after the other (so the server sees them in this order); each resolves once connected. */
async function openIdle(port: number, n: number): Promise<Array<{ socket: Socket; closed: () => boolean }>> {
  const out: Array<{ socket: Socket; closed: () => boolean }> = [];
  for (let i = 0; i < n; i++) {
    const socket = connect({ host: '127.0.0.1', port });
    sockets.add(socket);
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    out.push({ socket, closed: () => closed });
  }
  return out;
}

/** One GET on a fresh connection (left open with `keep`): the status and the gateway error code, if any. */
async function getOnce(
  port: number,
  path: string,
  keep = false,
): Promise<{ status: number; code: string | undefined }> {
  const c = await RawClient.connect(port);
  c.write(get(path));
  const [res] = await c.read(1);
  if (!keep) c.destroy();
  return { status: res!.status, code: res!.headers['x-isogate-error'] };
}

let ups: TestUpstream[];
const gateways: TestGateway[] = [];

async function gateway(
  args: string[],
): Promise<{ t: TestGateway; port: number; metrics: () => ReturnType<typeof scrape> }> {
  const t = await startTestGateway(args);
  gateways.push(t);
  const id = await createApi(t, { name: 'a', path: '/a/*', algorithm: 'round_robin' });
  await addNode(t, id, ups[0]!);
  return { t, port: t.app.gateway!.port, metrics: () => scrape(`${t.statusUrl}/metrics`) };
}

beforeAll(async () => {
  ups = await startUpstreams(['a']);
});

afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const c of [...openClients]) c.destroy();
});

afterAll(async () => {
  for (const t of gateways) await t.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

describe('the per-process connection limit', () => {
  it('closes idle connections oldest first to make room, so new clients are served', async () => {
    const { port, metrics } = await gateway(['--max-client-connections', '200']);
    const idle = await openIdle(port, 200);
    await until(metrics, (m) => m.sum('isogate_client_connections') === 200);
    // Idle long enough to be closed for room (a just-opened one is given EVICT_AFTER_IDLE_MS to send).
    await new Promise((r) => setTimeout(r, EVICT_AFTER_IDLE_MS + 50));
    // Each new connection (kept open, idle again once answered, and the newest) closes the oldest idle one.
    for (let i = 0; i < 30; i++) expect(await getOnce(port, '/a/x', true)).toEqual({ status: 200, code: undefined });
    await until(
      async () => idle.slice(0, 30).every((c) => c.closed()),
      (ok) => ok,
      100,
      20,
    );
    expect(idle.slice(30).filter((c) => c.closed())).toHaveLength(0);
    const m = await metrics();
    expect(m.sum('isogate_client_connections_evicted_total')).toBe(30);
    expect(m.sum('isogate_client_connections')).toBe(200);
  });

  it('refuses a new connection with TOO_MANY_CONNECTIONS when none is idle, and admits again once one closes', async () => {
    const { port, metrics } = await gateway(['--max-client-connections', '100']);
    // Busy connections (a request head in progress) are never closed to make room.
    const busy = await openIdle(port, 100);
    for (const { socket } of busy) socket.write('GET /a/x HTTP/1.1\r\nHost: h\r\n');
    await until(
      metrics,
      (m) => m.sum('isogate_client_connections_idle') === 0 && m.sum('isogate_client_connections') === 100,
    );
    const c = await RawClient.connect(port);
    c.write(get('/a/x'));
    const [res] = await c.read(1);
    expectErrorBody(res!, 'TOO_MANY_CONNECTIONS');
    expect(await c.waitClosed()).toBe(true);
    const m = await metrics();
    expect(m.sum('isogate_client_refusals_total', { limit: 'connections' })).toBe(1);
    expect(m.sum('isogate_gateway_errors_total', { code: 'TOO_MANY_CONNECTIONS' })).toBe(1);
    busy[0]!.socket.destroy();
    await until(metrics, (m2) => m2.sum('isogate_client_connections') === 99);
    expect(await getOnce(port, '/a/x')).toEqual({ status: 200, code: undefined });
  });
});

describe('the per-address connection limit', () => {
  it('refuses the connection past the limit with CLIENT_CONNECTION_LIMIT (429)', async () => {
    const { port, metrics } = await gateway(['--max-client-connections-per-ip', '50']);
    await openIdle(port, 50);
    await until(metrics, (m) => m.sum('isogate_client_connections') === 50);
    expect(await getOnce(port, '/a/x')).toEqual({ status: 429, code: 'CLIENT_CONNECTION_LIMIT' });
    expect((await metrics()).sum('isogate_client_refusals_total', { limit: 'connections_per_ip' })).toBe(1);
  });

  it('does not limit a peer in --trust-proxy (a proxy carries many clients)', async () => {
    const { port, metrics } = await gateway(['--max-client-connections-per-ip', '50', '--trust-proxy', '127.0.0.1']);
    await openIdle(port, 60);
    await until(metrics, (m) => m.sum('isogate_client_connections') === 60);
    expect(await getOnce(port, '/a/x')).toEqual({ status: 200, code: undefined });
  });
});

describe('the memory of unfinished request heads', () => {
  it('is bounded in total (HEAD_MEMORY_FULL past it) and per connection (never past the 16 KiB head limit)', async () => {
    const { port, metrics } = await gateway(['--client-head-memory-mb', '1']);
    // Slowloris: 12 KiB of a head, never finished.
    const partial = `GET /a/x HTTP/1.1\r\nHost: h\r\nX-Pad: ${'p'.repeat(12 * 1024)}`;
    const clients: RawClient[] = [];
    for (let i = 0; i < 100; i++) {
      const c = await RawClient.connect(port);
      c.write(partial);
      clients.push(c);
    }
    await until(
      metrics,
      (m) =>
        m.sum('isogate_client_refusals_total', { limit: 'head_memory' }) +
          Math.floor(m.sum('isogate_client_head_memory_bytes') / 16_384) >=
        100,
    );
    const m = await metrics();
    const held = m.sum('isogate_client_head_memory_bytes');
    expect(held).toBeLessThanOrEqual(1024 * 1024);
    expect(held / 16_384).toBeGreaterThanOrEqual(60); // a head buffer is at most 16 KiB
    const refused = m.sum('isogate_client_refusals_total', { limit: 'head_memory' });
    expect(refused).toBe(100 - held / 16_384);
    expect(m.sum('isogate_gateway_errors_total', { code: 'HEAD_MEMORY_FULL' })).toBe(refused);
    // The refused ones were answered 503 HEAD_MEMORY_FULL and closed.
    const answers = await Promise.all(
      clients.map((c) => c.waitClosed(200).then((closed) => (closed ? c.received : null))),
    );
    const closed = answers.filter((a): a is string => a !== null);
    expect(closed).toHaveLength(refused);
    for (const text of closed)
      expect(text).toMatch(/^HTTP\/1\.1 503 [^\r]*\r\n[\s\S]*x-isogate-error: HEAD_MEMORY_FULL\r\n/);
    for (const c of clients) c.destroy();
    await until(
      metrics,
      (m2) => m2.sum('isogate_client_head_memory_bytes') === 0 && m2.sum('isogate_client_connections') === 0,
    );
    expect(await getOnce(port, '/a/x')).toEqual({ status: 200, code: undefined });
  });
});
