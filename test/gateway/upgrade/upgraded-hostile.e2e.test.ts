import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { IsogateProcesses, type IsogateProcess } from '../../helpers/cluster.js';
import { addNode, createApi } from '../../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';
import { parseMetrics, scrape } from '../../helpers/metrics.js';
import { adminClient, until } from '../../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../../helpers/upstreams.js';
import { startWsUpstream, type WsUpstream } from '../../helpers/ws-upstreams.js';

// Upgraded connections (WebSockets, any `Upgrade`) as an attacker and a bad night in production see
// them: raw sockets on both sides of a real gateway (in this process, and as its own process from
// dist/ where its memory, its open-file limit and SIGTERM are measured). Every wait and every flood is
// bounded in bytes and time. `Fixed (was):` marks what failed before the fix next to it.

const servers: Server[] = [];
const sockets: Socket[] = [];
const webSockets: WebSocket[] = [];
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(() => {
  for (const s of sockets) s.destroy();
  for (const w of webSockets) w.terminate();
  for (const s of servers) s.close();
});

const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: raw\r\n\r\n';
/** A plain answer; the raw nodes read one request per connection, so none is kept alive. */
const PLAIN = 'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 5\r\n\r\nplain';
const upgradeReq = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nhost: gw\r\nconnection: upgrade\r\nupgrade: raw\r\n${extra}\r\n`;
/** At most this much of what a peer reads is kept as text (the rest is only counted). */
const KEEP = 64 * 1024;

/** What a raw node saw of one connection. */
interface NodeConn {
  socket: Socket;
  head: string;
  /** Bytes after the head (the first KEEP kept as text). */
  text: string;
  bytes: number;
  ended: boolean;
  closed: boolean;
}

/**
 * A raw TCP node: reads a request head, then hands the connection to `onHead`; what follows is
 * counted. It half-closes as the gateway does (allowHalfOpen, then ends its side a moment later), so a
 * FIN it gets is seen as a FIN.
 */
async function rawNode(onHead: (c: NodeConn) => void): Promise<{ url: string; conns: NodeConn[] }> {
  const conns: NodeConn[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let conn: NodeConn | null = null;
    const take = (chunk: Buffer) => {
      conn!.bytes += chunk.length;
      if (conn!.text.length < KEEP) conn!.text += chunk.toString('latin1', 0, KEEP - conn!.text.length);
    };
    socket.on('data', (chunk: Buffer) => {
      if (conn !== null) return take(chunk);
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      conn = { socket, head: buf.toString('latin1', 0, end), text: '', bytes: 0, ended: false, closed: false };
      conns.push(conn);
      const c = conn;
      socket.on('end', () => {
        c.ended = true;
        setTimeout(() => socket.end(), 20);
      });
      socket.on('close', () => (c.closed = true));
      if (buf.length > end + 4) take(buf.subarray(end + 4));
      onHead(c);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, conns };
}

interface RawClient {
  socket: Socket;
  text: () => string;
  bytes: () => number;
  ended: () => boolean;
  closed: () => boolean;
}

/** The gateway ended or cut the client's connection. */
const gone = (cl: RawClient) => cl.ended() || cl.closed();

/** A raw client of `port` collecting what it reads (the first KEEP bytes as text). */
function rawClient(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    sockets.push(socket);
    let text = '';
    let n = 0;
    let ended = false;
    let closed = false;
    socket.on('data', (c: Buffer) => {
      n += c.length;
      if (text.length < KEEP) text += c.toString('latin1', 0, KEEP - text.length);
    });
    socket.on('end', () => (ended = true));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.once('connect', () =>
      resolve({ socket, text: () => text, bytes: () => n, ended: () => ended, closed: () => closed }),
    );
    socket.once('error', reject);
  });
}

/** Waits (bounded) until `check` holds. */
const eventually = (check: () => boolean, tries = 100, intervalMs = 30) =>
  until(
    async () => check(),
    (ok) => ok,
    tries,
    intervalMs,
  );

/**
 * Writes up to `max` bytes in 64 KiB chunks with backpressure, for 10 s at most; `stalled` when it
 * stopped because its peer took nothing more for a second (backpressure reached the sender).
 */
async function pump(socket: Socket, max: number): Promise<{ taken: number; stalled: boolean }> {
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  let n = 0;
  const deadline = Date.now() + 10_000;
  while (n < max && !socket.destroyed && Date.now() < deadline) {
    n += chunk.length;
    if (socket.write(chunk)) continue;
    const drained = await Promise.race([
      new Promise<boolean>((r) => socket.once('drain', () => r(true))),
      wait(1_000).then(() => false),
    ]);
    if (!drained) return { taken: n - socket.writableLength, stalled: true };
  }
  return { taken: n - socket.writableLength, stalled: false };
}

describe('upgraded connections through one gateway', () => {
  let t: TestGateway;
  let port: number;
  let seq = 0;

  beforeAll(async () => {
    t = await startTestGateway();
    port = t.app.gateway!.port;
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  async function apiFor(url: string, extra: Record<string, unknown> = {}): Promise<{ id: string; path: string }> {
    const name = `uh${++seq}`;
    const id = await createApi(t, { name, path: `/${name}/*`, algorithm: 'round_robin', ...extra });
    await addNode(t, id, { name: `${name}-node`, url });
    return { id, path: `/${name}` };
  }

  const upgraded = async (api: string) =>
    (await scrape(`${t.statusUrl}/metrics`)).sum('isogate_upgraded_connections', { api });

  it('hands a real ws client the frame its node wrote in the same packet as the 101', async () => {
    const node = await rawNode((c) => {
      const key = /sec-websocket-key: *([^\r]+)/i.exec(c.head)![1]!;
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      const frame = Buffer.from([0x81, 5, ...Buffer.from('early')]);
      c.socket.write(
        Buffer.concat([
          Buffer.from(
            `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: ${accept}\r\n\r\n`,
          ),
          frame,
        ]),
      );
    });
    const { path } = await apiFor(node.url);
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}/chat`);
    webSockets.push(ws);
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.once('error', reject);
    });
    expect(first).toBe('early');
    ws.terminate();
  });

  it('answers 502 to a 101 a node sends to a request that did not ask to switch, passes none of its bytes, and never reuses that connection', async () => {
    const node = await rawNode((c) => {
      if (/^GET \S*\/rogue /.test(c.head)) c.socket.write(SWITCH + 'GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n');
      else c.socket.write(PLAIN);
    });
    const { path } = await apiFor(node.url);
    const cl = await rawClient(port);
    cl.socket.write(`GET ${path}/rogue HTTP/1.1\r\nhost: gw\r\n\r\n`);
    await eventually(() => cl.text().includes('}\n'));
    expect(cl.text()).toMatch(/^HTTP\/1\.1 502 [^]*x-isogate-error: UPSTREAM_ERROR/);
    expect(cl.text()).not.toContain('smuggled');
    expect(cl.text()).not.toContain(' 101 ');
    // The client's connection goes on; the node's next request comes on a new connection.
    cl.socket.write(`GET ${path}/next HTTP/1.1\r\nhost: gw\r\n\r\n`);
    await eventually(() => cl.text().endsWith('plain'));
    expect(node.conns).toHaveLength(2);
    expect(node.conns[1]!.head).toMatch(/^GET \/uh\d+\/next /);
    await eventually(() => node.conns[0]!.ended);
    expect(await upgraded(path.slice(1))).toBe(0);
  });

  it('holds 1 MiB the client pipelines behind its upgrade head until the late 101, then hands all of it to the node in order', async () => {
    const sent = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 7 + (i >> 16)) & 0xff;
    let beforeSwitch = -1;
    const got: Buffer[] = [];
    const node = await rawNode((c) => {
      c.socket.on('data', (d: Buffer) => got.push(d));
      setTimeout(() => {
        beforeSwitch = c.bytes;
        c.socket.write(SWITCH);
      }, 300);
    });
    const { path } = await apiFor(node.url);
    const cl = await rawClient(port);
    cl.socket.write(upgradeReq(`${path}/a`));
    cl.socket.write(sent);
    await eventually(() => (node.conns[0]?.bytes ?? 0) >= sent.length, 200);
    // Nothing of it went to the node before its 101: it might have been read as a request.
    expect(beforeSwitch).toBe(0);
    expect(Buffer.compare(Buffer.concat(got), sent)).toBe(0);
    expect(cl.text()).toMatch(/^HTTP\/1\.1 101 /);
    cl.socket.destroy();
  });

  it('after a refused upgrade (426, keep-alive) serves the client’s next request on its connection; the node’s connection is closed, never pooled', async () => {
    const node = await rawNode((c) => {
      if (/\r\nupgrade:/i.test(c.head))
        c.socket.write('HTTP/1.1 426 Upgrade Required\r\nconnection: keep-alive\r\ncontent-length: 4\r\n\r\nnope');
      else c.socket.write(PLAIN);
    });
    const { path } = await apiFor(node.url);
    const cl = await rawClient(port);
    cl.socket.write(upgradeReq(`${path}/a`));
    await eventually(() => cl.text().endsWith('nope'));
    expect(cl.text()).toMatch(/^HTTP\/1\.1 426 [^]*connection: keep-alive/);
    await eventually(() => node.conns[0]!.ended);
    cl.socket.write(`GET ${path}/b HTTP/1.1\r\nhost: gw\r\n\r\n`);
    await eventually(() => cl.text().endsWith('plain'));
    expect(node.conns).toHaveLength(2);
    expect(node.conns[0]!.bytes).toBe(0);
    expect(cl.closed()).toBe(false);
    cl.socket.destroy();
  });

  it('switches only when Connection names `upgrade` as a token and Upgrade names a protocol (never h2c); the others go on as plain requests', async () => {
    // The node switches whatever it is asked to switch to: only the gateway decides.
    const node = await rawNode((c) => {
      if (/\r\nupgrade:/i.test(c.head)) c.socket.write(SWITCH + 'UP');
      else c.socket.write(PLAIN);
    });
    const { path } = await apiFor(node.url);
    const ask = async (headers: string): Promise<{ answer: string; head: string }> => {
      const cl = await rawClient(port);
      const before = node.conns.length;
      cl.socket.write(`GET ${path}/x HTTP/1.1\r\nhost: gw\r\n${headers}\r\n`);
      await eventually(() => /\r\n\r\n(UP|plain)$/.test(cl.text()));
      cl.socket.destroy();
      return { answer: cl.text().slice(0, 12), head: node.conns[before]!.head.toLowerCase() };
    };
    for (const switching of [
      'Connection: Keep-Alive,\tUpGrAdE\r\nUpgrade: raw\r\n',
      'Connection: close, upgrade\r\nUpgrade: raw\r\n',
      'Connection: upgrade\r\nUpgrade: raw\r\ncontent-length: 0\r\n',
    ])
      expect((await ask(switching)).answer, switching).toBe('HTTP/1.1 101');
    for (const plain of [
      'Connection: upgraded\r\nUpgrade: raw\r\n',
      'Connection: x-upgrade, keep-alive\r\nUpgrade: raw\r\n',
      // Fixed (was): an empty Upgrade (or one of commas only) made an upgrade request to no protocol,
      // sent to the node as `upgrade: ` with `connection: upgrade`, and a 101 to it was tunnelled.
      'Connection: upgrade\r\nUpgrade: \r\n',
      'Connection: upgrade\r\nUpgrade: ,\r\n',
      // h2c is never followed, also when Connection leaves HTTP2-Settings out.
      'Connection: upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n',
      'Connection: upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n',
    ]) {
      const { answer, head } = await ask(plain);
      expect(answer, plain).toBe('HTTP/1.1 200');
      expect(head, plain).not.toMatch(/\r\nupgrade:/);
      expect(head, plain).not.toMatch(/\r\nconnection:[^\r]*upgrade/);
    }
  });

  it('drops a Content-Length from the node’s 101 (no 1xx may carry one)', async () => {
    const node = await rawNode((c) =>
      c.socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: raw\r\ncontent-length: 3\r\n\r\nUP!',
      ),
    );
    const { path } = await apiFor(node.url);
    const cl = await rawClient(port);
    cl.socket.write(upgradeReq(`${path}/a`));
    await eventually(() => cl.text().endsWith('\r\n\r\nUP!'));
    // Fixed (was): the node's `content-length: 3` went out in the gateway's 101, which a client may
    // take for a body the 101 does not have.
    expect(cl.text().split('\r\n\r\n')[0]!.toLowerCase()).not.toContain('content-length');
    cl.socket.destroy();
  });

  it('keeps a tunnel with traffic one way only past its idle timeout (either way), and closes it once that stops', async () => {
    const node = await rawNode((c) => {
      c.socket.write(SWITCH);
      if (c.head.includes('/down')) {
        const tick = setInterval(() => (c.socket.destroyed ? clearInterval(tick) : c.socket.write('d')), 200);
        c.socket.once('data', () => clearInterval(tick)); // the client's word stops it
      }
    });
    const { path } = await apiFor(node.url, { timeouts: { upgradeIdleMs: 1_000 } });
    const up = await rawClient(port);
    up.socket.write(upgradeReq(`${path}/up`));
    const down = await rawClient(port);
    down.socket.write(upgradeReq(`${path}/down`));
    await eventually(() => up.text().includes('\r\n\r\n') && down.text().includes('\r\n\r\n'));
    const tick = setInterval(() => up.socket.write('u'), 200);
    await wait(2_600);
    clearInterval(tick);
    expect([gone(up), gone(down)]).toEqual([false, false]);
    expect(node.conns[0]!.bytes).toBeGreaterThan(5);
    expect(down.bytes() - down.text().indexOf('\r\n\r\n') - 4).toBeGreaterThan(5);
    expect(await upgraded(path.slice(1))).toBe(2);
    down.socket.write('stop');
    // Silent both ways now: closed within the idle timeout and the sweep after it.
    await eventually(() => gone(up) && gone(down), 150, 30);
    await until(
      () => upgraded(path.slice(1)),
      (n) => n === 0,
      50,
      50,
    );
  });

  it('hands a slow reader every byte its peer sent before closing, then the FIN, either way', async () => {
    const SIZE = 3 * 1024 * 1024;
    const payload = Buffer.alloc(SIZE, 0x61);
    /** Reads in small sips: a pause after every chunk, so the gateway always has bytes queued for this side. */
    const sip = (socket: Socket) =>
      socket.on('data', () => {
        socket.pause();
        setTimeout(() => socket.resume(), 2);
      });
    const node = await rawNode((c) => {
      c.socket.write(SWITCH);
      if (c.head.includes('/node-talks')) c.socket.end(payload);
      else sip(c.socket);
    });
    const { path } = await apiFor(node.url);

    // Client → node: the client writes it all and closes at once; the node reads slowly.
    const up = await rawClient(port);
    up.socket.write(upgradeReq(`${path}/client-talks`));
    await eventually(() => up.text().includes('\r\n\r\n'));
    up.socket.end(payload);
    const toNode = node.conns.at(-1)!;
    await eventually(() => toNode.ended || toNode.closed, 400, 50);
    expect(toNode.bytes).toBe(SIZE);
    expect(toNode.ended).toBe(true);

    // Node → client: the node writes it all and closes at once; the client reads slowly.
    const down = await rawClient(port);
    sip(down.socket);
    down.socket.write(upgradeReq(`${path}/node-talks`));
    await eventually(() => down.ended() || down.closed(), 400, 50);
    const head = down.text().indexOf('\r\n\r\n') + 4;
    expect(down.bytes() - head).toBe(SIZE);
    expect(down.ended()).toBe(true);
    await until(
      () => upgraded(path.slice(1)),
      (n) => n === 0,
      50,
      50,
    );
  });

  it('forwards an upgrade’s headers as any request’s: X-Forwarded-* the gateway’s, hop-by-hop ones dropped, and X-Consumer-* a client wrote dropped on an API with auth', async () => {
    const node = await rawNode((c) => c.socket.write(SWITCH));
    const consumer = await t.admin('POST', '/admin/consumers', { name: 'ws-user', credentials: [{ kind: 'key' }] });
    expect(consumer.status).toBe(201);
    const key = consumer.body.credentials[0].secret as string;
    const { path } = await apiFor(node.url, { access: { auth: { methods: [{ kind: 'key', header: 'x-api-key' }] } } });
    const cl = await rawClient(port);
    cl.socket.write(
      upgradeReq(
        `${path}/a`,
        `x-api-key: ${key}\r\nX-Consumer-Username: admin\r\nX-Consumer-ID: 00000000-0000-0000-0000-000000000000\r\n` +
          'x-credential-identifier: admin\r\nx-anonymous-consumer: false\r\n' +
          'X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n' +
          'Proxy-Authorization: Basic eDp5\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Hop: secret\r\n' +
          'Connection: x-hop\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
      ),
    );
    await eventually(() => cl.text().includes('\r\n\r\n'));
    expect(cl.text()).toMatch(/^HTTP\/1\.1 101 /);
    const lines = node.conns[0]!.head.split('\r\n').slice(1);
    const header = (name: string) =>
      lines.filter((l) => l.toLowerCase().startsWith(`${name}:`)).map((l) => l.slice(name.length + 1).trim());
    expect(header('connection')).toEqual(['upgrade']);
    expect(header('upgrade')).toEqual(['raw']);
    expect(header('x-forwarded-for')).toEqual(['203.0.113.9, 127.0.0.1']);
    expect(header('x-forwarded-proto')).toEqual(['http']);
    expect(header('x-forwarded-host')).toEqual(['gw']);
    expect(header('x-consumer-username')).toEqual(['ws-user']);
    expect(header('x-consumer-id')).toEqual([consumer.body.id]);
    expect(header('x-credential-identifier')).toEqual([]);
    expect(header('x-anonymous-consumer')).toEqual([]);
    expect(header('x-api-key')).toEqual([]);
    for (const hop of ['proxy-authorization', 'keep-alive', 'te', 'x-hop']) expect(header(hop), hop).toEqual([]);
    expect(header('sec-websocket-key')).toEqual(['dGhlIHNhbXBsZSBub25jZQ==']);
    cl.socket.destroy();
  });

  it('keeps the established tunnels of a node deleted from the config, and counts them down to 0 as they close', async () => {
    const node = await rawNode((c) => {
      c.socket.write(SWITCH);
      c.socket.on('data', (d: Buffer) => c.socket.write(d));
    });
    const { id, path } = await apiFor(node.url);
    const cl = await rawClient(port);
    cl.socket.write(upgradeReq(`${path}/a`));
    await eventually(() => cl.text().includes('\r\n\r\n'));
    const nodeId = Object.keys((await t.admin('GET', `/admin/apis/${id}/stats`)).body.nodes)[0]!;
    expect((await t.admin('DELETE', `/admin/apis/${id}/nodes/${nodeId}`)).status).toBe(204);
    // New requests see the config without it at once.
    await until(
      async () => (await t.get(`${path}/b`)).status,
      (s) => s === 503,
      40,
      50,
    );
    cl.socket.write('still-there');
    await eventually(() => cl.text().endsWith('still-there'));
    expect(await upgraded(path.slice(1))).toBe(1);
    cl.socket.destroy();
    await until(
      () => upgraded(path.slice(1)),
      (n) => n === 0,
      50,
      50,
    );
  });
});

