/**
 * The plain HTTP/1.1 gateway port under hostile clients, end to end: a raw TCP client writes exact
 * bytes to a real gateway, and a raw TCP node on 127.0.0.1 records the exact bytes it receives, which
 * are then framed by llhttp (strict, Node's own parser: what a node most likely reads with). Each test
 * checks that what the node receives is unambiguous and is what the gateway decided (one request per
 * request the gateway forwarded, the body it framed, the headers it set), and that refused or
 * smuggled bytes never reach a node.
 *
 * Not repeated here (covered elsewhere): the parser's refusals one by one (request-parser.test.ts,
 * http-server.e2e.test.ts), CL+TE, TE codings other than chunked, head size limits, head timeouts,
 * slow readers, chunked bodies past maxBodyBytes.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';
import { llhttpParse, type Frame } from '../../helpers/llhttp.js';
import { scrape } from '../../helpers/metrics.js';
import {
  connectionTokens,
  expectErrorBody,
  get,
  HOST,
  msg,
  openClients,
  RawClient,
  sleep,
  type WireResponse,
} from '../../helpers/raw-client.js';

// ---------------------------------------------------------------------------------------------
// A raw recording node
// ---------------------------------------------------------------------------------------------

/** One TCP connection the raw node accepted: every byte it received, and the requests it answered. */
interface NodeConn {
  bytes: Buffer;
  answered: number;
  closed: boolean;
}

/** A raw TCP node: frames what it receives with llhttp and answers each complete request with a JSON echo. */
interface RawNode {
  url: string;
  conns: NodeConn[];
  /** Every complete request llhttp framed, over all connections, in arrival order. */
  readonly seen: Frame[];
  /** Strict llhttp parse errors over all connections (a desync or an ambiguous message shows up here). */
  errors(): string[];
  close(): Promise<void>;
}

/** The echo a raw node answers with. */
interface Echo {
  method: string;
  url: string;
  headers: string[];
  /** base64 */
  body: string;
}

