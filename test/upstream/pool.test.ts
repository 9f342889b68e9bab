import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  BadResponseError,
  BodyTimeoutError,
  ConnectError,
  HeadersTimeoutError,
  PoolClosedError,
  QueueFullError,
  QueueTimeoutError,
  SocketClosedError,
} from '../../src/upstream/errors.js';
import { UpstreamPool, type UpstreamPoolOptions } from '../../src/upstream/pool.js';
import type { UpstreamRequest } from '../../src/upstream/types.js';
import { closedPort } from '../helpers/upstreams.js';

const servers: Array<Server | TcpServer> = [];
const pools: UpstreamPool[] = [];

afterEach(() => {
  for (const p of pools.splice(0)) p.destroy();
});
afterAll(async () => {
  for (const s of servers) {
    if ('closeAllConnections' in s) s.closeAllConnections();
    s.close();
  }
});

/** A node:http upstream that counts its connections and answers with what it received. */
async function httpUpstream(
  handler?: (
    req: IncomingMessage,
    body: string,
  ) => { status?: number; headers?: Record<string, string>; body?: string },
) {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const out = handler?.(req, body) ?? {};
      res.writeHead(out.status ?? 200, { 'content-type': 'application/json', ...out.headers });
      res.end(out.body ?? JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    open: () => sockets.size,
    server,
  };
}

