/**
 * Slow clients against one API (real sockets on 127.0.0.1): clients that pipeline requests and never
 * read their answers do not hold the API's upstream connections, so another client of the same API
 * is served meanwhile; a client that stops reading an answer larger than the gateway buffers for it
 * is cut after the send timeout, and the node's request with it; so is one that trickles its reading.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { scrape } from '../helpers/metrics.js';
import { until } from '../helpers/processes.js';
import { get, openClients, RawClient } from '../helpers/raw-client.js';

const ANSWER = Buffer.alloc(64 * 1024, 'a');
const HUGE = Buffer.alloc(8 * 1024 * 1024, 'h');
/** Upstream connections per node: fewer than the slow readers. */
const CONNECTIONS = 2;

let t: TestGateway;
let port: number;
let server: Server;
/** Node-side connections that carried a /huge answer, and whether they closed. */
const huge: Array<{ closed: boolean }> = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/huge') {
      const entry = { closed: false };
      huge.push(entry);
      req.socket.on('close', () => (entry.closed = true));
      res.end(HUGE);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': ANSWER.length });
    res.end(ANSWER);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t = await startTestGateway([
    '--upstream-connections',
    String(CONNECTIONS),
    '--client-send-timeout-ms',
    '1000',
    '--upstream-wait-ms',
    '3000',
  ]);
  port = t.app.gateway!.port;
  const id = await createApi(t, { name: 's', path: '/*', algorithm: 'round_robin', retries: 0 });
  await addNode(t, id, { name: 'n', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});

afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets.length = 0;
  for (const c of [...openClients]) c.destroy();
});

afterAll(async () => {
  await t?.stop();
  server?.closeAllConnections();
  server?.close();
});

/** A client that sends `n` pipelined GETs of `path` and never reads: its socket is paused from the start. */
async function slowReader(path: string, n: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port });
  sockets.push(s);
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.pause();
  s.write(get(path).repeat(n));
  return s;
}

const metrics = () => scrape(`${t.statusUrl}/metrics`);

describe('clients that pipeline requests and never read the answers', () => {
  it('do not hold the upstream connections: another client of the same API is served meanwhile', async () => {
    // 6.4 MB of answers each: past what the kernel holds for a client that does not read (about 4 MB).
    for (let i = 0; i < 3 * CONNECTIONS; i++) await slowReader('/x', 100);
    // Every slow reader's connection is stalled, its last answer buffered (not its node paused).
    await until(metrics, (m) => m.sum('isogate_client_responses_buffered') === 3 * CONNECTIONS, 200, 25);
    const other = await RawClient.connect(port);
    for (let i = 0; i < 10; i++) {
      other.write(get('/x'));
      const [res] = await other.read(1, { timeoutMs: 2_500 });
      expect(res!.status).toBe(200);
      expect(res!.body.length).toBe(ANSWER.length);
    }
    expect((await metrics()).sum('isogate_upstream_waiting')).toBe(0);
    // Reading nothing for the send timeout, they are cut.
    const m = await until(metrics, (s) => s.sum('isogate_client_slow_readers_cut_total') >= 3 * CONNECTIONS, 200, 25);
    expect(m.sum('isogate_client_responses_buffered')).toBe(0);
  });
});

describe('a client that stops reading an answer larger than the gateway buffers for it', () => {
  it('is cut after the send timeout, and the node request is aborted instead of held', async () => {
    const before = (await metrics()).sum('isogate_client_slow_readers_cut_total');
    await slowReader('/huge', 1);
    // (The client itself does not see the close: it reads nothing.)
    await until(metrics, (m) => m.sum('isogate_client_slow_readers_cut_total') === before + 1, 200, 25);
    await until(
      async () => huge[0]?.closed ?? false,
      (c) => c,
      100,
      20,
    );
    // The node's connection is free again for others.
    const other = await RawClient.connect(port);
    other.write(get('/x'));
    expect((await other.read(1))[0]!.status).toBe(200);
  });
});

/**
 * Reads `bytes` from the paused socket every `everyMs` for `forMs`. (A cut is seen in the metrics:
 * the client would see the close only after reading all it was sent.)
 */
async function readSlowly(s: Socket, bytes: number, everyMs: number, forMs: number): Promise<void> {
  for (const end = Date.now() + forMs; Date.now() < end;) {
    await new Promise((r) => setTimeout(r, everyMs));
    if (s.read(bytes) === null) s.read();
  }
}

describe('a client that trickles its reading of a large answer', () => {
  it('is cut after the send timeout: reading a little now and then is not progress', async () => {
    const before = (await metrics()).sum('isogate_client_slow_readers_cut_total');
    const s = await slowReader('/huge', 1);
    await until(metrics, (m) => m.sum('isogate_client_responses_buffered') === 1, 100, 50);
    // 1 KiB every 250 ms: the kernel takes more of the answer only once the client has read about
    // half of what the gateway's socket buffer holds (megabytes on loopback), so the gateway sees no
    // progress and the send timeout runs out.
    await readSlowly(s, 1024, 250, 3_500);
    expect((await metrics()).sum('isogate_client_slow_readers_cut_total')).toBe(before + 1);
  });
});
