import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';
import { until } from '../../helpers/processes.js';

// Hostile and broken peers around the Upgrade proxy: raw sockets on both sides, every wait bounded.
let t: TestGateway;
const servers: Server[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  t = await startTestGateway();
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await t?.stop();
  for (const s of servers) s.close();
});

/** What a raw node saw of one connection. */
interface NodeConn {
  socket: Socket;
  head: string;
  /** Bytes after the head, as they arrive. */
  rest: Buffer[];
  ended: boolean;
  closed: boolean;
}

/** A raw TCP node: reads a request head, then hands the connection to `onHead` (allowHalfOpen: it sees a FIN as a FIN). */
async function rawNode(onHead: (c: NodeConn, extra: Buffer) => void): Promise<{ url: string; conns: NodeConn[] }> {
  const conns: NodeConn[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let conn: NodeConn | null = null;
    socket.on('data', (chunk: Buffer) => {
      if (conn !== null) {
        conn.rest.push(chunk);
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      conn = { socket, head: buf.toString('latin1', 0, end), rest: [], ended: false, closed: false };
      conns.push(conn);
      const extra = buf.subarray(end + 4);
      if (extra.length > 0) conn.rest.push(extra);
      socket.on('end', () => (conn!.ended = true));
      socket.on('close', () => (conn!.closed = true));
      onHead(conn, extra);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, conns };
}

const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: raw\r\n\r\n';

/** A raw client on the gateway port collecting everything it reads. */
function rawClient(): Promise<{
  socket: Socket;
  text: () => string;
  bytes: () => number;
  ended: () => boolean;
  closed: () => boolean;
}> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(t.gatewayUrl).port), allowHalfOpen: true });
    sockets.push(socket);
    const chunks: Buffer[] = [];
    let n = 0;
    let ended = false;
    let closed = false;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      n += c.length;
    });
    socket.on('end', () => (ended = true));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.once('connect', () =>
      resolve({
        socket,
        text: () => Buffer.concat(chunks).toString('latin1'),
        bytes: () => n,
        ended: () => ended,
        closed: () => closed,
      }),
    );
    socket.once('error', reject);
  });
}