/** A TCP upstream that answers every request with `reply(socket)`. */
async function rawUpstream(reply: (socket: Socket, request: string) => void): Promise<string> {
  const server = createTcpServer((socket) => {
    let seen = '';
    socket.on('data', (d) => {
      seen += d.toString('latin1');
      if (seen.includes('\r\n\r\n')) {
        const request = seen;
        seen = '';
        reply(socket, request);
      }
    });
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function pool(origin: string, options: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  const p = new UpstreamPool(origin, {
    connections: 8,
    keepAliveMs: 10_000,
    connectMs: 1_000,
    maxWaiting: 1_024,
    waitMs: 10_000,
    ...options,
  });
  pools.push(p);
  return p;
}

interface Result {
  status: number;
  headers: string[];
  body: string;
}

/** Sends one request through the pool and collects the answer (rejects with the pool's error). */
function send(
  p: UpstreamPool,
  req: Partial<UpstreamRequest> = {},
  onAbort?: (abort: (err: Error) => void) => void,
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const out: Result = { status: 0, headers: [], body: '' };
    p.dispatch(
      {
        method: 'GET',
        path: '/',
        headers: ['host', 'upstream'],
        body: null,
        headersTimeout: 2_000,
        bodyTimeout: 2_000,
        maxBodyBytes: Infinity,
        ...req,
      },
      {
        onConnect: (abort) => onAbort?.(abort),
        onHeaders: (status, headers) => {
          if (status >= 200) Object.assign(out, { status, headers });
          return true;
        },
        onData: (chunk) => {
          out.body += chunk.toString('latin1');
          return true;
        },
        onComplete: (last) => {
          if (last !== null) out.body += last.toString('latin1');
          resolve(out);
        },
        onError: reject,
      },
    );
  });
}

describe('UpstreamPool', () => {
  it('reuses one keep-alive connection for requests one after another', async () => {
    const up = await httpUpstream();
    const p = pool(up.origin);
    for (let i = 0; i < 5; i++) {
      const r = await send(p, { path: `/n/${i}?q=1`, headers: ['host', 'upstream', 'X-Trace', String(i)] });
      expect(r.status).toBe(200);
      const echoed = JSON.parse(r.body);
      expect(echoed).toMatchObject({
        method: 'GET',
        url: `/n/${i}?q=1`,
        headers: { host: 'upstream', 'x-trace': String(i) },
      });
    }
    expect(up.connections()).toBe(1);
  });

  it('opens at most `connections` sockets and queues the rest in order', async () => {
    const up = await httpUpstream();
    const p = pool(up.origin, { connections: 2 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => send(p, { path: `/${i}` })));
    expect(results.map((r) => JSON.parse(r.body).url)).toEqual(Array.from({ length: 10 }, (_, i) => `/${i}`));
    expect(up.connections()).toBe(2);
  });

  it('sends a buffered body with its own length, and a stream with or without one', async () => {
    const up = await httpUpstream();
    const p = pool(up.origin);
    const buffered = JSON.parse(
      (await send(p, { method: 'POST', headers: ['host', 'u', 'content-length', '999'], body: Buffer.from('abc') }))
        .body,
    );
    expect(buffered).toMatchObject({ body: 'abc', headers: { 'content-length': '3' } });
    const chunked = JSON.parse(
      (
        await send(p, {
          method: 'POST',
          body: Readable.from([Buffer.from('one,'), Buffer.alloc(0), Buffer.from('two')]),
        })
      ).body,
    );
    expect(chunked).toMatchObject({ body: 'one,two', headers: { 'transfer-encoding': 'chunked' } });
    const sized = JSON.parse(
      (
        await send(p, {
          method: 'PUT',
          headers: ['host', 'u', 'Content-Length', '6'],
          body: Readable.from([Buffer.from('abc'), Buffer.from('def')]),
        })
      ).body,
    );
    expect(sized).toMatchObject({ body: 'abcdef', headers: { 'content-length': '6' } });
    expect(sized.headers['transfer-encoding']).toBeUndefined();
    expect(up.connections()).toBe(1);
  });

  it('body chunks stay as they were when the handler keeps them, across many reads and connections', async () => {
    // The pool reads every plain connection into one shared buffer: what it hands out must be the
    // handler's to keep (a client socket that is full holds on to it until it drains).
    const payloads = [0, 1].map((k) => Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7 + k * 13) % 251)));
    const origin = await rawUpstream((socket, request) => {
      const payload = payloads[request.startsWith('GET /1') ? 1 : 0]!;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${payload.length}\r\n\r\n`);
      // In pieces with pauses between them, so the response takes many reads.
      let at = 0;
      const next = () => {
        if (at >= payload.length) return;
        socket.write(payload.subarray(at, (at += 4096)));
        setImmediate(next);
      };
      next();
    });
    const p = pool(origin);
    const collect = (path: string) =>
      new Promise<Buffer>((resolve, reject) => {
        const kept: Buffer[] = [];
        p.dispatch(
          {
            method: 'GET',
            path,
            headers: ['host', 'upstream'],
            body: null,
            headersTimeout: 2_000,
            bodyTimeout: 2_000,
            maxBodyBytes: Infinity,
          },
          {
            onConnect: () => {},
            onHeaders: () => true,
            onData: (chunk) => (kept.push(chunk), true),
            onComplete: (last) => {
              if (last !== null) kept.push(last);
              resolve(Buffer.concat(kept));
            },
            onError: reject,
          },
        );
      });
    const [a, b] = await Promise.all([collect('/0'), collect('/1')]);
    expect(a.equals(payloads[0]!)).toBe(true);
    expect(b.equals(payloads[1]!)).toBe(true);
  });

  it('an upload still arriving keeps the response-headers timeout from running out', async () => {
    const up = await httpUpstream();
    const slowBody = new Readable({ read() {} });
    let sent = 0;
    const timer = setInterval(() => {
      slowBody.push(Buffer.from(`part${sent};`));
      if (++sent === 8) {
        clearInterval(timer);
        slowBody.push(null);
      }
    }, 50);
    // 8 parts 50 ms apart: twice the 200 ms headers timeout, which each written part restarts.
    const r = await send(pool(up.origin), { method: 'POST', body: slowBody, headersTimeout: 200 });
    expect(JSON.parse(r.body).body).toBe(Array.from({ length: 8 }, (_, i) => `part${i};`).join(''));
  });

  it('passes chunked and close-delimited response bodies through decoded', async () => {
    const chunkedOrigin = await rawUpstream((s) =>
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
    );
    expect((await send(pool(chunkedOrigin))).body).toBe('abc');
    const closeOrigin = await rawUpstream((s) =>
      s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end'),
    );
    const p = pool(closeOrigin);
    expect((await send(p)).body).toBe('until the end');
    expect((await send(p)).body).toBe('until the end'); // a new connection: the old one ended with its body
  });

  it('does not reuse a connection the node asked to close or is about to close', async () => {
    const closing = await httpUpstream(() => ({ headers: { connection: 'close' } }));
    const p1 = pool(closing.origin);
    await send(p1);
    await send(p1);
    expect(closing.connections()).toBe(2);
    const shortKeepAlive = await httpUpstream();
    shortKeepAlive.server.keepAliveTimeout = 1_000; // announced as Keep-Alive: timeout=1, within the safety margin
    const p2 = pool(shortKeepAlive.origin);
    await send(p2);
    await send(p2);
    expect(shortKeepAlive.connections()).toBe(2);
  });

  it('fails with one error class per failure: the system code when the node refuses, timeout classes when it is slow', async () => {
    const refused = send(pool(`http://127.0.0.1:${await closedPort()}`));
    await expect(refused).rejects.toBeInstanceOf(ConnectError);
    await expect(refused).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const silent = await rawUpstream(() => {});
    const slowHead = send(pool(silent), { headersTimeout: 100 });
    await expect(slowHead).rejects.toBeInstanceOf(HeadersTimeoutError);
    await expect(slowHead).rejects.toMatchObject({ code: 'UPSTREAM_HEADERS_TIMEOUT' });
    const stalls = await rawUpstream((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    await expect(send(pool(stalls), { bodyTimeout: 100 })).rejects.toBeInstanceOf(BodyTimeoutError);
    const cuts = await rawUpstream((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    await expect(send(pool(cuts))).rejects.toBeInstanceOf(SocketClosedError);
    const garbage = await rawUpstream((s) => s.write('SSH-2.0-OpenSSH\r\n\r\n'));
    const bad = send(pool(garbage));
    await expect(bad).rejects.toBeInstanceOf(BadResponseError);
    await expect(bad).rejects.toMatchObject({ code: 'UPSTREAM_BAD_RESPONSE' });
  });

  it('bounds the requests waiting for a connection: past maxWaiting they fail at once, and none waits past waitMs', async () => {
    const slow = await httpUpstream();
    slow.server.removeAllListeners('request');
    slow.server.on('request', (_req, res) => setTimeout(() => res.end('late'), 1_500));
    const p = pool(slow.origin, { connections: 1, maxWaiting: 2, waitMs: 300 });
    const running = send(p);
    const waiting = [send(p), send(p)];
    expect(p.waiting).toBe(2);
    await expect(send(p)).rejects.toBeInstanceOf(QueueFullError);
    for (const w of waiting) await expect(w).rejects.toBeInstanceOf(QueueTimeoutError);
    expect(p.waiting).toBe(0);
    expect((await running).body).toBe('late');
  });

  it('abort ends a running or a queued request with the given error, and the pool goes on', async () => {
    const slow = await httpUpstream();
    slow.server.removeAllListeners('request');
    slow.server.on('request', (_req, res) => setTimeout(() => res.end('late'), 300));
    const p = pool(slow.origin, { connections: 1 });
    let abortRunning: ((err: Error) => void) | undefined;
    let abortQueued: ((err: Error) => void) | undefined;
    const running = send(p, {}, (a) => (abortRunning = a));
    const queued = send(p, {}, (a) => (abortQueued = a));
    const third = send(p);
    abortQueued!(new Error('client went away'));
    await expect(queued).rejects.toThrow('client went away');
    abortRunning!(new Error('deadline'));
    await expect(running).rejects.toThrow('deadline');
    expect((await third).body).toBe('late');
  });

  it('close() lets running requests finish, then closes every connection; later requests fail', async () => {
    const up = await httpUpstream();
    const p = pool(up.origin);
    await send(p);
    const inFlight = send(p, { path: '/last' });
    await p.close();
    expect(JSON.parse((await inFlight).body).url).toBe('/last');
    expect(p.size).toBe(0);
    await expect(send(p)).rejects.toBeInstanceOf(PoolClosedError);
  });

  it('sends a replayable request once more on a new connection when a reused one closes before any byte of its answer', async () => {
    // Each connection answers its first request and closes at its second without a byte: a node
    // closing an idle keep-alive connection just as the gateway reuses it.
    let connections = 0;
    const requests: string[] = [];
    const origin = await rawUpstream((socket, request) => {
      requests.push(request.split(' ', 2).join(' '));
      const n = ((socket as Socket & { n?: number }).n ??= (connections++, 0));
      (socket as Socket & { n?: number }).n = n + 1;
      if (n === 0) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      else socket.destroy();
    });
    const p = pool(origin);
    expect((await send(p, { path: '/first' })).body).toBe('ok');
    // Replayable: sent again on a new connection, answered there.
    expect((await send(p, { path: '/again', replayable: true })).body).toBe('ok');
    expect(requests).toEqual(['GET /first', 'GET /again', 'GET /again']);
    expect(connections).toBe(2);
    // Not replayable (a POST the API does not retry): the failure is the caller's to handle.
    await expect(send(p, { method: 'POST', path: '/once', body: Buffer.from('x') })).rejects.toBeInstanceOf(
      SocketClosedError,
    );
    expect(requests.filter((r) => r === 'POST /once')).toHaveLength(1);
    // A replay whose new connection closes too fails: a request is sent twice at most.
    let answered = 0;
    const seen: string[] = [];
    const once = await rawUpstream((socket, request) => {
      seen.push(request.split(' ', 2).join(' '));
      if (answered++ === 0) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      else socket.destroy();
    });
    const q = pool(once);
    expect((await send(q, { path: '/first' })).body).toBe('ok');
    await expect(send(q, { path: '/twice', replayable: true })).rejects.toBeInstanceOf(SocketClosedError);
    expect(seen).toEqual(['GET /first', 'GET /twice', 'GET /twice']);
  });
});
