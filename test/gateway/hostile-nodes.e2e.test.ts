/**
 * Hostile or broken nodes, through real sockets: the node is a raw `node:net` server on 127.0.0.1 that
 * sends exactly the bytes of each case, and the client is a raw socket too, so nothing in between
 * normalises the framing. What must hold whatever a node sends: a half-framed answer never reaches a
 * client as a complete one, bytes the node sent past its answer are never read as the answer to another
 * client's request on a reused keep-alive connection, memory stays bounded, timeouts carry the name of
 * the phase that ran out, and a request that may have reached a node is never sent twice unless its
 * method is idempotent. The gateway runs with `--upstream-connections 1`, so that a node's one
 * connection is the one a second request reuses (or waits for), which makes reuse deterministic.
 * Causes are read from the access log (`upstreamError`), never from timing.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import {
  expectGatewayError,
  get,
  HOST,
  IncompleteResponse,
  msg,
  RawClient,
  sleep,
  type WireResponse,
} from '../helpers/raw-client.js';

// ---------------------------------------------------------------------------------------------
// Raw nodes
// ---------------------------------------------------------------------------------------------

/** One request as a raw node read it. */
interface NodeRequest {
  method: string;
  path: string;
  head: string;
  /** 1-based number of the node's connection it came on, and its number on that connection. */
  conn: number;
  nth: number;
  socket: Socket;
}

/** A raw TCP node: parses request heads (and Content-Length bodies), lets the test answer with exact bytes. */
class RawNode {
  connections = 0;
  closed = 0;
  readonly requests: NodeRequest[] = [];
  readonly sockets = new Set<Socket>();
  url = '';

  private constructor(readonly server: Server) {}

  static async start(onRequest: (r: NodeRequest) => void, opts: { pauseOnConnect?: boolean } = {}): Promise<RawNode> {
    const server = createServer({ pauseOnConnect: opts.pauseOnConnect === true });
    const node = new RawNode(server);
    server.on('connection', (socket) => {
      const conn = ++node.connections;
      node.sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        node.closed++;
        node.sockets.delete(socket);
      });
      if (opts.pauseOnConnect) return; // never reads
      let buf = Buffer.alloc(0);
      let nth = 0;
      let raw = false; // a chunked request body: the rest is the test's to read
      socket.on('data', (data: Buffer) => {
        if (raw) return;
        buf = Buffer.concat([buf, data]);
        for (let guard = 0; guard < 100; guard++) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            if (buf.length > 64 * 1024) socket.destroy();
            return;
          }
          const head = buf.toString('latin1', 0, end);
          const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
          const chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
          if (!chunked && buf.length < end + 4 + length) return;
          buf = chunked ? Buffer.alloc(0) : buf.subarray(end + 4 + length);
          const [method = '', path = ''] = head.split(' ', 2);
          const r: NodeRequest = { method, path, head, conn, nth: ++nth, socket };
          node.requests.push(r);
          if (chunked) raw = true;
          onRequest(r);
          if (raw || socket.destroyed) return;
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    node.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    nodes.push(node);
    return node;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

const nodes: RawNode[] = [];

/** A normal answer, and a complete second answer a broken node sends where it must not. */
const FRESH = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh';
const SMUGGLED = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON';

// ---------------------------------------------------------------------------------------------
// Gateway, APIs, access log
// ---------------------------------------------------------------------------------------------

let t: TestGateway;
let port: number;
const accessLines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  const logger = pino(
    { level: 'info' },
    {
      write(s: string) {
        for (const line of s.split('\n')) {
          if (line === '') continue;
          try {
            const rec = JSON.parse(line) as Record<string, unknown>;
            if (rec.component === 'access') accessLines.push(rec);
          } catch {
            // not a JSON line
          }
        }
      },
    },
  );
  t = await startTestGateway(['--upstream-connections', '1'], {}, logger);
  port = t.app.gateway!.port;
});

afterAll(async () => {
  await t?.stop();
  for (const n of nodes) n.close();
});

let apiSeq = 0;

/** A new API on `/hN/*` over the given nodes (round robin, no retries, no passive checks unless asked); its prefix. */
async function api(over: RawNode[], extra: Record<string, unknown> = {}): Promise<string> {
  const n = ++apiSeq;
  const prefix = `/h${n}`;
  const id = await createApi(t, {
    name: `hostile-${n}`,
    path: `${prefix}/*`,
    algorithm: 'round_robin',
    retries: 0,
    health: { passive: null },
    timeouts: { headersMs: 2_000, bodyMs: 2_000 },
    ...extra,
  });
  for (const [i, node] of over.entries()) await addNode(t, id, { name: `h${n}-n${i}`, url: node.url });
  return prefix;
}

/** The access-log line of the request to `path` (waits for the log's batch, bounded). */
async function accessOf(path: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    const line = accessLines.find((l) => l.path === path);
    if (line) return line;
    await sleep(20);
  }
  throw new Error(`no access-log line for ${path}`);
}