async function startRawNode(): Promise<RawNode> {
  const conns: NodeConn[] = [];
  const seen: Frame[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const conn: NodeConn = { bytes: Buffer.alloc(0), answered: 0, closed: false };
    conns.push(conn);
    socket.on('error', () => {});
    socket.on('close', () => {
      conn.closed = true;
      sockets.delete(socket);
    });
    /** Bytes since the last point where every request read so far was complete, and how many of them were answered. */
    let tail = Buffer.alloc(0);
    let tailAnswered = 0;
    socket.on('data', (data: Buffer) => {
      conn.bytes = Buffer.concat([conn.bytes, data]);
      tail = Buffer.concat([tail, data]);
      // The whole stream is parsed again by errors(), so a desync shows there; here only the tail.
      const { frames } = llhttpParse('request', tail);
      const complete = frames.filter((f) => f.complete);
      while (tailAnswered < complete.length) {
        const f = complete[tailAnswered++]!;
        conn.answered++;
        seen.push(f);
        const echo: Echo = { method: f.method!, url: f.url!, headers: f.headers, body: f.body.toString('base64') };
        const body = Buffer.from(JSON.stringify(echo));
        // One write: head and body (two small writes would wait on Nagle and a delayed ACK).
        socket.write(
          Buffer.concat([
            Buffer.from(
              `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-node: raw\r\ncontent-length: ${body.length}\r\n\r\n`,
            ),
            body,
          ]),
        );
      }
      if (frames.length > 0 && frames.every((f) => f.complete)) {
        tail = Buffer.alloc(0);
        tailAnswered = 0;
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    conns,
    seen,
    // A connection cut in the middle of a request (an aborted body) ends in an incomplete message,
    // which is not ambiguity: only real parse errors count.
    errors: () =>
      conns
        .map((c) => llhttpParse('request', c.bytes).error)
        .filter((e): e is string => e !== null && !/INVALID_EOF_STATE|incomplete|EOF/i.test(e)),
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
}

/** The value of header `name` (case-insensitive) in a flat list; all values joined with `, `. */
function headerOf(headers: readonly string[], name: string): string | undefined {
  const values: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === name) values.push(headers[i + 1]!);
  return values.length === 0 ? undefined : values.join(', ');
}

function countOf(headers: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === name) n++;
  return n;
}

const echoOf = (res: WireResponse): Echo => {
  expect(res.headers['x-node'], `not the raw node's answer: ${res.statusLine} ${res.text}`).toBe('raw');
  return JSON.parse(res.text) as Echo;
};

// ---------------------------------------------------------------------------------------------
// Gateway and nodes
// ---------------------------------------------------------------------------------------------

let t: TestGateway;
let port: number;
let raw: RawNode;
/** A second raw node, for requests that must never arrive (smuggled ones). */
let victim: RawNode;
/** A node:http node that never answers before the body ends (for slow bodies). */
let slowReader: HttpServer;
let slowReaderSeen = 0;

beforeAll(async () => {
  raw = await startRawNode();
  victim = await startRawNode();
  slowReader = createHttpServer((req, res) => {
    slowReaderSeen++;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => slowReader.listen(0, '127.0.0.1', r));

  t = await startTestGateway();
  port = t.app.gateway!.port;
  // retries 0: bodies stream to the node (not buffered), so what the node receives is the client's framing re-made.
  const r = await createApi(t, { name: 'raw', path: '/raw/*', algorithm: 'round_robin', retries: 0 });
  await addNode(t, r, { name: 'raw', url: raw.url });
  const v = await createApi(t, { name: 'victim', path: '/victim/*', algorithm: 'round_robin', retries: 0 });
  await addNode(t, v, { name: 'victim', url: victim.url });
  // A route reached only by its host (absolute-form tests).
  const internal = await createApi(t, {
    name: 'internal',
    host: 'internal.test',
    path: '/raw/*',
    algorithm: 'round_robin',
    retries: 0,
  });
  await addNode(t, internal, { name: 'raw', url: raw.url });
  const small = await createApi(t, {
    name: 'small',
    path: '/small/*',
    algorithm: 'round_robin',
    retries: 0,
    maxBodyBytes: 10,
  });
  await addNode(t, small, { name: 'victim', url: victim.url });
  const getOnly = await createApi(t, {
    name: 'get-only',
    path: '/get-only/*',
    algorithm: 'round_robin',
    retries: 0,
    methods: ['GET'],
  });
  await addNode(t, getOnly, { name: 'victim', url: victim.url });
});

afterEach(() => {
  for (const c of [...openClients]) c.destroy();
});

afterAll(async () => {
  await t?.stop();
  await raw?.close();
  await victim?.close();
  slowReader?.closeAllConnections();
  slowReader?.close();
});

/** Requests the raw node has seen since `before` (a count taken earlier). */
const framesSince = (node: RawNode, before: number): Frame[] => node.seen.slice(before);

// ---------------------------------------------------------------------------------------------
// What the node receives
// ---------------------------------------------------------------------------------------------

describe('what the node receives is one unambiguous request per forwarded request', () => {
  it('a chunked body with quoted extensions and framing-looking trailers reaches the node re-chunked, without extensions or trailers', async () => {
    const before = raw.seen.length;
    const body =
      '5;a="x;y\\"z";b=tok\r\nhello\r\n' +
      '6;q="0\\\\"\r\n world\r\n' +
      '0;last="1"\r\nContent-Length: 99\r\nTransfer-Encoding: gzip\r\nX-Trailer: t\r\n\r\n';
    const c = await RawClient.connect(port);
    c.write(msg('POST /raw/chunked-ext HTTP/1.1', [HOST, 'Transfer-Encoding: chunked'], body) + get('/raw/after'));
    const [first, second] = await c.read(2);
    expect(first!.status).toBe(200);
    const echo = echoOf(first!);
    expect(Buffer.from(echo.body, 'base64').toString('latin1')).toBe('hello world');
    expect(echoOf(second!).url).toBe('/raw/after');
    const frames = framesSince(raw, before);
    expect(frames.map((f) => f.url)).toEqual(['/raw/chunked-ext', '/raw/after']);
    const f = frames[0]!;
    expect(countOf(f.headers, 'transfer-encoding')).toBe(1);
    expect(headerOf(f.headers, 'transfer-encoding')).toBe('chunked');
    expect(countOf(f.headers, 'content-length')).toBe(0);
    expect(headerOf(f.headers, 'x-trailer')).toBeUndefined();
    const wire = Buffer.concat(raw.conns.map((x) => x.bytes)).toString('latin1');
    expect(wire).not.toContain('x;y');
    expect(wire).not.toContain('X-Trailer');
    expect(wire).not.toContain('Content-Length: 99');
    expect(raw.errors()).toEqual([]);
  });

  it('a Content-Length with leading zeros frames the same body at the node, and the request after it stays separate', async () => {
    const before = raw.seen.length;
    const c = await RawClient.connect(port);
    // The body is itself a request line: a node that read the length differently would see two requests.
    const inner = get('/victim/smuggled-in-body');
    const len = String(inner.length).padStart(8, '0');
    c.write(msg('POST /raw/lz HTTP/1.1', [HOST, `Content-Length: ${len}`], inner) + get('/raw/lz-after'));
    const [first, second] = await c.read(2);
    expect(Buffer.from(echoOf(first!).body, 'base64').toString('latin1')).toBe(inner);
    expect(echoOf(second!).url).toBe('/raw/lz-after');
    expect(framesSince(raw, before).map((f) => f.url)).toEqual(['/raw/lz', '/raw/lz-after']);
    expect(raw.errors()).toEqual([]);
  });

  it("headers named in the client's Connection cannot strip the gateway's own Host and X-Forwarded-*, nor the body's framing", async () => {
    const before = raw.seen.length;
    const c = await RawClient.connect(port);
    c.write(
      msg(
        'POST /raw/conn-strip HTTP/1.1',
        [
          HOST,
          'Connection: keep-alive, Host, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Content-Length, X-Drop-Me',
          'X-Forwarded-For: 203.0.113.9',
          'X-Forwarded-Proto: https',
          'X-Forwarded-Host: spoofed.test',
          'X-Drop-Me: 1',
          'Content-Length: 5',
        ],
        'hello',
      ),
    );
    const [res] = await c.read(1);
    const echo = echoOf(res!);
    expect(Buffer.from(echo.body, 'base64').toString('latin1')).toBe('hello');
    const h = echo.headers;
    expect(countOf(h, 'host')).toBe(1);
    expect(headerOf(h, 'host')).toBe(new URL(raw.url).host);
    // The client's X-Forwarded-For is kept as a prior hop (the trust decision is the node's), the peer appended.
    expect(headerOf(h, 'x-forwarded-for')).toBe('203.0.113.9, 127.0.0.1');
    expect(countOf(h, 'x-forwarded-proto')).toBe(1);
    expect(headerOf(h, 'x-forwarded-proto')).toBe('http');
    expect(countOf(h, 'x-forwarded-host')).toBe(1);
    expect(headerOf(h, 'x-forwarded-host')).toBe('isogate.test');
    expect(headerOf(h, 'x-drop-me')).toBeUndefined();
    expect(headerOf(h, 'connection')).toBeUndefined();
    // The node got exactly one framing header: the gateway's own.
    expect(countOf(h, 'content-length') + countOf(h, 'transfer-encoding')).toBe(1);
    expect(framesSince(raw, before)).toHaveLength(1);
    expect(raw.errors()).toEqual([]);
  });

  it('header values with obs-text bytes (0x80-0xFF) reach the node byte for byte', async () => {
    const before = raw.seen.length;
    const value = 'caf\xe9 \xff\x80 end';
    const c = await RawClient.connect(port);
    c.write(get('/raw/obs-text', `X-Obs: ${value}`));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    const f = framesSince(raw, before)[0]!;
    // llhttp hands header values to JS as latin1 strings: byte for byte.
    expect(headerOf(f.headers, 'x-obs')).toBe(value);
    const wire = Buffer.concat(raw.conns.map((x) => x.bytes));
    expect(wire.includes(Buffer.from(`X-Obs: ${value}\r\n`, 'latin1'))).toBe(true);
  });

  it('an absolute-form target is routed by its authority, and the node is told that authority in X-Forwarded-Host, not the Host header the gateway ignored', async () => {
    const before = raw.seen.length;
    const c = await RawClient.connect(port);
    // Routed to the `internal` API by the target's host (RFC 9112 §3.2.2: Host is ignored)...
    c.write(msg('GET http://internal.test/raw/abs HTTP/1.1', ['Host: public.test']));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    const f = framesSince(raw, before)[0]!;
    expect(f.url).toBe('/raw/abs');
    expect(countOf(f.headers, 'host')).toBe(1);
    // Fixed: X-Forwarded-Host was the raw Host header the gateway ignored for routing; it is now the routed host.
    expect(headerOf(f.headers, 'x-forwarded-host')).toBe('internal.test');
  });

  it('HTTP/1.0 with Connection: keep-alive: both requests reach the node as HTTP/1.1 with the node Host, and the client gets both answers', async () => {
    const before = raw.seen.length;
    const c = await RawClient.connect(port);
    const req10 = (path: string) => msg(`GET ${path} HTTP/1.0`, ['Connection: keep-alive']);
    c.write(req10('/raw/ten-1') + req10('/raw/ten-2'));
    const [a, b] = await c.read(2);
    expect(echoOf(a!).url).toBe('/raw/ten-1');
    expect(connectionTokens(a!)).toContain('keep-alive');
    expect(echoOf(b!).url).toBe('/raw/ten-2');
    const frames = framesSince(raw, before);
    expect(frames.map((f) => f.url)).toEqual(['/raw/ten-1', '/raw/ten-2']);
    for (const f of frames) expect(headerOf(f.headers, 'host')).toBe(new URL(raw.url).host);
    // Fixed: a request without Host got an empty `x-forwarded-host:` line; it is now left out.
    for (const f of frames) expect(countOf(f.headers, 'x-forwarded-host')).toBe(0);
    expect(raw.errors()).toEqual([]);
  });

  it("the gateway's own headers come first, so a node that keeps only its first 2000 headers (node:http) still sees them", async () => {
    const before = raw.seen.length;
    const c = await RawClient.connect(port);
    // 2100 tiny headers fit in the 16 KiB head: the gateway's own, if last, would be past node:http's 2000.
    const filler = Array.from({ length: 2100 }, () => 'a: 1');
    c.write(msg('GET /raw/many-headers HTTP/1.1', [HOST, 'X-Forwarded-For: 203.0.113.9', ...filler]));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    const f = framesSince(raw, before)[0]!;
    // Fixed: Host and X-Forwarded-* were appended after the client's headers.
    expect(f.headers.slice(0, 8).filter((_, i) => i % 2 === 0)).toEqual([
      'host',
      'x-forwarded-for',
      'x-forwarded-proto',
      'x-forwarded-host',
    ]);
    expect(f.headers.slice(0, 8)).toEqual([
      'host',
      new URL(raw.url).host,
      'x-forwarded-for',
      '203.0.113.9, 127.0.0.1',
      'x-forwarded-proto',
      'http',
      'x-forwarded-host',
      'isogate.test',
    ]);
    expect(countOf(f.headers, 'a')).toBe(2100);
  });
});

// ---------------------------------------------------------------------------------------------
// Refused and smuggled bytes
// ---------------------------------------------------------------------------------------------

describe('bytes the gateway refused or did not frame as a request never reach a node', () => {
  it('a body refused by its Content-Length (413) whose bytes are a request: the request is never served', async () => {
    const before = victim.seen.length;
    const inner = get('/victim/smuggled-413');
    const c = await RawClient.connect(port);
    c.write(msg('POST /small/x HTTP/1.1', [HOST, `Content-Length: ${inner.length}`], inner) + get('/raw/after-413'));
    const [first] = await c.read(1);
    expectErrorBody(first!, 'BODY_TOO_LARGE');
    // Either the connection goes on with the request after the (framed and discarded) body, or it closes.
    if (!connectionTokens(first!).includes('close')) expect(echoOf((await c.read(1))[0]!).url).toBe('/raw/after-413');
    await sleep(200);
    expect(victim.seen.slice(before).map((f) => f.url)).toEqual([]);
  });

  it('Expect: 100-continue refused before the body (404): no 100, connection closes, and a request sent as the body is never served', async () => {
    const before = victim.seen.length;
    const inner = get('/victim/smuggled-expect');
    const c = await RawClient.connect(port);
    c.write(msg('POST /nowhere/x HTTP/1.1', [HOST, `Content-Length: ${inner.length}`, 'Expect: 100-continue']));
    const [res] = await c.read(1);
    expect(res!.status).toBe(404);
    expect(connectionTokens(res!)).toContain('close');
    c.write(inner); // the client sends its body anyway (a client that does not wait for 100)
    expect(await c.waitClosed()).toBe(true);
    expect(c.received).not.toContain('100 Continue');
    expect(victim.seen.slice(before)).toEqual([]);
  });

  it('a complete body sent with a request the gateway answers 405 is consumed as a body; the next request is served', async () => {
    const before = victim.seen.length;
    const inner = get('/victim/smuggled-405');
    const c = await RawClient.connect(port);
    c.write(msg('POST /get-only/x HTTP/1.1', [HOST, `Content-Length: ${inner.length}`], inner) + get('/get-only/real'));
    const [first, second] = await c.read(2);
    expectErrorBody(first!, 'METHOD_NOT_ALLOWED');
    expect(second!.status).toBe(200);
    expect(echoOf(second!).url).toBe('/get-only/real');
    expect(victim.seen.slice(before).map((f) => f.url)).toEqual(['/get-only/real']);
  });

  it('requests pipelined after Connection: close are not served; the node sees only the ones before', async () => {
    const before = raw.seen.length;
    const c = await RawClient.connect(port);
    c.write(get('/raw/pc-1') + get('/raw/pc-2', 'Connection: close') + get('/raw/pc-3') + get('/raw/pc-4'));
    const [a, b] = await c.read(2);
    expect(echoOf(a!).url).toBe('/raw/pc-1');
    expect(echoOf(b!).url).toBe('/raw/pc-2');
    expect(connectionTokens(b!)).toContain('close');
    expect(await c.waitClosed()).toBe(true);
    expect(c.unreadBytes).toBe(0);
    await sleep(100);
    expect(framesSince(raw, before).map((f) => f.url)).toEqual(['/raw/pc-1', '/raw/pc-2']);
  });

  it('a malformed request pipelined between two good ones: the first is served, then 400 and close; the third never reaches a node', async () => {
    const before = raw.seen.length;
    const c = await RawClient.connect(port);
    c.write(get('/raw/pm-1') + get('/raw/pm-2', 'X-Bad : space-before-colon') + get('/raw/pm-3'));
    const [a, b] = await c.read(2);
    expect(echoOf(a!).url).toBe('/raw/pm-1');
    expectErrorBody(b!, 'BAD_REQUEST');
    expect(await c.waitClosed()).toBe(true);
    await sleep(100);
    expect(framesSince(raw, before).map((f) => f.url)).toEqual(['/raw/pm-1']);
  });

  it('1000 tiny pipelined requests in one write are each answered once, in order, and each reaches the node once', async () => {
    const N = 1000;
    const before = raw.seen.length;
    const c = await RawClient.connect(port);
    let bytes = '';
    for (let i = 0; i < N; i++) bytes += `GET /raw/p${i} HTTP/1.1\r\nHost: h\r\n\r\n`;
    c.write(bytes);
    const answers = await c.read(N, { timeoutMs: 20_000 });
    expect(answers.map((r) => echoOf(r).url)).toEqual(Array.from({ length: N }, (_, i) => `/raw/p${i}`));
    expect(framesSince(raw, before)).toHaveLength(N);
    expect(raw.errors()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Slow bodies
// ---------------------------------------------------------------------------------------------

describe('a client that stops sending its body halfway (slowloris on bodies)', () => {
  // A gateway of its own with every client-side timeout short, so that whatever bound a fix uses
  // (the API's headersMs or a client timeout) ends the stalled upload well within the waits below.
  let g: TestGateway;
  let gPort: number;
  beforeAll(async () => {
    g = await startTestGateway([
      '--client-header-timeout-ms',
      '1000',
      '--client-keepalive-timeout-ms',
      '1000',
      '--client-send-timeout-ms',
      '1000',
      '--client-body-timeout-ms',
      '1000',
    ]);
    gPort = g.app.gateway!.port;
    const slowUrl = `http://127.0.0.1:${(slowReader.address() as AddressInfo).port}`;
    const timeouts = { connectMs: 1000, headersMs: 500, bodyMs: 1000, upgradeIdleMs: 10_000 };
    // One API streams its body to the node (retries 0); the other has the default retries (1), so a
    // Content-Length body of up to 64 KiB is read into memory before a node is asked.
    const streamed = await createApi(g, {
      name: 'slow-streamed',
      path: '/slow-streamed/*',
      algorithm: 'round_robin',
      retries: 0,
      timeouts,
    });
    await addNode(g, streamed, { name: 'slow', url: slowUrl });
    const buffered = await createApi(g, {
      name: 'slow-buffered',
      path: '/slow-buffered/*',
      algorithm: 'round_robin',
      timeouts,
    });
    await addNode(g, buffered, { name: 'slow', url: slowUrl });
  });
  afterAll(async () => {
    await g?.stop();
  });

  it('streamed to the node (retries 0): the API headersMs ends it with 504, and the connection closes', async () => {
    const c = await RawClient.connect(gPort);
    c.write(msg('POST /slow-streamed/x HTTP/1.1', [HOST, 'Content-Length: 100'], 'x'.repeat(50)));
    const [res] = await c.read(1, { timeoutMs: 8_000 });
    expectErrorBody(res!, 'UPSTREAM_TIMEOUT');
    expect(connectionTokens(res!)).toContain('close');
    expect(await c.waitClosed(5_000)).toBe(true);
  });

  it('read into memory first (default retries 1, small Content-Length): --client-body-timeout-ms ends it with 408 and closes', async () => {
    const metricsUrl = `${g.statusUrl}/metrics`;
    const timeouts = async () =>
      (await scrape(metricsUrl)).sum('isogate_gateway_errors_total', { code: 'BODY_TIMEOUT' });
    const timeoutsBefore = await timeouts();
    const seenBefore = slowReaderSeen;
    const c = await RawClient.connect(gPort);
    c.write(msg('POST /slow-buffered/x HTTP/1.1', [HOST, 'Content-Length: 100'], 'x'.repeat(50)));
    // Fixed: nothing bounded a body read into memory before the balance stage; now the client body timeout does.
    const [res] = await c.read(1, { timeoutMs: 6_000 });
    expectErrorBody(res!, 'BODY_TIMEOUT');
    expect(res!.status).toBe(408);
    expect(connectionTokens(res!)).toContain('close');
    expect(await c.waitClosed(5_000)).toBe(true);
    expect(slowReaderSeen).toBe(seenBefore); // the node never got the incomplete request
    expect(await timeouts()).toBe(timeoutsBefore + 1);
  });

  it('Expect: 100-continue on a body read into memory: 100 Continue comes before the body is sent, then the answer', async () => {
    const seenBefore = slowReaderSeen;
    const c = await RawClient.connect(gPort);
    c.write(msg('POST /slow-buffered/expect HTTP/1.1', [HOST, 'Content-Length: 5', 'Expect: 100-continue']));
    const [interim] = await c.read(1, { timeoutMs: 3_000 });
    expect(interim!.status).toBe(100);
    c.write('hello');
    const [res] = await c.read(1, { timeoutMs: 3_000 });
    expect(res!.status).toBe(200);
    expect(res!.text).toBe('ok');
    expect(slowReaderSeen).toBe(seenBefore + 1);
  });

  it('a client that leaves halfway through a body read into memory is not counted as a gateway bug (INTERNAL_ERROR)', async () => {
    const metricsUrl = `${g.statusUrl}/metrics`;
    const internal = async () =>
      (await scrape(metricsUrl)).sum('isogate_gateway_errors_total', { code: 'INTERNAL_ERROR' });
    await sleep(300); // the earlier tests' connections are gone and counted
    const before = await internal();
    const c = await RawClient.connect(gPort);
    c.write(msg('POST /slow-buffered/leaver HTTP/1.1', [HOST, 'Content-Length: 100'], 'x'.repeat(10)));
    await sleep(100);
    c.destroy();
    await sleep(300);
    // Fixed: readBody's rejection escaped the balance stage and was counted as INTERNAL_ERROR; it is a client abort now.
    expect(await internal()).toBe(before);
  });
});