describe('abrupt ends in every phase, on a gateway of 3 connection places', () => {
  let g: TestGateway;
  let port: number;
  let a: Awaited<ReturnType<typeof rawNode>>;
  let b: Awaited<ReturnType<typeof rawNode>>;

  /** Both nodes behave alike, by path; least_conn picks between them. */
  const behave = (name: string) => (c: NodeConn) => {
    const s = c.socket;
    const path = /^GET (\S+)/.exec(c.head)![1]!;
    if (path === '/ph/plain')
      s.write(`HTTP/1.1 200 OK\r\nx-node: ${name}\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok`);
    else if (path === '/ph/late') setTimeout(() => !s.destroyed && s.write(SWITCH + 'LATE'), 200);
    else if (path === '/ph/switch') {
      s.write(SWITCH);
      s.on('data', (d: Buffer) => !s.destroyed && s.write(d));
    } else if (path === '/ph/switch-reset') {
      s.write(SWITCH + 'BYE');
      setTimeout(() => s.resetAndDestroy(), 100);
    } else if (path === '/ph/reset') s.resetAndDestroy();
    else if (path === '/ph/refuse-cut') {
      s.write('HTTP/1.1 403 Forbidden\r\ncontent-length: 100000\r\n\r\n0123456789');
      setTimeout(() => s.resetAndDestroy(), 100);
    } // '/ph/hold': never answers
  };

  beforeAll(async () => {
    g = await startTestGateway(['--max-client-connections', '3']);
    port = g.app.gateway!.port;
    a = await rawNode(behave('a'));
    b = await rawNode(behave('b'));
    const id = await createApi(g, {
      name: 'ph',
      path: '/ph/*',
      algorithm: 'least_conn',
      timeouts: { headersMs: 300 },
    });
    await addNode(g, id, { name: 'a', url: a.url });
    await addNode(g, id, { name: 'b', url: b.url });
  }, 60_000);
  afterAll(async () => {
    await g?.stop();
  });

  const metrics = () => scrape(`${g.statusUrl}/metrics`);
  const nodeConns = () => [...a.conns, ...b.conns];

  /** Runs one phase on a new client; done once the gateway has ended its connection, or answered (`answered`). */
  async function phase(run: (cl: RawClient) => Promise<void>, answered = false): Promise<string> {
    const cl = await rawClient(port);
    await run(cl);
    await eventually(() => gone(cl) || (answered && cl.text().endsWith('}\n')), 100);
    cl.socket.destroy();
    return cl.text();
  }
  const headSeen = (n: number) => eventually(() => nodeConns().length >= n);

  it('counts open upgraded connections back to 0, and leaks no in-flight count nor connection place', async () => {
    // The client resets in the middle of its head.
    await phase(async (cl) => {
      cl.socket.write('GET /ph/plain HTTP/1.1\r\nhost: gw\r\nconnec');
      await wait(50);
      cl.socket.destroy();
    });
    // ... while its node has the request and has not answered.
    await phase(async (cl) => {
      const n = nodeConns().length;
      cl.socket.write(upgradeReq('/ph/hold'));
      await headSeen(n + 1);
      cl.socket.destroy();
    });
    // The node never answers: 504 UPSTREAM_TIMEOUT.
    const timedOut = await phase(async (cl) => {
      cl.socket.write(upgradeReq('/ph/hold'));
    }, true);
    expect(timedOut).toMatch(/^HTTP\/1\.1 504 [^]*x-isogate-error: UPSTREAM_TIMEOUT/);
    // The client resets as the 101 reaches it.
    await phase(async (cl) => {
      cl.socket.once('data', () => cl.socket.destroy());
      cl.socket.write(upgradeReq('/ph/late'));
      await eventually(() => cl.socket.destroyed, 100);
    });
    // The client resets an established tunnel with bytes in flight both ways.
    await phase(async (cl) => {
      cl.socket.write(upgradeReq('/ph/switch'));
      await eventually(() => cl.text().includes('\r\n\r\n'));
      cl.socket.write(Buffer.alloc(256 * 1024, 0x63));
      cl.socket.resetAndDestroy();
    });
    // The client half-closes an established tunnel.
    await phase(async (cl) => {
      cl.socket.write(upgradeReq('/ph/switch'));
      await eventually(() => cl.text().includes('\r\n\r\n'));
      cl.socket.end('last');
    });
    // The node resets an established tunnel.
    const reset = await phase(async (cl) => {
      cl.socket.write(upgradeReq('/ph/switch-reset'));
    });
    expect(reset).toMatch(/^HTTP\/1\.1 101 [^]*\r\n\r\nBYE$/);
    // The node resets before answering: 502.
    const dropped = await phase(async (cl) => {
      cl.socket.write(upgradeReq('/ph/reset'));
    }, true);
    expect(dropped).toMatch(/^HTTP\/1\.1 502 [^]*x-isogate-error: UPSTREAM_ERROR/);
    // The node resets in the middle of its refusal's body: the client's connection is cut.
    const cut = await phase(async (cl) => {
      cl.socket.write(upgradeReq('/ph/refuse-cut'));
    });
    expect(cut).toMatch(/^HTTP\/1\.1 403 [^]*\r\n\r\n0123456789$/);

    await eventually(() => nodeConns().every((c) => c.closed), 100);
    const m = await until(metrics, (s) => s.sum('isogate_client_connections') === 0, 50, 50);
    expect(m.sum('isogate_upgraded_connections')).toBe(0);
    // No in-flight count left on a node: least_conn still rotates between the two.
    const answered = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const text = await phase(async (cl) => {
        cl.socket.write('GET /ph/plain HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n');
      });
      answered.add(/\r\nx-node: (\w+)/.exec(text)?.[1] ?? text.slice(0, 12));
    }
    expect([...answered].sort()).toEqual(['a', 'b']);
  });

  it('gives a tunnel two of the connection places (its client’s and its node’s); an upgrade with no place left is 503 TOO_MANY_CONNECTIONS before any node is asked', async () => {
    await until(metrics, (s) => s.sum('isogate_client_connections') === 0, 50, 50);
    const tunnel = await rawClient(port);
    tunnel.socket.write(upgradeReq('/ph/switch'));
    await eventually(() => tunnel.text().includes('\r\n\r\n'));
    expect(tunnel.text()).toMatch(/^HTTP\/1\.1 101 /);
    // The third place: a client connection, whose own upgrade finds no place for its node's connection.
    const other = await rawClient(port);
    const asked = nodeConns().length;
    other.socket.write(upgradeReq('/ph/switch'));
    await eventually(() => other.text().includes('}\n'));
    // Fixed (was): an upgraded connection's own connection to its node held an open file outside
    // every limit, so a process full of WebSockets ran out of files long before its connection
    // limit (see the open-file test below).
    expect(other.text()).toMatch(/^HTTP\/1\.1 503 [^]*x-isogate-error: TOO_MANY_CONNECTIONS/);
    expect(nodeConns()).toHaveLength(asked);
    // The connection itself is served on, and switches once the tunnel has closed.
    const before = other.text().length;
    other.socket.write('GET /ph/plain HTTP/1.1\r\nhost: gw\r\n\r\n');
    await eventually(() => other.text().endsWith('ok'));
    expect(other.text().slice(before)).toMatch(/^HTTP\/1\.1 200 /);
    tunnel.socket.destroy();
    await until(metrics, (s) => s.sum('isogate_upgraded_connections') === 0, 50, 50);
    const again = other.text().length;
    other.socket.write(upgradeReq('/ph/switch'));
    await eventually(() => other.text().length > again && other.text().slice(again).includes('\r\n\r\n'));
    expect(other.text().slice(again)).toMatch(/^HTTP\/1\.1 101 /);
    other.socket.destroy();
  });
});