const upgradeReq = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nhost: gw\r\nconnection: upgrade\r\nupgrade: raw\r\n${extra}\r\n`;

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (2 s at most) until what `client` has read passes `done`. */
const readUntil = (client: { text: () => string }, done: (text: string) => boolean) =>
  until(async () => client.text(), done, 100, 20);

let apiSeq = 0;
async function apiWith(
  node: { url: string },
  extra: Record<string, unknown> = {},
): Promise<{ id: string; path: string }> {
  const name = `atk${++apiSeq}`;
  const path = `/${name}`;
  const id = await createApi(t, { name, path: `${path}/*`, algorithm: 'round_robin', ...extra });
  await addNode(t, id, { name: `${name}-node`, url: node.url });
  return { id, path };
}

async function nodeStats(apiId: string): Promise<{ upgraded: number }> {
  const stats = await t.admin('GET', `/admin/apis/${apiId}/stats`);
  return Object.values(stats.body.nodes)[0] as { upgraded: number };
}

describe('Upgrade proxy under attack', () => {
  it('passes bytes the node sends right after its 101 (same packet) to the client', async () => {
    const node = await rawNode((c) => c.socket.write(SWITCH + 'EARLY-FROM-NODE'));
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`));
    await readUntil(cl, (s) => s.includes('EARLY-FROM-NODE'));
    expect(cl.text()).toMatch(/^HTTP\/1\.1 101 /);
    cl.socket.destroy();
  });

  it('passes bytes the client pipelines before the 101 to the node, after the switch, in order', async () => {
    const node = await rawNode((c) => setTimeout(() => c.socket.write(SWITCH), 200));
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`) + 'EARLY-1');
    await wait(50);
    cl.socket.write('EARLY-2');
    await until(
      async () => Buffer.concat(node.conns[0]?.rest ?? []).toString(),
      (s) => s === 'EARLY-1EARLY-2',
      100,
      20,
    );
    cl.socket.destroy();
  });

  // The client's Expect is forwarded, so a node may answer 100 Continue (or 103) before its 101.
  it('tunnels when the node sends 100 Continue (to the forwarded Expect) before its 101', async () => {
    const node = await rawNode((c) => {
      c.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      setTimeout(() => c.socket.write(SWITCH + 'TUNNEL-UP'), 50);
    });
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`, 'expect: 100-continue\r\n'));
    await readUntil(cl, (s) => s.includes('TUNNEL-UP') || s.includes('}'));
    expect(node.conns[0]!.head.toLowerCase()).toContain('expect: 100-continue');
    expect(cl.text()).toMatch(/HTTP\/1\.1 101 [^]*TUNNEL-UP/);
    cl.socket.destroy();
  });

  it('tunnels when 103 Early Hints and the 101 arrive in one packet, and answers 502 to a node that sends interim answers without end', async () => {
    const hinted = await rawNode((c) =>
      c.socket.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n' + SWITCH + 'HINTED'),
    );
    const { path } = await apiWith(hinted);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`));
    await readUntil(cl, (s) => s.includes('HINTED'));
    expect(cl.text()).toMatch(/^HTTP\/1\.1 101 [^]*HINTED$/);
    expect(cl.text()).not.toContain('103');
    cl.socket.destroy();

    const chatty = await rawNode((c) => c.socket.write('HTTP/1.1 100 Continue\r\n\r\n'.repeat(50)));
    const other = await apiWith(chatty);
    const cl2 = await rawClient();
    cl2.socket.write(upgradeReq(`${other.path}/a`));
    await readUntil(cl2, (s) => s.includes('\r\n\r\n'));
    expect(cl2.text()).toMatch(/^HTTP\/1\.1 502 /);
    cl2.socket.destroy();
  });

  it('switches when the node writes its 101 head a byte at a time across the end of the head', async () => {
    const node = await rawNode((c) => {
      c.socket.setNoDelay(true);
      const head = SWITCH.slice(0, -3);
      c.socket.write(head);
      const rest = ['\n', '\r', '\n' + 'BYTE-BY-BYTE'];
      const next = () => {
        const piece = rest.shift();
        if (piece === undefined) return;
        c.socket.write(piece);
        setTimeout(next, 30);
      };
      setTimeout(next, 30);
    });
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`));
    await readUntil(cl, (s) => s.includes('BYTE-BY-BYTE'));
    expect(cl.text()).toMatch(/^HTTP\/1\.1 101 [^]*\r\n\r\nBYTE-BY-BYTE$/);
    cl.socket.destroy();
  });

  it('counts an upgrade waiting for its 101 as in flight, so least_conn sends the next ones to the other node', async () => {
    // a answers its 101 only after 5 s; b switches and closes at once, so its count is back to 0 each time.
    const a = await rawNode((c) => setTimeout(() => c.socket.write(SWITCH), 5_000));
    const b = await rawNode((c) => c.socket.end(SWITCH));
    const name = `atk${++apiSeq}`;
    const id = await createApi(t, { name, path: `/${name}/*`, algorithm: 'least_conn' });
    await addNode(t, id, { name: `${name}-a`, url: a.url });
    await addNode(t, id, { name: `${name}-b`, url: b.url });
    const clients = [];
    for (let i = 1; i <= 4; i++) {
      const cl = await rawClient();
      clients.push(cl);
      const onB = b.conns.length;
      cl.socket.write(upgradeReq(`/${name}/${i}`));
      await until(
        async () => a.conns.length + b.conns.length,
        (n) => n === i,
        100,
        20,
      );
      // Sent to b: its tunnel is closed (and no longer counted) once the client sees its end.
      if (b.conns.length > onB)
        await until(
          async () => cl.ended() || cl.closed(),
          (ended) => ended,
          100,
          20,
        );
    }
    // Counted, a's waiting upgrade keeps it busy: only the first (a tie) may go there. Uncounted, ties alternate.
    expect(a.conns.length).toBeLessThanOrEqual(1);
    for (const cl of clients) cl.socket.destroy();
  });

  it('delivers every byte the node sent before its FIN to a slow-reading client', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
    const node = await rawNode((c) => {
      c.socket.write(SWITCH);
      c.socket.end(big);
    });
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`));
    cl.socket.pause();
    await wait(1_000);
    cl.socket.resume();
    await until(
      async () => cl.ended() || cl.closed(),
      (d) => d,
      200,
      25,
    );
    const headLen = cl.text().indexOf('\r\n\r\n') + 4;
    expect(cl.bytes() - headLen).toBe(big.length);
    expect(cl.ended()).toBe(true);
  });

  it('passes a client FIN on to the node after its last bytes, then closes the tunnel (no half-close, as nginx)', async () => {
    const node = await rawNode((c) => {
      c.socket.write(SWITCH);
      c.socket.on('end', () => setTimeout(() => c.socket.end('AFTER-YOUR-FIN'), 100));
    });
    const { id, path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`));
    await readUntil(cl, (s) => s.includes('\r\n\r\n'));
    cl.socket.end('LAST-FROM-CLIENT');
    await until(
      async () => node.conns[0]!.ended,
      (d) => d,
      100,
      20,
    );
    expect(Buffer.concat(node.conns[0]!.rest).toString()).toBe('LAST-FROM-CLIENT');
    await until(
      async () => (await nodeStats(id)).upgraded,
      (n) => n === 0,
      100,
      30,
    );
    await wait(300);
    expect(cl.text()).not.toContain('AFTER-YOUR-FIN');
  });

  it('forwards an Upgrade request with a Content-Length body as a plain request (no upgrade reaches the node, no tunnel on a rogue 101)', async () => {
    const node = await rawNode((c, extra) => {
      const answer = () => {
        const got = Buffer.concat(c.rest).toString();
        if (got.length < 5) return;
        c.socket.off('data', answer);
        // A rogue node switching anyway: the gateway must not tunnel a request it did not send as an upgrade.
        c.socket.write(SWITCH + 'GET /smuggled HTTP/1.1\r\n\r\n');
      };
      c.socket.on('data', answer);
      if (extra.length > 0) answer();
    });
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`, 'content-length: 5\r\n') + 'hello');
    await readUntil(cl, (s) => s.includes('\r\n\r\n'));
    await wait(100);
    const head = node.conns[0]!.head.toLowerCase();
    expect(head).not.toMatch(/\r\nupgrade:/);
    expect(head).not.toMatch(/\r\nconnection:[^\r]*upgrade/);
    expect(Buffer.concat(node.conns[0]!.rest).toString()).toBe('hello');
    expect(cl.text()).toMatch(/^HTTP\/1\.1 502 /);
    expect(cl.text()).not.toContain('smuggled');
  });

  it('forwards an Upgrade request with a chunked body as a plain request, body intact', async () => {
    const node = await rawNode((c) => {
      const check = () => {
        if (!Buffer.concat(c.rest).toString().endsWith('0\r\n\r\n')) return;
        c.socket.off('data', check);
        c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      };
      c.socket.on('data', check);
      check();
    });
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`, 'transfer-encoding: chunked\r\n') + '5\r\nhello\r\n0\r\n\r\n');
    await readUntil(cl, (s) => /\r\n\r\nok$/.test(s));
    expect(cl.text()).toMatch(/^HTTP\/1\.1 200 /);
    const head = node.conns[0]!.head.toLowerCase();
    expect(head).not.toMatch(/\r\nupgrade:/);
  });

  it('does not switch an HTTP/1.0 Upgrade request', async () => {
    const node = await rawNode((c) => c.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(`GET ${path}/a HTTP/1.0\r\nhost: gw\r\nconnection: upgrade\r\nupgrade: raw\r\n\r\n`);
    await readUntil(cl, (s) => s.endsWith('ok'));
    expect(node.conns[0]!.head.toLowerCase()).not.toMatch(/\r\nupgrade:/);
  });

  it('never tunnels an h2c upgrade (h2c smuggling): the request goes on as a plain one without its Upgrade', async () => {
    // A node that would switch to h2c and then take requests the gateway never routes nor checks.
    const node = await rawNode((c) => {
      if (/\r\nupgrade:[^\r]*h2c/i.test(c.head))
        c.socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n');
      else c.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const { path } = await apiWith(node);
    for (const [i, protocols] of ['h2c', 'websocket, H2C'].entries()) {
      const cl = await rawClient();
      cl.socket.write(
        `GET ${path}/h2c HTTP/1.1\r\nhost: gw\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: ${protocols}\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
      );
      await readUntil(cl, (s) => s.endsWith('ok'));
      expect(cl.text()).toMatch(/^HTTP\/1\.1 200 /);
      const head = node.conns[i]!.head.toLowerCase();
      expect(head).not.toMatch(/\r\nupgrade:/);
      expect(head).not.toMatch(/\r\nhttp2-settings:/);
    }
  });

  it('switches on Connection header variants (keep-alive, Upgrade; upper case; repeated header)', async () => {
    const node = await rawNode((c) => c.socket.write(SWITCH + 'UP'));
    const { path } = await apiWith(node);
    const variants = [
      `GET ${path}/a HTTP/1.1\r\nhost: gw\r\nConnection: keep-alive, Upgrade\r\nUpgrade: raw\r\n\r\n`,
      `GET ${path}/a HTTP/1.1\r\nhost: gw\r\nCONNECTION: UPGRADE\r\nUPGRADE: raw\r\n\r\n`,
      `GET ${path}/a HTTP/1.1\r\nhost: gw\r\nconnection: keep-alive\r\nconnection: upgrade\r\nupgrade: raw\r\n\r\n`,
    ];
    for (const v of variants) {
      const cl = await rawClient();
      cl.socket.write(v);
      await readUntil(cl, (s) => s.includes('UP') && s.includes('\r\n\r\n'));
      expect(cl.text()).toMatch(/^HTTP\/1\.1 101 /);
      cl.socket.destroy();
    }
  });

  it('drops what a 101’s Connection names (Upgrade and Connection stay) and a node’s own x-isogate-error', async () => {
    const node = await rawNode((c) =>
      c.socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade, X-Secret\r\nUpgrade: raw\r\nX-Secret: s\r\n' +
          'X-Isogate-Error: UPSTREAM_ERROR\r\nX-Kept: yes\r\n\r\nUP',
      ),
    );
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`));
    await readUntil(cl, (s) => s.includes('\r\n\r\nUP'));
    const head = cl.text().split('\r\n\r\n')[0]!.toLowerCase();
    expect(head).toMatch(/^http\/1\.1 101 /);
    expect(head).toContain('\r\nupgrade: raw');
    expect(head).toContain('\r\nconnection: upgrade');
    expect(head).toContain('\r\nx-kept: yes');
    expect(head).not.toContain('x-secret:');
    expect(head).not.toContain('x-isogate-error');
    cl.socket.destroy();
  });

  it('passes a refusal without what its Connection names, its x-isogate-error or a 204’s Content-Length', async () => {
    const node = await rawNode((c) =>
      c.socket.end(
        'HTTP/1.1 204 No Content\r\nConnection: X-Secret\r\nX-Secret: s\r\nX-Isogate-Error: NO_ENABLED_NODE\r\n' +
          'Content-Length: 5\r\nX-Kept: yes\r\n\r\n',
      ),
    );
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`));
    await readUntil(cl, (s) => s.includes('\r\n\r\n'));
    const head = cl.text().split('\r\n\r\n')[0]!.toLowerCase();
    expect(head).toMatch(/^http\/1\.1 204 /);
    expect(head).toContain('\r\nx-kept: yes');
    expect(head).not.toContain('x-secret');
    expect(head).not.toContain('x-isogate-error');
    expect(head).not.toContain('content-length');
    cl.socket.destroy();
  });

  it('answers UPSTREAM_TIMEOUT when the 101 never comes, closes the node connection and tries no other node', async () => {
    const silent = await rawNode(() => undefined);
    const backup = await rawNode((c) => c.socket.write(SWITCH));
    const name = `atk${++apiSeq}`;
    const id = await createApi(t, {
      name,
      path: `/${name}/*`,
      algorithm: 'round_robin',
      retries: 3,
      timeouts: { headersMs: 300 },
    });
    await addNode(t, id, { name: `${name}-silent`, url: silent.url });
    await addNode(t, id, { name: `${name}-backup`, url: backup.url });
    const outcomes: string[] = [];
    for (let i = 0; i < 2; i++) {
      const cl = await rawClient();
      cl.socket.write(upgradeReq(`/${name}/a`));
      await readUntil(cl, (s) => s.includes('\r\n\r\n'));
      outcomes.push(cl.text().slice(0, 12));
      cl.socket.destroy();
    }
    expect(outcomes.sort()).toEqual(['HTTP/1.1 101', 'HTTP/1.1 504']);
    expect(backup.conns).toHaveLength(1);
    await until(
      async () => silent.conns[0]?.ended,
      (c) => c === true,
      50,
      20,
    );
  });

  it('closes the node connection when the client goes away while the 101 is awaited', async () => {
    const node = await rawNode(() => undefined);
    const { id, path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`));
    await until(
      async () => node.conns.length,
      (n) => n === 1,
      100,
      20,
    );
    cl.socket.destroy();
    await until(
      async () => node.conns[0]!.ended,
      (c) => c,
      50,
      20,
    );
    expect((await nodeStats(id)).upgraded).toBe(0);
  });

  it('keeps the open-tunnel count exact through failures and closes of either side', async () => {
    const good = await rawNode((c) => c.socket.write(SWITCH));
    const { id, path } = await apiWith(good);
    const cls = [];
    for (let i = 0; i < 4; i++) {
      const cl = await rawClient();
      cl.socket.write(upgradeReq(`${path}/a`));
      await readUntil(cl, (s) => s.includes('\r\n\r\n'));
      cls.push(cl);
    }
    expect((await nodeStats(id)).upgraded).toBe(4);
    cls[0]!.socket.destroy(); // client reset
    cls[1]!.socket.end(); // client FIN
    good.conns[2]!.socket.destroy(); // node reset
    good.conns[3]!.socket.end(); // node FIN
    await until(
      async () => (await nodeStats(id)).upgraded,
      (n) => n === 0,
      100,
      20,
    );
    await wait(200);
    expect((await nodeStats(id)).upgraded).toBe(0);
  });

  it('bounds what a tunnel buffers for a client that reads nothing (the node is paused)', async () => {
    let pumped = 0;
    const node = await rawNode((c) => {
      c.socket.write(SWITCH);
      pumped = -1;
      void pump(c.socket, 64 * 1024 * 1024, (n) => (pumped = n));
    });
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.pause();
    cl.socket.write(upgradeReq(`${path}/a`));
    await wait(1_500);
    // What the node got rid of sits in kernel buffers and, bounded, in the gateway.
    expect(pumped).toBeGreaterThan(0);
    expect(pumped).toBeLessThan(24 * 1024 * 1024);
    cl.socket.destroy();
  });

  it('bounds what a tunnel buffers for a node that reads nothing (the client is paused)', async () => {
    const node = await rawNode((c) => {
      c.socket.write(SWITCH);
      c.socket.pause();
    });
    const { path } = await apiWith(node);
    const cl = await rawClient();
    cl.socket.write(upgradeReq(`${path}/a`));
    await readUntil(cl, (s) => s.includes('\r\n\r\n'));
    let pumped = 0;
    void pump(cl.socket, 64 * 1024 * 1024, (n) => (pumped = n));
    await wait(1_500);
    expect(pumped).toBeGreaterThan(0);
    expect(pumped).toBeLessThan(24 * 1024 * 1024);
    cl.socket.destroy();
  });
});

/** Writes up to `max` bytes in 64 KiB chunks, honouring backpressure; reports how many the socket took (flushed). */
async function pump(socket: Socket, max: number, report: (n: number) => void): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  let n = 0;
  const deadline = Date.now() + 5_000;
  while (n < max && !socket.destroyed && Date.now() < deadline) {
    const ok = socket.write(chunk);
    n += chunk.length;
    if (!ok) {
      const drained = await Promise.race([
        new Promise<boolean>((r) => socket.once('drain', () => r(true))),
        wait(2_000).then(() => false),
      ]);
      if (!drained) break;
    }
    report(n - socket.writableLength);
  }
}

