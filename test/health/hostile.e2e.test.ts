import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_HEADER } from '../../src/gateway/errors.js';
import { addNode, createApi as createApiRaw } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { parseMetrics } from '../helpers/metrics.js';
import { FlakyFleet } from './flaky-upstream.js';
import { waitFor } from './load.js';

// Health checks and retries attacked by hostile or broken nodes: raw TCP servers on 127.0.0.1 that
// stall, cut, flood, redirect and reset, against the real gateway started in this process.
// A comment starting `Fixed:` tells the bug a test was written against (each is fixed; the test guards it).

let t: TestGateway;
const flaky = new FlakyFleet();
const servers: Array<NetServer | HttpsServer> = [];
const extraGateways: TestGateway[] = [];

beforeAll(async () => {
  t = await startTestGateway();
});

afterAll(async () => {
  for (const g of extraGateways) await g.stop().catch(() => undefined);
  await t?.stop();
  await flaky.stopAll();
  for (const s of servers) {
    (s as NetServer & { closeAllConnections?: () => void }).closeAllConnections?.();
    s.close();
  }
  for (const h of hostiles) for (const sock of h.sockets) sock.destroy();
});

/** Creates an API (round robin unless the body says otherwise). */
const createApi = (gw: TestGateway, body: Record<string, unknown>) =>
  createApiRaw(gw, { algorithm: 'round_robin', ...body });

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One request as a raw node saw it. */
interface SeenRequest {
  method: string;
  path: string;
  head: string;
  body: Buffer;
}

/** A raw TCP "HTTP" node whose answer to each request the test writes by hand. */
interface Hostile {
  name: string;
  url: string;
  port: number;
  seen: SeenRequest[];
  /** Sockets open now. */
  sockets: Set<Socket>;
  /** Connections accepted so far. */
  accepted: number;
  /** Most requests whose answer was still being produced at one time. */
  maxBusy: number;
  busy: number;
  /** Sockets closed so far (by either side). */
  closed: number;
}

const hostiles: Hostile[] = [];

/**
 * Starts a raw node: each request head (and its Content-Length body) goes to `answer`, which writes
 * whatever it likes on the socket. Keep-alive is the answer's business.
 */