/** Polls `cond` every 10 ms, at most `ms`; returns its last value. */
async function waitFor(cond: () => boolean, ms = 3_000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 10) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

/** One request on its own client connection; the answer, or the IncompleteResponse that cut it. */
async function ask(request: string, opts: { head?: boolean; timeoutMs?: number } = {}): Promise<WireResponse> {
  const c = await RawClient.connect(port);
  c.write(request);
  try {
    const [res] = await c.read(1, { head: opts.head, timeoutMs: opts.timeoutMs ?? 5_000 });
    return res!;
  } finally {
    c.destroy();
  }
}

/** Like `ask`, but a cut answer is a result: `null`. */
async function askOrCut(request: string, timeoutMs = 5_000): Promise<WireResponse | null> {
  try {
    return await ask(request, { timeoutMs });
  } catch (err) {
    if (err instanceof IncompleteResponse) return null;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Desync and pool poisoning
// ---------------------------------------------------------------------------------------------

describe('bytes a node sends past its answer never become another client’s answer', () => {
  it('a second response in the same read as the first: the first client gets its answer, the waiting one its own', async () => {
    const node = await RawNode.start((r) => {
      if (r.path.endsWith('/first'))
        // Answered late, so the second client's request is waiting for this one connection.
        setTimeout(() => r.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok${SMUGGLED}`), 200);
      else r.socket.write(FRESH);
    });
    const p = await api([node]);
    const a = ask(get(`${p}/first`));
    expect(await waitFor(() => node.requests.length === 1)).toBe(true);
    const b = ask(get(`${p}/second`));
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.status).toBe(200);
    expect(ra.text).toBe('ok');
    expect(rb.status).toBe(200);
    expect(rb.text).toBe('fresh');
    // The poisoned connection was dropped: the second request came on a new one.
    expect(node.requests.map((r) => r.conn)).toEqual([1, 2]);
    const rc = await ask(get(`${p}/third`));
    expect(rc.text).toBe('fresh');
  });

  it('an unsolicited response on an idle keep-alive connection closes it; the next request gets its own answer', async () => {
    const node = await RawNode.start((r) => {
      if (r.conn === 1 && r.nth === 1) {
        r.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none');
        setTimeout(() => r.socket.write(SMUGGLED), 50);
      } else r.socket.write(FRESH);
    });
    const p = await api([node]);
    expect((await ask(get(`${p}/1`))).text).toBe('one');
    // The gateway hangs up the connection the node spoke on unasked.
    expect(await waitFor(() => node.closed >= 1)).toBe(true);
    const r2 = await ask(get(`${p}/2`));
    expect(r2.text).toBe('fresh');
    expect(node.requests.map((r) => r.conn)).toEqual([1, 2]);
  });

  it.each([
    ['HEAD answered 200 with a length', 'HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n', 200],
    ['204', 'GET', 'HTTP/1.1 204 No Content\r\n\r\n', 204],
    ['304 with a length', 'GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 6\r\n\r\n', 304],
    ['204 claiming chunked', 'GET', 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n', 204],
  ] as const)(
    'a body on an answer that has none (%s) is not read as the waiting client’s answer',
    async (_name, method, head, status) => {
      const node = await RawNode.start((r) => {
        if (r.path.endsWith('/bodiless')) setTimeout(() => r.socket.write(head + SMUGGLED), 200);
        else r.socket.write(FRESH);
      });
      const p = await api([node]);
      const a = ask(msg(`${method} ${p}/bodiless HTTP/1.1`, [HOST]), { head: method === 'HEAD' });
      expect(await waitFor(() => node.requests.length === 1)).toBe(true);
      const b = ask(get(`${p}/next`));
      const [ra, rb] = await Promise.all([a, b]);
      expect(ra.status).toBe(status);
      expect(ra.body.length).toBe(0);
      expect(rb.status).toBe(200);
      expect(rb.text).toBe('fresh');
      expect(node.requests.map((r) => r.conn)).toEqual([1, 2]);
    },
  );

  it('an answer that comes before the request body is finished: its connection is never reused', async () => {
    const node = await RawNode.start((r) => {
      // Answers a streamed upload at once, keep-alive, without reading the body.
      if (r.method === 'POST') r.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly');
      else r.socket.write(FRESH);
    });
    const p = await api([node], { maxBodyBytes: 1024 * 1024 });
    const c = await RawClient.connect(port);
    try {
      c.write(msg(`POST ${p}/up HTTP/1.1`, [HOST, 'Transfer-Encoding: chunked'], '5\r\nhello\r\n'));
      const [ra] = await c.read(1);
      expect(ra!.status).toBe(200);
      expect(ra!.text).toBe('early');
      const rb = await ask(get(`${p}/after`));
      expect(rb.text).toBe('fresh');
      // The half-written request's connection was dropped, not handed to the next request.
      expect(node.requests.map((r) => [r.method, r.conn])).toEqual([
        ['POST', 1],
        ['GET', 2],
      ]);
      expect(await waitFor(() => node.closed >= 1)).toBe(true);
    } finally {
      c.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Heads the gateway must refuse, and odd ones it may pass on
// ---------------------------------------------------------------------------------------------

/** Heads (with bodies) that are refused before any byte reaches the client: 502 UPSTREAM_ERROR, UPSTREAM_BAD_RESPONSE. */
const REFUSED: Record<string, string> = {
  'content-length-then-chunked':
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
  'chunked-then-content-length':
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n',
  'content-length-differs': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk',
  'content-length-plus': 'HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok',
  'content-length-negative': 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok',
  'content-length-hex': 'HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok',
  'space-before-colon': 'HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok',
  'bare-cr-in-value': 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok',
  'nul-in-value': 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok',
  'bare-lf-line': 'HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 2\r\n\r\nok',
  'obs-fold': 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok',
  'status-000': 'HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok',
  'status-two-digits': 'HTTP/1.1 99 Low\r\nContent-Length: 2\r\n\r\nok',
  'status-four-digits': 'HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok',
  'status-no-space-reason': 'HTTP/1.1 200OK\r\nContent-Length: 2\r\n\r\nok',
  'http-2.0': 'HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'http-1.2': 'HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'lowercase-http': 'http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'switching-protocols-unasked':
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nok',
  'interim-that-closes':
    'HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'interim-flood': `${'HTTP/1.1 100 Continue\r\n\r\n'.repeat(1_000)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`,
  'early-hints-flood': `${'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'.repeat(9)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`,
  'head-over-64k': `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\nContent-Length: 2\r\n\r\nok`,
};

/** Odd but valid answers: passed on with this status and body. */
const ACCEPTED: Record<string, [string, number, string]> = {
  'status-without-reason': ['HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok', 200, 'ok'],
  'status-empty-reason': ['HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok', 200, 'ok'],
  'eight-interim-answers': [
    `${'HTTP/1.1 100 Continue\r\n\r\n'.repeat(8)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`,
    200,
    'ok',
  ],
  'chunked-with-trailers': [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n',
    200,
    'ok',
  ],
  'chunk-size-12-digits-leading-zeros': [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000000000002\r\nok\r\n0\r\n\r\n',
    200,
    'ok',
  ],
};

describe('a node’s response head', () => {
  it.each(Object.keys(REFUSED))(
    'refused (%s): 502 UPSTREAM_ERROR, the node’s bytes never reach the client',
    async (name) => {
      // The node keeps its connection open: the refusal is the parser's, not a close.
      const node = await RawNode.start((r) => r.socket.write(Buffer.from(REFUSED[name]!, 'latin1')));
      const p = await api([node]);
      const path = `${p}/${name}`;
      const res = await ask(get(path));
      expectGatewayError(res, 'UPSTREAM_ERROR');
      expect(res.text).not.toContain('ok');
      expect((await accessOf(path)).upstreamError).toBe('UPSTREAM_BAD_RESPONSE');
      // A connection that spoke garbage is closed, not pooled.
      expect(await waitFor(() => node.closed >= 1)).toBe(true);
    },
  );

  it.each(Object.keys(ACCEPTED))('accepted (%s): passed on as the one answer', async (name) => {
    const [bytes, status, body] = ACCEPTED[name]!;
    const node = await RawNode.start((r) => r.socket.write(Buffer.from(bytes, 'latin1')));
    const p = await api([node]);
    const res = await ask(get(`${p}/${name}`));
    expect(res.status).toBe(status);
    expect(res.text).toBe(body);
    expect(res.headers['x-trailer']).toBeUndefined();
  });

  it('103 Early Hints: its headers are not merged into the final answer', async () => {
    const node = await RawNode.start((r) =>
      r.socket.write(
        'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nX-Interim: yes\r\n\r\n' +
          'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal',
      ),
    );
    const p = await api([node]);
    const c = await RawClient.connect(port);
    try {
      c.write(get(`${p}/hints`));
      const [res] = await c.read(1);
      expect(res!.status).toBe(200);
      expect(res!.text).toBe('final');
      expect(res!.headers['x-interim']).toBeUndefined();
      expect(res!.headers.link).toBeUndefined();
      // Nothing else (no stray interim answer) follows on the client's connection.
      await sleep(50);
      expect(c.unreadBytes).toBe(0);
    } finally {
      c.destroy();
    }
  });

  it('an endless head is cut at its bound: 502, and the node’s connection is closed long before it is done', async () => {
    let sent = 0;
    let gone = false;
    const node = await RawNode.start((r) => {
      const s = r.socket;
      s.on('close', () => (gone = true));
      const line = `X-Filler: ${'a'.repeat(1_000)}\r\n`.repeat(64);
      void (async () => {
        s.write('HTTP/1.1 200 OK\r\n');
        // At most 16 MiB, and each wait for drain at most a second.
        for (let i = 0; i < 256 && !s.destroyed; i++) {
          sent += line.length;
          if (!s.write(line)) {
            await Promise.race([new Promise((res) => s.once('drain', res)), sleep(1_000)]);
          }
        }
      })();
    });
    const p = await api([node]);
    const path = `${p}/endless-head`;
    const res = await ask(get(path));
    expectGatewayError(res, 'UPSTREAM_ERROR');
    expect((await accessOf(path)).upstreamError).toBe('UPSTREAM_BAD_RESPONSE');
    expect(await waitFor(() => gone)).toBe(true);
    expect(sent).toBeLessThan(16 * 1024 * 1024);
  });
});

// ---------------------------------------------------------------------------------------------
// Bodies a node breaks
// ---------------------------------------------------------------------------------------------

/** Answers whose head is fine and whose body is not: no complete answer may reach the client. */
const BROKEN_BODIES: Record<string, { bytes: string; close?: 'end' | 'reset' }> = {
  'chunk-size-13-digits': {
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0000000000002\r\nok\r\n0\r\n\r\n',
  },
  'chunk-size-overflow': {
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nok\r\n0\r\n\r\n',
  },
  'chunk-longer-than-size': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokk\r\n0\r\n\r\n' },
  'chunk-line-endless': {
    bytes: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a=${'b'.repeat(9_000)}\r\nok\r\n0\r\n\r\n`,
  },
  'trailers-over-8k': {
    bytes: `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: ${'t'.repeat(9_000)}\r\n\r\n`,
  },
  'trailer-bare-cr': {
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: a\rb\r\n\r\n',
  },
  'chunked-closed-mid-chunk': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nok', close: 'end' },
  'chunked-closed-before-last-chunk': {
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n',
    close: 'end',
  },
  'length-closed-short': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok', close: 'end' },
  'length-reset-short': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok', close: 'reset' },
  'chunked-reset-mid-body': {
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n',
    close: 'reset',
  },
};

describe('a node’s broken body', () => {
  it.each(Object.keys(BROKEN_BODIES))('%s: the client never gets a complete answer', async (name) => {
    const { bytes, close } = BROKEN_BODIES[name]!;
    const node = await RawNode.start((r) => {
      r.socket.write(Buffer.from(bytes, 'latin1'));
      if (close === 'end') setTimeout(() => r.socket.end(), 50);
      else if (close === 'reset') setTimeout(() => r.socket.resetAndDestroy(), 50);
    });
    const p = await api([node]);
    const res = await askOrCut(get(`${p}/${name}`));
    // Cut after the head went on (null), or refused while the head was still held: the gateway's own error.
    if (res !== null) expectGatewayError(res, 'UPSTREAM_ERROR');
    expect(await waitFor(() => node.closed >= 1)).toBe(true);
  });

  it('a complete answer followed at once by a reset: the client gets it whole, the next request a new connection', async () => {
    const node = await RawNode.start((r) => {
      if (r.path.endsWith('/then-reset')) {
        r.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nwhole');
        r.socket.resetAndDestroy();
      } else r.socket.write(FRESH);
    });
    const p = await api([node]);
    const r1 = await ask(get(`${p}/then-reset`));
    expect(r1.status).toBe(200);
    expect(r1.text).toBe('whole');
    expect(await waitFor(() => node.closed >= 1)).toBe(true);
    const r2 = await ask(get(`${p}/after`));
    expect(r2.text).toBe('fresh');
    expect(node.requests.map((r) => r.conn)).toEqual([1, 2]);
  });

  it('a close-delimited body is complete at the node’s FIN, and that connection is not reused', async () => {
    const node = await RawNode.start((r) => {
      r.socket.write('HTTP/1.0 200 OK\r\nX-Old: yes\r\n\r\nold-style');
      setTimeout(() => r.socket.end(), 30);
    });
    const p = await api([node]);
    const r1 = await ask(get(`${p}/a`));
    expect(r1.status).toBe(200);
    expect(r1.text).toBe('old-style');
    // Re-framed for an HTTP/1.1 client: chunked, so a cut would show.
    expect(r1.framing).toBe('chunked');
    const r2 = await ask(get(`${p}/b`));
    expect(r2.text).toBe('old-style');
    expect(node.requests.map((r) => r.conn)).toEqual([1, 2]);
  });
});

// ---------------------------------------------------------------------------------------------
// Timeouts, named by their phase
// ---------------------------------------------------------------------------------------------

describe('slow nodes', () => {
  it('a head trickled a byte at a time does not keep the headers timeout alive: 504, UPSTREAM_HEADERS_TIMEOUT', async () => {
    let trickled = 0;
    const node = await RawNode.start((r) => {
      const s = r.socket;
      s.write('HTTP/1.1 200 OK\r\nX-Slow: ');
      const timer = setInterval(() => {
        // At most 150 bytes (3 s), stopping when the gateway hangs up.
        if (s.destroyed || trickled >= 150) {
          clearInterval(timer);
          return;
        }
        trickled++;
        s.write('a');
      }, 20);
      s.on('close', () => clearInterval(timer));
    });
    const p = await api([node], { timeouts: { headersMs: 300, bodyMs: 2_000 } });
    const path = `${p}/trickle-head`;
    const res = await ask(get(path));
    expectGatewayError(res, 'UPSTREAM_TIMEOUT');
    expect((await accessOf(path)).upstreamError).toBe('UPSTREAM_HEADERS_TIMEOUT');
    expect(await waitFor(() => node.closed >= 1)).toBe(true);
    expect(trickled).toBeLessThan(150);
  });

  it('a body that stops: the client is cut (no complete answer), UPSTREAM_BODY_TIMEOUT, the node’s connection closed', async () => {
    const node = await RawNode.start((r) => r.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab'));
    const p = await api([node], { timeouts: { headersMs: 2_000, bodyMs: 300 } });
    const path = `${p}/stalled-body`;
    const res = await askOrCut(get(path));
    expect(res).toBeNull();
    expect((await accessOf(path)).upstreamError).toBe('UPSTREAM_BODY_TIMEOUT');
    expect(await waitFor(() => node.closed >= 1)).toBe(true);
  });

  it('a node that never reads the request body: the upload stalls within bounded buffers, then 504', async () => {
    const node = await RawNode.start(() => {}, { pauseOnConnect: true });
    const p = await api([node], { timeouts: { headersMs: 600, bodyMs: 2_000 }, maxBodyBytes: 1024 * 1024 * 1024 });
    const path = `${p}/upload`;
    const s = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let ended = false;
    s.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
    s.on('end', () => (ended = true));
    s.on('error', () => (ended = true));
    try {
      await new Promise<void>((res, rej) => {
        s.once('connect', res);
        s.once('error', rej);
      });
      s.write(msg(`POST ${path} HTTP/1.1`, [HOST, 'Transfer-Encoding: chunked']));
      const piece = Buffer.alloc(64 * 1024, 0x61);
      const framed = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
      const limit = 256 * 1024 * 1024;
      let accepted = 0;
      let stalled = false;
      // At most 256 MiB; the upload counts as stalled when a write waits over 500 ms for 'drain'.
      while (accepted < limit && !ended && received.length === 0) {
        accepted += framed.length;
        if (!s.write(framed)) {
          const drained = await Promise.race([
            new Promise<boolean>((res) => s.once('drain', () => res(true))),
            sleep(500).then(() => false),
          ]);
          if (!drained) {
            stalled = true;
            break;
          }
        }
      }
      expect(stalled || received.length > 0).toBe(true);
      // Kernel buffers on both hops plus the gateway's small read-ahead; nowhere near the 256 MiB offered.
      expect(accepted).toBeLessThan(64 * 1024 * 1024);
      expect(await waitFor(() => received.includes('\r\n\r\n'), 5_000)).toBe(true);
      expect(received.toString('latin1')).toMatch(/^HTTP\/1\.1 504 /);
      expect(received.toString('latin1')).toMatch(/x-isogate-error: UPSTREAM_TIMEOUT/i);
      expect((await accessOf(path)).upstreamError).toBe('UPSTREAM_HEADERS_TIMEOUT');
    } finally {
      s.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Clients that leave, nodes that reset
// ---------------------------------------------------------------------------------------------

describe('a client that leaves mid-answer', () => {
  it.each(['length', 'endless-chunked'] as const)(
    'releases the node connection (%s body): closed, never pooled dirty, and the next client is served',
    async (kind) => {
      let chunks = 0;
      const node = await RawNode.start((r) => {
        const s = r.socket;
        if (!r.path.endsWith('/long')) {
          s.write(FRESH);
          return;
        }
        if (kind === 'length') {
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(10)}`);
          return;
        }
        s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        // An endless body: a chunk every 20 ms, at most 250 of them.
        const timer = setInterval(() => {
          if (s.destroyed || chunks >= 250) return clearInterval(timer);
          chunks++;
          s.write('5\r\nchunk\r\n');
        }, 20);
        s.on('close', () => clearInterval(timer));
      });
      const p = await api([node]);
      const c = await RawClient.connect(port);
      c.write(get(`${p}/long`));
      expect(await waitFor(() => c.received.includes('\r\n\r\n'))).toBe(true);
      c.destroy();
      expect(await waitFor(() => node.closed >= 1)).toBe(true);
      const chunksAtClose = chunks;
      // With one connection per origin, a leaked connection would leave this request waiting (503 queue timeout).
      const next = await ask(get(`${p}/next`));
      expect(next.status).toBe(200);
      expect(next.text).toBe('fresh');
      expect(node.requests.map((r) => r.conn)).toEqual([1, 2]);
      if (kind === 'endless-chunked') expect(chunksAtClose).toBeLessThan(250);
    },
  );
});

describe('a node that cuts its answer, to an HTTP/1.0 client', () => {
  // Fixed: a cut answer ends with a TCP reset (ClientResponse.destroy), not the FIN a complete close-delimited body ends with.
  it('a truncated chunked answer is not ended like a complete close-delimited one (RST, not FIN)', async () => {
    const node = await RawNode.start((r) => {
      r.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\npartial\r\n');
      setTimeout(() => r.socket.resetAndDestroy(), 50);
    });
    const p = await api([node]);
    const s = connect({ host: '127.0.0.1', port });
    let received = '';
    let fin = false;
    let reset = false;
    s.on('data', (d: Buffer) => (received += d.toString('latin1')));
    s.on('end', () => (fin = true));
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET') reset = true;
    });
    try {
      s.write(`GET ${p}/cut HTTP/1.0\r\n${HOST}\r\n\r\n`);
      expect(await waitFor(() => fin || reset, 5_000)).toBe(true);
      expect(received).toMatch(/^HTTP\/1\.1 200 /);
      expect(received.toLowerCase()).not.toContain('content-length');
      expect(received).toMatch(/\r\n\r\npartial$/);
      // The body so far is 'partial'; only an RST tells this client it is not all.
      expect({ fin, reset }).toEqual({ fin: false, reset: true });
    } finally {
      s.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Headers a node must not pass through
// ---------------------------------------------------------------------------------------------

describe('response headers from a node', () => {
  it('hop-by-hop headers are dropped; Set-Cookie lines stay separate and in order', async () => {
    const node = await RawNode.start((r) =>
      r.socket.write(
        'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=77\r\nProxy-Connection: keep-alive\r\nTrailer: X-T\r\n' +
          'Upgrade: h2c\r\nTE: trailers\r\nSet-Cookie: a=1; Path=/\r\nX-Kept: yes\r\nSet-Cookie: b=2, c=3\r\n' +
          'Content-Length: 2\r\n\r\nok',
      ),
    );
    const p = await api([node]);
    const res = await ask(get(`${p}/hop`));
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok');
    const names = res.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const h of ['proxy-connection', 'trailer', 'upgrade', 'te']) expect(names).not.toContain(h);
    expect(res.headers['keep-alive'] ?? '').not.toContain('77');
    const cookies = res.rawHeaders.filter(
      (_, i) => i % 2 === 1 && res.rawHeaders[i - 1]!.toLowerCase() === 'set-cookie',
    );
    expect(cookies).toEqual(['a=1; Path=/', 'b=2, c=3']);
    expect(res.headers['x-kept']).toBe('yes');
  });

  // Fixed: headers the node's Connection names are dropped from its answer (answerHeaders, src/gateway/stages/answer-headers.ts).
  it('headers named in the node’s Connection header are dropped', async () => {
    const node = await RawNode.start((r) =>
      r.socket.write(
        'HTTP/1.1 200 OK\r\nConnection: X-Secret, x-other\r\nX-Secret: s3cr3t\r\nX-Other: o\r\nX-Kept: yes\r\n' +
          'Content-Length: 2\r\n\r\nok',
      ),
    );
    const p = await api([node]);
    const res = await ask(get(`${p}/conn-tokens`));
    expect(res.status).toBe(200);
    expect(res.headers['x-kept']).toBe('yes');
    expect(res.headers['x-secret']).toBeUndefined();
    expect(res.headers['x-other']).toBeUndefined();
  });

  // Fixed: a node's own x-isogate-error is dropped from its answer on every path (answerHeaders, switchHeaders).
  it('a node cannot pass itself off as a gateway error (x-isogate-error is the gateway’s own)', async () => {
    const node = await RawNode.start((r) =>
      r.socket.write(
        'HTTP/1.1 502 Bad Gateway\r\nX-Isogate-Error: UPSTREAM_CONNECT_FAILED\r\nContent-Length: 2\r\n\r\nno',
      ),
    );
    const p = await api([node]);
    const res = await ask(get(`${p}/spoof`));
    expect(res.status).toBe(502);
    expect(res.text).toBe('no'); // the node's own 502, passed on
    expect(res.headers['x-isogate-error']).toBeUndefined();
  });

  // Fixed: no Content-Length on a 1xx or 204 (ClientResponse.writeHead, H2Stream.writeHead); 304 and HEAD keep theirs.
  it('a node’s Content-Length on a 204 is not passed on', async () => {
    const node = await RawNode.start((r) => r.socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'));
    const p = await api([node]);
    const res = await ask(get(`${p}/no-content`));
    expect(res.status).toBe(204);
    expect(res.body.length).toBe(0);
    expect(res.headers['content-length']).toBeUndefined();
  });

  // Fixed: transfer codings other than exactly `chunked` are 502 UPSTREAM_ERROR (ResponseParser, UPSTREAM_BAD_RESPONSE).
  it('a `Transfer-Encoding: gzip, chunked` body never reaches the client as if it were plain', async () => {
    const gz = gzipSync(Buffer.from('hello world'));
    const node = await RawNode.start((r) =>
      r.socket.write(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${gz.length.toString(16)}\r\n`),
          gz,
          Buffer.from('\r\n0\r\n\r\n'),
        ]),
      ),
    );
    const p = await api([node]);
    const res = await ask(get(`${p}/gzip-te`));
    const honest =
      res.status === 502 ||
      res.body.toString() === 'hello world' ||
      /gzip/i.test(`${res.headers['transfer-encoding'] ?? ''} ${res.headers['content-encoding'] ?? ''}`);
    expect(
      honest,
      `status ${res.status}, headers ${JSON.stringify(res.headers)}, body ${res.body.toString('hex')}`,
    ).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Connection reuse by what the node's head says
// ---------------------------------------------------------------------------------------------

describe('keep-alive by the node’s head', () => {
  it.each([
    ['HTTP/1.0 with a length', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['Connection: close in any case', 'HTTP/1.1 200 OK\r\nConnection: CLOSE\r\nContent-Length: 2\r\n\r\nok'],
    ['Keep-Alive: timeout=1', 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok'],
  ])('%s: the connection is not reused', async (_name, bytes) => {
    const node = await RawNode.start((r) => r.socket.write(bytes));
    const p = await api([node]);
    for (const path of ['a', 'b']) {
      const res = await ask(get(`${p}/${path}`));
      expect(res.text).toBe('ok');
    }
    expect(node.requests.map((r) => r.conn)).toEqual([1, 2]);
  });

  // Fixed: HTTP/1.0 with Transfer-Encoding closes its connection after the response (ResponseParser, RFC 9112 §6.1).
  it('HTTP/1.0 with Transfer-Encoding (and Connection: keep-alive): the connection is not reused', async () => {
    const node = await RawNode.start((r) =>
      r.socket.write(
        'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      ),
    );
    const p = await api([node]);
    for (const path of ['a', 'b']) {
      const res = await ask(get(`${p}/${path}`));
      expect(res.text).toBe('ok');
    }
    expect(node.requests.map((r) => r.conn)).toEqual([1, 2]);
  });
});

// ---------------------------------------------------------------------------------------------
// A node that closes the idle connection as it is reused
// ---------------------------------------------------------------------------------------------

describe('a node that drops its idle keep-alive connection when it is reused', () => {
  /** Answers the first request of each connection (keep-alive), hangs up on any later one without a byte. */
  const staleCloser = (name: string) =>
    RawNode.start((r) => {
      if (r.nth === 1) r.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${name.length}\r\n\r\n${name}`);
      else r.socket.destroy();
    });

  it('a POST is never sent again (it may have reached the node): 502 UPSTREAM_ERROR, one POST in all', async () => {
    const n1 = await staleCloser('n1');
    const n2 = await staleCloser('n2');
    const warm1 = await api([n1]);
    const warm2 = await api([n2]);
    expect((await ask(get(`${warm1}/warm`))).text).toBe('n1');
    expect((await ask(get(`${warm2}/warm`))).text).toBe('n2');
    const p = await api([n1, n2], { retries: 1 });
    const path = `${p}/post`;
    const res = await ask(msg(`POST ${path} HTTP/1.1`, [HOST, 'Content-Length: 3'], 'abc'));
    expectGatewayError(res, 'UPSTREAM_ERROR');
    const posts = [...n1.requests, ...n2.requests].filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(1);
    const line = await accessOf(path);
    expect(line.tries).toBe(1);
    expect(line.upstreamError).toBe('UPSTREAM_SOCKET_CLOSED');
  });

  it('a GET is sent once more to the same node on a new connection, not counted as a retry; also with one node', async () => {
    const n1 = await staleCloser('n1');
    const n2 = await RawNode.start((r) => r.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nn2'));
    const warm1 = await api([n1]);
    const p = await api([n1, n2], { retries: 1 });
    let dropped = 0;
    // Round robin: within three rounds a GET starts on n1's warm (and dropped) connection.
    for (let i = 0; i < 3 && dropped === 0; i++) {
      expect((await ask(get(`${warm1}/warm${i}`))).text).toBe('n1');
      const path = `${p}/get${i}`;
      const res = await ask(get(path));
      expect(res.status).toBe(200);
      expect(['n1', 'n2']).toContain(res.text);
      dropped = n1.requests.filter((r) => r.nth > 1).length;
      if (dropped > 0) {
        // Replayed on a new connection to n1 (its first request there), one try in the log.
        expect(res.text).toBe('n1');
        expect(n1.requests.filter((r) => r.path === path).map((r) => r.nth)).toEqual([2, 1]);
        expect((await accessOf(path)).tries).toBe(1);
      }
    }
    expect(dropped).toBe(1);
    // An API with n1 alone: the GET on a dropped connection still gets its answer.
    const alone = `${warm1}/alone`;
    expect((await ask(get(alone))).text).toBe('n1');
    expect(n1.requests.filter((r) => r.path === alone).map((r) => r.nth)).toEqual([2, 1]);
    expect(dropped).toBe(1);
  });
});