describe('a gateway process: memory under slow readers, its open-file limit, SIGTERM', () => {
  const TOKEN = 'upgraded-hostile-token-0123456789';
  const procs = new IsogateProcesses(TOKEN);
  let gw: IsogateProcess;
  let call: ReturnType<typeof adminClient>;
  let wsNode: WsUpstream;
  let plain: TestUpstream[];

  beforeAll(async () => {
    wsNode = await startWsUpstream('many');
    plain = await startUpstreams(['plain']);
    gw = await procs.start('start', ['--workers', '0', '--no-demo', '--drain-ms', '60000']);
    call = adminClient(() => gw.admin, TOKEN);
  }, 60_000);
  afterAll(async () => {
    await procs.stopAll();
    await wsNode?.close();
    await Promise.all((plain ?? []).map((u) => u.close()));
  });

  /** Resident memory of the gateway process, bytes. */
  const rss = (p: IsogateProcess) =>
    Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p.child.pid}/status`, 'latin1'))![1]) * 1024;
  const gatewayMetrics = async (p: IsogateProcess) =>
    parseMetrics(await (await fetch(`http://127.0.0.1:${p.status}/metrics`)).text());

  async function api(
    p: ReturnType<typeof adminClient>,
    name: string,
    url: string,
    extra: Record<string, unknown> = {},
  ) {
    const created = await p('POST', '/admin/apis', { name, path: `/${name}/*`, algorithm: 'round_robin', ...extra });
    await p('POST', `/admin/apis/${created.id}/nodes`, { name, connector: { kind: 'simple-url', url } });
  }

  it('bounds its memory by backpressure when clients stop reading a flood, and when nodes do; the stalled tunnels close at the idle timeout', async () => {
    const OFFERED = 256 * 1024 * 1024;
    const pumped: Array<{ taken: number; stalled: boolean }> = [];
    const floods: Array<Promise<unknown>> = [];
    const node = await rawNode((c) => {
      c.socket.write(SWITCH);
      if (c.head.includes('/flood')) floods.push(pump(c.socket, OFFERED).then((p) => pumped.push(p)));
      else c.socket.pause(); // reads nothing
    });
    await api(call, 'mem', node.url, { timeouts: { upgradeIdleMs: 2_000 } });
    const open = async (what: string) => {
      const cl = await rawClient(gw.gateway);
      cl.socket.write(upgradeReq(`/mem/${what}`));
      await eventually(() => cl.text().includes('\r\n\r\n'));
      return cl;
    };
    // A first one of each, so that what the process allocates once is in the baseline.
    const warm = [await open('flood'), await open('sink')];
    await wait(300);
    for (const c of warm) c.socket.destroy();
    await until(
      () => gatewayMetrics(gw),
      (m) => m.sum('isogate_upgraded_connections') === 0,
      100,
      50,
    );
    // The warm flood's pump ends up to a second after its socket closed: counted before the reset,
    // not as a ninth of the eight below.
    await Promise.all(floods);
    pumped.length = 0;
    const baseline = rss(gw);
    const stalled: RawClient[] = [];
    for (let i = 0; i < 4; i++) {
      const reader = await open('flood');
      reader.socket.pause(); // reads nothing more
      stalled.push(reader);
      const writer = await open('sink');
      stalled.push(writer);
      void pump(writer.socket, OFFERED).then((p) => pumped.push(p));
    }
    await eventually(() => pumped.length === 8, 500, 50);
    const grown = rss(gw) - baseline;
    // Every sender was stopped by backpressure before its 256 MiB: what it got rid of sits in the
    // kernel's socket buffers and in the tunnels' own bounded buffers. How much the kernel holds is
    // the kernel's (a machine with much memory autotunes a socket that was read fast to tens of MiB,
    // and one pump was seen to get 138 MiB into them), so the bound is on the gateway's own memory.
    expect(pumped.map((p) => p.stalled)).toEqual(Array.from({ length: 8 }, () => true));
    expect(grown).toBeLessThan(48 * 1024 * 1024);
    // Nothing moves either way any more: the idle timeout closes them all.
    await until(
      () => gatewayMetrics(gw),
      (m) => m.sum('isogate_upgraded_connections') === 0,
      100,
      100,
    );
    // What the readers left in their own buffers comes first, then the gateway's end.
    for (const c of stalled) c.socket.resume();
    await eventually(() => stalled.every(gone), 100);
  }, 60_000);

  it('on SIGTERM ends its tunnels, also one switched after the drain began, and exits long before --drain-ms', async () => {
    const node = await rawNode((c) => {
      if (c.head.includes('/late')) setTimeout(() => c.socket.write(SWITCH + 'LATE'), 1_000);
      else c.socket.write(SWITCH + 'EARLY');
    });
    await api(call, 'drain', node.url);
    const early = await rawClient(gw.gateway);
    early.socket.write(upgradeReq('/drain/early'));
    await eventually(() => early.text().endsWith('EARLY'));
    const late = await rawClient(gw.gateway);
    late.socket.write(upgradeReq('/drain/late'));
    await eventually(() => node.conns.length === 2);
    // Fixed (was): the tunnels were ended once, as the drain began; one whose 101 came after that
    // stayed open and held the process for the whole --drain-ms (a minute here).
    expect(await gw.stop('SIGTERM', 20_000)).toBe(0);
    expect(late.text()).toMatch(/^HTTP\/1\.1 101 [^]*LATE$/);
    expect([gone(early), gone(late)]).toEqual([true, true]);
    await eventually(() => node.conns.every((c) => c.closed), 100);
  }, 40_000);

  it('with 1024 open files answers every WebSocket past what its files hold, and keeps serving', async () => {
    const small = await procs.start('start', ['--workers', '0', '--no-demo'], { openFiles: 1024 });
    const smallCall = adminClient(() => small.admin, TOKEN);
    await api(smallCall, 'many', wsNode.url);
    await api(smallCall, 'plain', plain[0]!.url);
    const open = () =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${small.gateway}/many/x`);
        webSockets.push(ws);
        const timer = setTimeout(() => resolve('no answer in 10 s'), 10_000);
        const done = (outcome: string) => {
          clearTimeout(timer);
          resolve(outcome);
        };
        ws.once('message', () => done('open'));
        ws.once('error', (err) => done(`error: ${err.message}`));
        ws.once('unexpected-response', (req, res) => {
          done(`${res.statusCode} ${String(res.headers['x-isogate-error'])}`);
          req.destroy();
        });
      });
    // 768 client connections (the limit the open-file limit leaves): room for 384 WebSockets.
    const outcomes = new Map<string, number>();
    for (let batch = 0; batch < 13; batch++) {
      const got = await Promise.all(Array.from({ length: 40 }, open));
      for (const o of got) outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
      // A refused connection holds its file for up to a second; more than 64 of them at once (a
      // quarter of the files kept aside) are closed without an answer, as a flood is (edge limits).
      if (got.some((o) => o !== 'open')) await wait(1_100);
    }
    // Fixed (was): at about 490 WebSockets (each holding its client's file and its node's) the
    // process ran out of files: further clients were reset, plain requests too ("fetch failed").
    expect([...outcomes.keys()].sort()).toEqual(['503 TOO_MANY_CONNECTIONS', 'open']);
    expect(outcomes.get('open')).toBeGreaterThanOrEqual(300);
    const answer = await fetch(`http://127.0.0.1:${small.gateway}/plain/x`);
    await answer.arrayBuffer();
    expect([200, 503]).toContain(answer.status);
    expect((await fetch(`http://127.0.0.1:${small.status}/status/ready`)).status).toBe(200);
    for (const ws of webSockets) ws.terminate();
    await until(
      async () => (await fetch(`http://127.0.0.1:${small.gateway}/plain/x`)).status,
      (s) => s === 200,
      100,
      100,
    );
    expect(await small.stop()).toBe(0);
  }, 120_000);
});