async function hostile(
  name: string,
  answer: (sock: Socket, req: SeenRequest, h: Hostile) => void | Promise<void>,
): Promise<Hostile> {
  const h: Hostile = {
    name,
    url: '',
    port: 0,
    seen: [],
    sockets: new Set(),
    accepted: 0,
    maxBusy: 0,
    busy: 0,
    closed: 0,
  };
  const server = createNetServer((sock) => {
    h.accepted++;
    h.sockets.add(sock);
    sock.on('close', () => {
      h.sockets.delete(sock);
      h.closed++;
    });
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let waiting: { req: SeenRequest; need: number } | null = null;
    const pump = (): void => {
      for (let guard = 0; guard < 100; guard++) {
        if (waiting === null) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          buf = buf.subarray(end + 4);
          const [method = '', path = ''] = head.split('\r\n')[0]!.split(' ');
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          waiting = { req: { method, path, head, body: Buffer.alloc(0) }, need: m ? Number(m[1]) : 0 };
        }
        if (buf.length < waiting.need) return;
        const { req, need } = waiting;
        req.body = buf.subarray(0, need);
        buf = buf.subarray(need);
        waiting = null;
        h.seen.push(req);
        h.busy++;
        h.maxBusy = Math.max(h.maxBusy, h.busy);
        void Promise.resolve(answer(sock, req, h)).finally(() => h.busy--);
      }
    };
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      pump();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h.port = (server.address() as AddressInfo).port;
  h.url = `http://127.0.0.1:${h.port}`;
  hostiles.push(h);
  return h;
}

/** A complete keep-alive answer with a JSON body naming the node. */
function ok(sock: Socket, name: string, status = 200, extra = ''): void {
  const body = JSON.stringify({ node: name, status });
  sock.write(
    `HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\nx-node: ${name}\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

const probes = (h: Hostile) => h.seen.filter((r) => r.path.startsWith('/health')).length;
const traffic = (h: Hostile) => h.seen.filter((r) => !r.path.startsWith('/health'));

type NodeView = {
  id: string;
  name: string;
  state: string;
  reason: string | null;
  ejections: number;
  ejectedUntil: string | null;
  consecutiveFailures: number;
  lastProbe: { ok: boolean; status: number | null; error: string | null; ms: number } | null;
  inFlight: number;
};

async function health(gw: TestGateway, apiId: string): Promise<Record<string, NodeView>> {
  const res = await gw.admin('GET', `/admin/apis/${apiId}/health`);
  expect(res.status).toBe(200);
  return Object.fromEntries(res.body.nodes.map((n: NodeView) => [n.name, n]));
}

const fastProbe = { path: '/health', intervalMs: 150, timeoutMs: 120, healthyThreshold: 2, unhealthyThreshold: 2 };

// ---------------------------------------------------------------------------------------------------
// Active probes against hostile nodes
// ---------------------------------------------------------------------------------------------------

describe('active probes against a hostile node', () => {
  it('a node that never answers its probe is taken out (timeout), and traffic goes to the other node at once', async () => {
    const silent = await hostile('silent', (sock, req, h) => {
      if (!req.path.startsWith('/health')) ok(sock, h.name); // traffic fine, probes never answered
    });
    const good = await hostile('good-s', (sock, _req, h) => ok(sock, h.name));
    const id = await createApi(t, {
      name: 'silentprobe',
      path: '/silentprobe',
      algorithm: 'round_robin',
      health: { active: fastProbe },
    });
    await addNode(t, id, silent);
    await addNode(t, id, good);
    const out = await waitFor(
      () => health(t, id),
      (v) => v['silent']!.state === 'unhealthy',
      5_000,
    );
    expect(out['silent']!.lastProbe).toMatchObject({ ok: false, status: null, error: 'timeout' });
    expect(out['good-s']!.state).toBe('healthy');
    for (let i = 0; i < 4; i++) expect(await t.nodeOf('/silentprobe')).toBe('good-s');
    // Probes of one node never overlap: the unanswered ones were cut, not left open one per interval.
    await settle(600);
    expect(silent.sockets.size).toBeLessThanOrEqual(2);
  });

  // Fixed: a probe whose node sends `200` headers and then stalls the body (or resets mid-body) PASSES.
  // src/health/active.ts awaits `res.body.dump({ limit })`; undici's dump() without its own signal
  // resolves on 'close' whatever destroyed the body (the request's AbortSignal.timeout, bodyTimeout,
  // a socket reset), so the catch never runs and the verdict is taken from the status alone. The
  // comment there says "a node that sends headers and then stalls is not healthy"; the doc says a
  // probe passes only when "the whole answer arrives within timeoutMs".
  it('a node that answers probe headers and then stalls (or cuts) the body is unhealthy', async () => {
    const stall = await hostile('stall', (sock, req, h) => {
      if (req.path.startsWith('/health'))
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789'); // 90 bytes never come
      else ok(sock, h.name);
    });
    const cut = await hostile('cut', (sock, req, h) => {
      if (req.path.startsWith('/health')) {
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789');
        setTimeout(() => sock.resetAndDestroy(), 10);
      } else ok(sock, h.name);
    });
    const id = await createApi(t, {
      name: 'stallprobe',
      path: '/stallprobe',
      algorithm: 'round_robin',
      health: { active: fastProbe },
    });
    await addNode(t, id, stall);
    await addNode(t, id, cut);
    await waitFor(
      async () => Math.min(probes(stall), probes(cut)),
      (n) => n >= 4,
      5_000,
    );
    const v = await health(t, id);
    expect({ stall: v['stall']!.lastProbe?.ok, cut: v['cut']!.lastProbe?.ok }).toEqual({ stall: false, cut: false });
    expect({ stall: v['stall']!.state, cut: v['cut']!.state }).toEqual({ stall: 'unhealthy', cut: 'unhealthy' });
  });

  it('an endless chunked probe body or a huge Content-Length is not read to the end: the probe connection is cut and nothing piles up', async () => {
    let endlessWritten = 0;
    const endless = await hostile('endless', (sock, req, h) => {
      if (!req.path.startsWith('/health')) return ok(sock, h.name);
      sock.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      // Bounded: at most 64 MiB per probe, stops when the gateway hangs up.
      let n = 0;
      const pump = () => {
        while (!sock.destroyed && n < 4096) {
          n++;
          endlessWritten += frame.length;
          if (!sock.write(frame)) return void sock.once('drain', pump);
        }
      };
      pump();
    });
    const gig = await hostile('gig', (sock, req, h) => {
      if (!req.path.startsWith('/health')) return ok(sock, h.name);
      sock.write('HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n');
      sock.write(Buffer.alloc(64 * 1024, 0x62));
    });
    const id = await createApi(t, {
      name: 'floodprobe',
      path: '/floodprobe',
      algorithm: 'round_robin',
      health: { active: { ...fastProbe, timeoutMs: 140 } },
    });
    await addNode(t, id, endless);
    await addNode(t, id, gig);
    await waitFor(
      async () => Math.min(probes(endless), probes(gig)),
      (n) => n >= 5,
      8_000,
    );
    // Each probe's connection was closed by the gateway; the node did not get to push its whole flood.
    await settle(300);
    expect(endless.sockets.size).toBeLessThanOrEqual(1);
    expect(gig.sockets.size).toBeLessThanOrEqual(1);
    expect(endlessWritten).toBeLessThan(probes(endless) * 64 * 1024 * 1024);
    // The gateway serves meanwhile.
    expect((await fetch(`${t.statusUrl}/status`)).status).toBe(200);
  });

  // Fixed (doc vs code): "A probe passes when the whole answer arrives within timeoutMs", but a probe
  // whose body passes PROBE_BODY_LIMIT (64 KiB: an endless chunked body, a 1 GB Content-Length) is
  // cut by dump({limit}) and then judged by its status alone, so it passes although the whole answer
  // never arrived (src/health/active.ts #probe). Either fail such a probe or document the limit.
  it('a probe whose answer never completes (endless or 1 GB body) does not pass', async () => {
    const endless = await hostile('endless2', (sock, req, h) => {
      if (!req.path.startsWith('/health')) return ok(sock, h.name);
      sock.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      const frame = Buffer.concat([Buffer.from('4000\r\n'), Buffer.alloc(0x4000, 0x61), Buffer.from('\r\n')]);
      for (let i = 0; i < 64 && !sock.destroyed; i++) sock.write(frame); // 1 MiB, never terminated
    });
    const gig = await hostile('gig2', (sock, req, h) => {
      if (!req.path.startsWith('/health')) return ok(sock, h.name);
      sock.write('HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n');
      sock.write(Buffer.alloc(128 * 1024, 0x62));
    });
    const id = await createApi(t, {
      name: 'neverwhole',
      path: '/neverwhole',
      algorithm: 'round_robin',
      health: { active: fastProbe },
    });
    await addNode(t, id, endless);
    await addNode(t, id, gig);
    await waitFor(
      async () => Math.min(probes(endless), probes(gig)),
      (n) => n >= 4,
      5_000,
    );
    const v = await health(t, id);
    expect({ endless: v['endless2']!.lastProbe?.ok, gig: v['gig2']!.lastProbe?.ok }).toEqual({
      endless: false,
      gig: false,
    });
  });

  it('huge probe response headers fail the probe', async () => {
    const fat = await hostile('fat', (sock, req, h) => {
      if (!req.path.startsWith('/health')) return ok(sock, h.name);
      sock.write(`HTTP/1.1 200 OK\r\nx-fat: ${'a'.repeat(256 * 1024)}\r\ncontent-length: 0\r\n\r\n`);
    });
    const id = await createApi(t, { name: 'fatprobe', path: '/fatprobe', health: { active: fastProbe } });
    await addNode(t, id, fat);
    const v = await waitFor(
      () => health(t, id),
      (x) => x['fat']!.state === 'unhealthy',
      5_000,
    );
    expect(v['fat']!.lastProbe?.ok).toBe(false);
    expect(v['fat']!.lastProbe?.status).toBeNull();
  });

  it('a redirecting probe is not followed: 3xx passes by default, fails when only 200 is expected, and the target is never probed', async () => {
    const target = await hostile('target', (sock, _req, h) => ok(sock, h.name));
    const redirect = await hostile('redir', (sock, req, h) => {
      if (!req.path.startsWith('/health')) return ok(sock, h.name);
      sock.write(`HTTP/1.1 302 Found\r\nlocation: ${target.url}/health\r\ncontent-length: 0\r\n\r\n`);
    });
    const id = await createApi(t, { name: 'redirprobe', path: '/redirprobe', health: { active: fastProbe } });
    await addNode(t, id, redirect);
    await waitFor(
      async () => probes(redirect),
      (n) => n >= 3,
      5_000,
    );
    let v = await health(t, id);
    expect(v['redir']!.state).toBe('healthy');
    expect(v['redir']!.lastProbe).toMatchObject({ ok: true, status: 302 });
    expect(target.seen.length).toBe(0);
    expect(
      (await t.admin('PATCH', `/admin/apis/${id}`, { health: { active: { expectedStatuses: [200] } } })).status,
    ).toBe(200);
    v = await waitFor(
      () => health(t, id),
      (x) => x['redir']!.state === 'unhealthy',
      5_000,
    );
    expect(v['redir']!.reason).toMatch(/HTTP 302/);
    expect(target.seen.length).toBe(0);
  });

  it('a node that flaps pass/fail on every probe does not flap in rotation (thresholds are hysteresis) and logs no transitions', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        if (lines.length < 10_000) lines.push(String(chunk));
        cb();
      },
    });
    const g = await startTestGateway([], {}, pino({ level: 'info' }, sink));
    extraGateways.push(g);
    let n = 0;
    const flap = await hostile('flap', (sock, req, h) => {
      if (!req.path.startsWith('/health')) return ok(sock, h.name);
      ok(sock, h.name, n++ % 2 === 0 ? 503 : 200);
    });
    const id = await createApi(g, {
      name: 'flap',
      path: '/flap',
      health: { active: { ...fastProbe, intervalMs: 100, timeoutMs: 90 } },
    });
    await addNode(g, id, flap);
    await waitFor(
      async () => probes(flap),
      (x) => x >= 12,
      6_000,
    );
    const v = await health(g, id);
    expect(v['flap']!.state).toBe('healthy');
    expect(v['flap']!.reason).toBeNull();
    const transitions = lines.filter((l) => /node out of rotation|node healthy again/.test(l));
    expect(transitions).toEqual([]);
  });

  it('a deleted node and a node moved to another URL are no longer probed', async () => {
    const a = await hostile('del-a', (sock, _req, h) => ok(sock, h.name));
    const b = await hostile('del-b', (sock, _req, h) => ok(sock, h.name));
    const c = await hostile('del-c', (sock, _req, h) => ok(sock, h.name));
    const id = await createApi(t, { name: 'delprobe', path: '/delprobe', health: { active: fastProbe } });
    const nodeA = await addNode(t, id, a);
    const nodeB = await addNode(t, id, b);
    await waitFor(
      async () => Math.min(probes(a), probes(b)),
      (x) => x >= 2,
      5_000,
    );
    expect((await t.admin('DELETE', `/admin/apis/${id}/nodes/${nodeA}`)).status).toBe(204);
    expect(
      (await t.admin('PATCH', `/admin/apis/${id}/nodes/${nodeB}`, { connector: { kind: 'simple-url', url: c.url } }))
        .status,
    ).toBe(200);
    await settle(300);
    const [pa, pb] = [probes(a), probes(b)];
    await waitFor(
      async () => probes(c),
      (x) => x >= 3,
      5_000,
    );
    await settle(300);
    expect(probes(a)).toBe(pa);
    expect(probes(b)).toBe(pb);
    expect(t.app.gateway !== null).toBe(true);
  });

  // Fixed: a probe's own timeout counts its wait for one of the probe Agent's 2 connections per origin
  // (src/health/active.ts: `new Agent({ connections: 2 })`, one shared agent for every probe, and
  // AbortSignal.timeout(timeoutMs) starts before the request gets a connection). When many nodes share
  // one origin — one backend that serves many APIs, or nodes that differ by base path — their probes
  // queue behind each other and time out, though the backend answers every probe well within
  // timeoutMs: healthy nodes are taken out because of how many other nodes point at the same backend.
  // The doc promises the opposite ("Probes have their own connections, so a busy node's pool limit
  // never delays them"). Fix: no per-origin cap for probes (or one connection per probed node), or
  // start the timeout when the probe is written.
  it('many nodes on one backend: every probe answered in time keeps its node healthy', async () => {
    const backend = await hostile('shared', (sock, req, h) => {
      // 150 ms per probe, one at a time per connection, keep-alive: well under timeoutMs (400).
      if (req.path.endsWith('/health')) setTimeout(() => ok(sock, h.name), 150);
      else ok(sock, h.name);
    });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = await createApi(t, {
        name: `shared${i}`,
        path: `/shared${i}`,
        health: { active: { path: '/health', intervalMs: 1000, timeoutMs: 400, unhealthyThreshold: 1 } },
      });
      await addNode(t, id, { name: `shared${i}`, url: `${backend.url}/svc${i}` });
      ids.push(id);
    }
    await waitFor(
      async () => backend.seen.length,
      (n) => n >= 30,
      10_000,
    );
    const states: string[] = [];
    for (const [i, id] of ids.entries()) states.push((await health(t, id))[`shared${i}`]!.state);
    // Diagnostics: the probes never used more than 2 connections at once.
    expect(backend.maxBusy).toBeLessThanOrEqual(2);
    expect(states.filter((s) => s !== 'healthy')).toEqual([]);
  });

  // Fixed: stopping a probe loop does not abort its probe in flight, and ActiveChecker.close() awaits
  // `agent.close()`, which waits for in-flight requests. A node that hangs on its probe holds the
  // probe connection open for the whole timeoutMs (up to 60 s) after the node was deleted, and holds
  // a gateway's shutdown just as long (src/health/active.ts #stop and close; data-plane close awaits
  // checker.close()). Fix: an AbortController per probe, aborted in #stop; agent.destroy() on close.
  it('a probe hanging on a deleted node is cut, and it does not hold the gateway shutdown', async () => {
    const hang = await hostile('hangprobe', () => undefined); // accepts, never answers anything
    const g = await startTestGateway();
    extraGateways.push(g);
    const id = await createApi(g, {
      name: 'hangclose',
      path: '/hangclose',
      health: { active: { path: '/health', intervalMs: 30_000, timeoutMs: 30_000 } },
    });
    const node = await addNode(g, id, hang);
    await waitFor(
      async () => probes(hang),
      (n) => n >= 1,
      5_000,
    );
    expect((await g.admin('DELETE', `/admin/apis/${id}/nodes/${node}`)).status).toBe(204);
    // The node is gone: its probe connection should not stay open for the rest of the 30 s.
    const cut = await waitFor(
      async () => hang.sockets.size,
      (n) => n === 0,
      3_000,
    ).catch(() => hang.sockets.size);
    // Re-add it and stop the gateway with the probe hanging: shutdown must not wait out timeoutMs.
    await addNode(g, id, hang);
    await waitFor(
      async () => probes(hang),
      (n) => n >= 2,
      5_000,
    );
    const started = Date.now();
    await Promise.race([g.stop(), settle(12_000)]);
    const stopMs = Date.now() - started;
    extraGateways.splice(extraGateways.indexOf(g), 1);
    expect({ probeSocketsOpenAfterDelete: cut, stopUnder8s: stopMs < 8_000 }).toEqual({
      probeSocketsOpenAfterDelete: 0,
      stopUnder8s: true,
    });
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------------
// Retries and passive checks against hostile nodes
// ---------------------------------------------------------------------------------------------------

describe('retries against hostile nodes', () => {
  it('a POST that reached a node which reset before answering is not retried (502), a GET is', async () => {
    const rst = await hostile('rst', (sock) => void sock.resetAndDestroy());
    const good = await hostile('good-r', (sock, _req, h) => ok(sock, h.name));
    const id = await createApi(t, {
      name: 'rstpost',
      path: '/rstpost',
      algorithm: 'round_robin',
      retries: 1,
      health: { passive: null },
    });
    await addNode(t, id, rst);
    await addNode(t, id, good);
    const posts: string[] = [];
    for (let i = 0; i < 4; i++) posts.push(await t.nodeOf('/rstpost', { method: 'POST', body: 'payload' }));
    expect(posts.sort()).toEqual(['error:UPSTREAM_ERROR', 'error:UPSTREAM_ERROR', 'good-r', 'good-r']);
    // The two POSTs that reached `rst` never reached `good`: each POST was sent once.
    expect(traffic(good).length).toBe(2);
    expect(traffic(rst).length).toBe(2);
    const gets: string[] = [];
    for (let i = 0; i < 4; i++) gets.push(await t.nodeOf('/rstpost'));
    expect(gets).toEqual(['good-r', 'good-r', 'good-r', 'good-r']);
  });

  it('a 200 with Connection: close followed by a reset is delivered whole; a body cut mid-way cuts the client', async () => {
    const closer = await hostile('closer', (sock, req) => {
      const body = 'x'.repeat(1000);
      if (req.path.endsWith('/cut')) {
        sock.write(`HTTP/1.1 200 OK\r\nx-node: closer\r\ncontent-length: 5000\r\n\r\n${body}`);
      } else
        sock.write(`HTTP/1.1 200 OK\r\nx-node: closer\r\nconnection: close\r\ncontent-length: 1000\r\n\r\n${body}`);
      setTimeout(() => sock.resetAndDestroy(), 20);
    });
    const id = await createApi(t, { name: 'closer', path: '/closer/*', retries: 1, health: { passive: null } });
    await addNode(t, id, closer);
    for (let i = 0; i < 3; i++) {
      const res = await t.get('/closer/whole');
      expect(res.status).toBe(200);
      expect((await res.text()).length).toBe(1000);
    }
    const res = await t.get('/closer/cut');
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect((await health(t, id))['closer']!.inFlight).toBe(0);
  });

  it('huge response headers from a node are a bad answer, and a GET is retried on another node', async () => {
    const fat = await hostile('fat-r', (sock) => {
      sock.write(`HTTP/1.1 200 OK\r\nx-fat: ${'a'.repeat(200 * 1024)}\r\ncontent-length: 0\r\n\r\n`);
    });
    const good = await hostile('good-f', (sock, _req, h) => ok(sock, h.name));
    const id = await createApi(t, {
      name: 'fatresp',
      path: '/fatresp',
      algorithm: 'round_robin',
      retries: 1,
      health: { passive: null },
    });
    await addNode(t, id, fat);
    await addNode(t, id, good);
    for (let i = 0; i < 4; i++) expect(await t.nodeOf('/fatresp')).toBe('good-f');
    expect(traffic(fat).length).toBeGreaterThan(0);
    // A single fat node: the client gets a gateway error, not the node's head.
    const alone = await createApi(t, { name: 'fatalone', path: '/fatalone', health: { passive: null } });
    await addNode(t, alone, { name: 'fat-alone', url: fat.url });
    const res = await t.get('/fatalone');
    expect(res.status).toBe(502);
    expect(res.headers.get(ERROR_HEADER)).toBeTruthy();
    expect(res.headers.get('x-fat')).toBeNull();
  });

  it('every node slow: a GET with retries: 10 tries each node once (nodes − 1 retries), then 504, in bounded time', async () => {
    const slow = await Promise.all(['s1', 's2', 's3'].map((n) => hostile(n, () => undefined)));
    const id = await createApi(t, {
      name: 'allslow',
      path: '/allslow',
      algorithm: 'round_robin',
      retries: 10,
      timeouts: { headersMs: 300 },
      health: { passive: null },
    });
    for (const s of slow) await addNode(t, id, s);
    const started = Date.now();
    const res = await t.get('/allslow');
    await res.arrayBuffer();
    const ms = Date.now() - started;
    expect(res.status).toBe(504);
    expect(res.headers.get(ERROR_HEADER)).toBe('UPSTREAM_TIMEOUT');
    expect(slow.map((s) => s.seen.length)).toEqual([1, 1, 1]);
    expect(ms).toBeLessThan(5_000);
    // Each hung try's connection was closed, not left open on the node.
    await settle(200);
    expect(slow.reduce((n, s) => n + s.sockets.size, 0)).toBe(0);
    expect(Object.values(await health(t, id)).map((n) => n.inFlight)).toEqual([0, 0, 0]);
  });

  it('a PUT body over the 64 KiB buffer is streamed once and never resent; a small one is resent byte for byte', async () => {
    const busy = await hostile('busy-b', (sock, _req, h) => ok(sock, h.name, 503, 'retry-after: 7\r\n'));
    const good = await hostile('good-b', (sock, _req, h) => ok(sock, h.name));
    const id = await createApi(t, {
      name: 'bigput',
      path: '/bigput',
      algorithm: 'round_robin',
      retries: 1,
      health: { passive: null },
    });
    await addNode(t, id, busy);
    await addNode(t, id, good);
    const big = Buffer.alloc(100 * 1024, 0x7a);
    const small = Buffer.from('small-body-' + 'q'.repeat(1000));
    const bigAnswers: Array<[number, string | null]> = [];
    const smallAnswers: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r1 = await t.get('/bigput', { method: 'PUT', body: big });
      await r1.arrayBuffer();
      bigAnswers.push([r1.status, r1.headers.get('retry-after')]);
      const r2 = await t.get('/bigput', { method: 'PUT', body: small });
      await r2.arrayBuffer();
      smallAnswers.push(r2.status);
    }
    // Big bodies: the ones that went to `busy` got its 503 (with its Retry-After) as is, never resent.
    expect(bigAnswers.filter(([s]) => s === 503).length).toBeGreaterThan(0);
    for (const [s, ra] of bigAnswers) if (s === 503) expect(ra).toBe('7');
    const bigSeen = [...busy.seen, ...good.seen].filter((r) => r.body.length === big.length);
    expect(bigSeen.length).toBe(4);
    for (const r of bigSeen) expect(r.body.equals(big)).toBe(true);
    // Small bodies: always answered by `good`, the resent copy identical.
    expect(smallAnswers).toEqual([200, 200, 200, 200]);
    for (const r of good.seen.filter((x) => x.body.length === small.length)) expect(r.body.equals(small)).toBe(true);
  });

  // Fixed: a TLS handshake failure (an https node with a certificate the gateway does not trust) means
  // the node never saw the request, exactly like a connect failure, but failureKind() in
  // src/gateway/stages/proxy.ts classes TlsHandshakeError as 'reset', so a POST is not retried on the
  // next node and the client gets 502 UPSTREAM_ERROR although a healthy node was there. Fix: treat
  // TlsHandshakeError like ConnectError for retries (kind 'connect'; it may keep its own error code).
  it('a POST whose first node fails the TLS handshake (bad certificate) is retried on another node', async () => {
    const tlsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls');
    let httpRequests = 0;
    let handshakes = 0;
    const bad = createHttpsServer(
      { key: readFileSync(join(tlsDir, 'untrusted-key.pem')), cert: readFileSync(join(tlsDir, 'untrusted-cert.pem')) },
      (_req, res) => {
        httpRequests++;
        res.end('should never be reached');
      },
    );
    bad.on('secureConnection', () => handshakes++);
    bad.on('tlsClientError', () => handshakes++);
    servers.push(bad);
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
    const badUrl = `https://127.0.0.1:${(bad.address() as AddressInfo).port}`;
    const good = await hostile('good-t', (sock, _req, h) => ok(sock, h.name));
    const id = await createApi(t, {
      name: 'badtls',
      path: '/badtls',
      algorithm: 'round_robin',
      retries: 1,
      health: { passive: null },
    });
    await addNode(t, id, { name: 'badcert', url: badUrl });
    await addNode(t, id, good);
    const gets: string[] = [];
    for (let i = 0; i < 2; i++) gets.push(await t.nodeOf('/badtls'));
    expect(gets).toEqual(['good-t', 'good-t']); // GET is retried (idempotent)
    const posts: string[] = [];
    for (let i = 0; i < 4; i++) posts.push(await t.nodeOf('/badtls', { method: 'POST', body: 'p' }));
    expect(handshakes).toBeGreaterThan(0);
    expect(httpRequests).toBe(0); // the bad node never saw a request
    expect(posts).toEqual(['good-t', 'good-t', 'good-t', 'good-t']);
  });

  it('panic: every node fails and is ejected; traffic still tries them, does not lengthen the ejections, and /status, health and metrics agree', async () => {
    const downs = await Promise.all(
      ['p1', 'p2', 'p3'].map((n) => hostile(n, (sock, _req, h) => ok(sock, h.name, 503, 'retry-after: 1\r\n'))),
    );
    const id = await createApi(t, {
      name: 'panicall',
      path: '/panicall',
      algorithm: 'round_robin',
      retries: 2,
      health: { passive: { consecutiveFailures: 1, baseEjectionMs: 60_000 } },
    });
    for (const d of downs) await addNode(t, id, d);
    // One request: three tries, each node failing once, every node ejected.
    const first = await t.get('/panicall');
    await first.arrayBuffer();
    expect(first.status).toBe(503);
    expect(downs.map((d) => d.seen.length)).toEqual([1, 1, 1]);
    const before = await health(t, id);
    expect(Object.values(before).map((n) => n.state)).toEqual(['ejected', 'ejected', 'ejected']);
    // Panic (use-all): requests still reach the nodes, each still at most 3 tries.
    for (let i = 0; i < 5; i++) {
      const r = await t.get('/panicall');
      await r.arrayBuffer();
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
    }
    expect(downs.reduce((n, d) => n + d.seen.length, 0)).toBe(18);
    const after = await health(t, id);
    for (const name of ['p1', 'p2', 'p3']) {
      expect(after[name]!.ejectedUntil).toBe(before[name]!.ejectedUntil);
      expect(after[name]!.ejections).toBe(1);
      expect(after[name]!.inFlight).toBe(0);
    }
    expect((await fetch(`${t.statusUrl}/status`)).status).toBe(200);
    const scrape = parseMetrics(await (await fetch(`${t.statusUrl}/metrics`)).text());
    const gauges = scrape.samples.filter((s) => s.name === 'isogate_node_healthy' && s.labels['api'] === 'panicall');
    expect(gauges.map((s) => s.value)).toEqual([0, 0, 0]);
    // reject: NO_HEALTHY_NODE without trying anyone.
    expect((await t.admin('PATCH', `/admin/apis/${id}`, { health: { panic: 'reject' } })).status).toBe(200);
    const seen = downs.reduce((n, d) => n + d.seen.length, 0);
    const rej = await t.get('/panicall');
    await rej.arrayBuffer();
    expect(rej.status).toBe(503);
    expect(rej.headers.get(ERROR_HEADER)).toBe('NO_HEALTHY_NODE');
    expect(downs.reduce((n, d) => n + d.seen.length, 0)).toBe(seen);
  });

  // Fixed: an ejection that runs out is ended lazily, at the first later look (a request, a health
  // view, a metrics scrape), and NodeHealth#endEjection records *that* moment as the ejection's end
  // (src/health/registry.ts: state() calls #endEjection(now), not at #ejectedUntil). The multiplier's
  // decay ("drops by one for every baseEjectionMs the node then stays in") then counts from the first
  // request after a quiet spell instead of from when the ejection really ended, so a node that sat
  // out a quiet night is ejected for 2× base (3×, …) on its next failures instead of 1× (and `since`
  // says the node came back later than it did). Fix: end an expired ejection at #ejectedUntil.
  it('an ejection that ended during a quiet spell decays the backoff multiplier from when it ended', async () => {
    const bad = await hostile('decay', (sock, _req, h) => ok(sock, h.name, 503));
    const id = await createApi(t, {
      name: 'decay',
      path: '/decay',
      health: { passive: { consecutiveFailures: 1, baseEjectionMs: 200, maxEjectionMs: 60_000 } },
    });
    await addNode(t, id, bad);
    const first = await t.get('/decay');
    await first.arrayBuffer();
    expect(first.status).toBe(503);
    const ejectedAt = Date.now();
    // Quiet: no request, no health view, no scrape for 7 base periods (the ejection ended after 1).
    await settle(1_400);
    const second = await t.get('/decay'); // panic is not needed: the ejection is over, the node is in
    await second.arrayBuffer();
    expect(second.status).toBe(503);
    expect(traffic(bad).length).toBe(2);
    const v = (await health(t, id))['decay']!;
    expect(v.state).toBe('ejected');
    // In for ~1.2 s = 6 base periods since its ejection ended: the multiplier decayed to 0, so 1 × base.
    expect(v.ejections).toBe(1);
    expect(Date.parse(v.ejectedUntil!) - ejectedAt).toBeLessThan(1_400 + 300);
  });

  it('a burst of concurrent requests to failing and hanging nodes leaves no request counted in flight', async () => {
    const [good] = await flaky.start('burst-good');
    const hang = await hostile('burst-hang', () => undefined);
    const rst = await hostile('burst-rst', (sock) => void sock.resetAndDestroy());
    const id = await createApi(t, {
      name: 'burst',
      path: '/burst',
      algorithm: 'round_robin',
      retries: 2,
      // Every GET must be retried past the bad nodes: no retry budget (its default would answer some as they failed).
      retry: { budgetPercent: null },
      timeouts: { headersMs: 200 },
      health: { passive: { consecutiveFailures: 3, baseEjectionMs: 200 } },
    });
    await addNode(t, id, good!);
    await addNode(t, id, hang);
    await addNode(t, id, rst);
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        t
          .get('/burst', { method: i % 3 === 0 ? 'POST' : 'GET', body: i % 3 === 0 ? 'b' : undefined })
          .then(async (r) => {
            await r.arrayBuffer();
            return r.status;
          })
          .catch(() => -1),
      ),
    );
    expect(results.filter((s) => s === -1)).toEqual([]);
    // Every GET got the good node's answer (retried past the bad ones).
    expect(results.filter((s, i) => i % 3 !== 0 && s !== 200)).toEqual([]);
    await settle(300);
    const v = await health(t, id);
    expect(Object.values(v).map((n) => n.inFlight)).toEqual([0, 0, 0]);
    expect((await fetch(`${t.statusUrl}/status`)).status).toBe(200);
  });
});