describe('Upgrade proxy and the admission limits', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startTestGateway(['--max-client-connections-per-ip', '3']);
  }, 60_000);
  afterAll(async () => {
    await g?.stop();
  });

  it('counts open tunnels against the per-IP limit and never evicts them', async () => {
    const node = await rawNode((c) => c.socket.write(SWITCH));
    const id = await createApi(g, { name: 'adm', path: '/adm/*', algorithm: 'round_robin' });
    await addNode(g, id, { name: 'adm-node', url: node.url });
    const port = Number(new URL(g.gatewayUrl).port);
    const open: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = connect({ host: '127.0.0.1', port });
      sockets.push(s);
      s.on('error', () => undefined);
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.write(upgradeReq('/adm/x'));
      await until(
        async () => got,
        (x) => x.startsWith('HTTP/1.1 101'),
        100,
        20,
      );
      open.push(s);
    }
    const fourth = connect({ host: '127.0.0.1', port });
    sockets.push(fourth);
    fourth.on('error', () => undefined);
    let answer = '';
    fourth.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    fourth.write(upgradeReq('/adm/x'));
    await until(
      async () => answer,
      (x) => x.includes('\r\n\r\n'),
      100,
      20,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 429 /);
    expect(open.every((s) => !s.destroyed && !s.readableEnded)).toBe(true);
    open[0]!.destroy();
    // Once the gateway has seen that close, a new connection from the address is switched again.
    const tryAgain = async (): Promise<string> => {
      const again = connect({ host: '127.0.0.1', port });
      sockets.push(again);
      again.on('error', () => undefined);
      let head = '';
      again.on('data', (d: Buffer) => (head += d.toString('latin1')));
      again.write(upgradeReq('/adm/x'));
      await until(
        async () => head,
        (x) => x.includes('\r\n\r\n'),
        100,
        20,
      );
      if (!head.startsWith('HTTP/1.1 101')) again.destroy();
      return head;
    };
    await until(tryAgain, (head) => head.startsWith('HTTP/1.1 101'), 20, 100);
  });
});
