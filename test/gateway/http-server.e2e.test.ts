/**
 * End-to-end tests of the gateway's own client-facing HTTP/1.1 server (`src/gateway/http/*`), as
 * specified in "Server behaviour" of the HTTP spec: keep-alive and `Connection` handling, pipelining,
 * request body framing (Content-Length and chunked), response framing (kept, re-chunked or
 * close-delimited), HEAD/204/304, `Date`, `Expect: 100-continue`, the HTTP-layer gateway errors
 * (BAD_REQUEST, URI_TOO_LONG, HEADERS_TOO_LARGE, EXPECTATION_FAILED, TRANSFER_CODING_UNSUPPORTED,
 * HTTP_VERSION_UNSUPPORTED, REQUEST_TIMEOUT), the idle keep-alive timeout, request smuggling and the
 * graceful drain.
 *
 * The client side is a raw `node:net` socket (`RawClient`): the tests write exact bytes and parse the
 * exact answer themselves (status line, headers, Content-Length / chunked / close-delimited body), so
 * nothing in between normalises what the server sends. Every wait is bounded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayErrorCode } from '../../src/gateway/errors.js';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import {
  chunked,
  connectionTokens,
  expectDate,
  expectErrorBody,
  expectGatewayError,
  get,
  HOST,
  msg,
  openClients,
  post,
  RawClient,
  sleep,
  within,
  writeInPieces,
  type WireResponse,
} from '../helpers/raw-client.js';

/**
 * Sends `bytes` on a fresh connection and expects one HTTP-layer error answer for `code`, with
 * `Connection: close`, after which the server closes the connection and sends nothing else.
 */
async function expectRejected(
  port: number,
  bytes: string,
  code: GatewayErrorCode,
  timeoutMs = 5000,
): Promise<WireResponse> {
  const c = await RawClient.connect(port);
  c.write(bytes);
  const [res] = await c.read(1, { timeoutMs });
  expectErrorBody(res!, code);
  expect(connectionTokens(res!)).toContain('close');
  expect(await c.waitClosed(), 'server closes the connection').toBe(true);
  expect(c.unreadBytes, `unexpected bytes: ${c.leftover()}`).toBe(0);
  expectDate(res!); // last, so a missing Date does not hide the checks above
  c.destroy();
  return res!;
}

// ---------------------------------------------------------------------------------------------
// Upstreams and gateway
// ---------------------------------------------------------------------------------------------

let t: TestGateway;
let port: number;
let ups: TestUpstream[];
const rawServers: Server[] = [];

const up = (name: string) => ups.find((u) => u.name === name)!;

/** A raw node:http upstream with its own handler; returns its URL. */
function rawUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  rawServers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

/** What the echo upstream saw of the last request. */
interface Echo {
  method: string;
  url: string;
  /** The body, base64. */
  body: string;
  headers: Record<string, string | string[] | undefined>;
}
let echoCount = 0;

/** Answers JSON describing the request it received (body as base64), with a Content-Length. */
function echoHandler(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    echoCount++;
    const echo: Echo = {
      method: req.method ?? '',
      url: req.url ?? '',
      body: Buffer.concat(chunks).toString('base64'),
      headers: req.headers,
    };
    const body = Buffer.from(JSON.stringify(echo));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, 'x-node': 'echo' });
    res.end(body);
  });
}

const echoOf = (res: WireResponse): Echo => JSON.parse(res.text) as Echo;
/** The body the echo upstream received, as latin1 (fails clearly when the answer is not the echo's). */
function echoBody(res: WireResponse): string {
  expect(res.headers['x-node'], `not an echo answer: ${res.statusLine} ${res.text}`).toBe('echo');
  return Buffer.from(echoOf(res).body, 'base64').toString('latin1');
}

/** What the big upstream answers, in one write (and how many requests it got). */
const BIG_BODY = Buffer.alloc(16 * 1024, 'x');
let bigCount = 0;

/** What the chunky upstream sends, in two writes, without Content-Length. */
const CHUNKY_PARTS = ['first part, ', 'second part'] as const;

beforeAll(async () => {
  t = await startTestGateway();
  port = t.app.gateway!.port;
  ups = await startUpstreams(['a', 'b', 'c']);
  for (const name of ['a', 'b', 'c']) {
    const id = await createApi(t, { name, path: `/${name}/*`, algorithm: 'round_robin' });
    await addNode(t, id, up(name));
  }
  const echo = await createApi(t, { name: 'echo', path: '/echo/*', algorithm: 'round_robin', retries: 0 });
  await addNode(t, echo, { name: 'echo', url: await rawUpstream(echoHandler) });

  const chunky = await createApi(t, { name: 'chunky', path: '/chunky/*', algorithm: 'round_robin' });
  const chunkyUrl = await rawUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-node': 'chunky' });
    res.write(CHUNKY_PARTS[0]);
    setTimeout(() => {
      res.write(CHUNKY_PARTS[1]);
      res.end();
    }, 30);
  });
  await addNode(t, chunky, { name: 'chunky', url: chunkyUrl });

  const status = await createApi(t, { name: 'status', path: '/status/*', algorithm: 'round_robin' });
  const statusUrl = await rawUpstream((req, res) => {
    res.writeHead(Number(req.url!.split('/').pop()), { 'x-node': 'status', etag: '"v1"' });
    res.end();
  });
  await addNode(t, status, { name: 'status', url: statusUrl });

  const slow = await createApi(t, { name: 'slow', path: '/slow/*', algorithm: 'round_robin' });
  const slowUrl = await rawUpstream((req, res) => {
    req.resume();
    setTimeout(() => res.writeHead(200, { 'content-length': 4, 'x-node': 'slow' }).end('slow'), 200);
  });
  await addNode(t, slow, { name: 'slow', url: slowUrl });

  const big = await createApi(t, { name: 'big', path: '/big/*', algorithm: 'round_robin' });
  const bigUrl = await rawUpstream((_req, res) => {
    bigCount++;
    res.writeHead(200, { 'content-length': BIG_BODY.length, 'x-node': 'big' }).end(BIG_BODY);
  });
  await addNode(t, big, { name: 'big', url: bigUrl });

  const small = await createApi(t, {
    name: 'small',
    path: '/small',
    algorithm: 'round_robin',
    methods: ['POST'],
    maxBodyBytes: 10,
  });
  await addNode(t, small, up('b'));
});

afterEach(() => {
  for (const c of [...openClients]) c.destroy();
});

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  for (const s of rawServers) {
    s.closeAllConnections();
    s.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

describe('keep-alive and Connection', () => {
  it('HTTP/1.1 keeps the connection: two requests on one socket, with keep-alive: timeout=65', async () => {
    const c = await RawClient.connect(port);
    c.write(get('/a/one'));
    const [first] = await c.read(1);
    expect(first!.status).toBe(200);
    expect(first!.headers['x-node']).toBe('a');
    expect(connectionTokens(first!)).not.toContain('close');
    expect(first!.headers['keep-alive']).toBe('timeout=65');
    expect(up('a').last!.url).toBe('/a/one');

    c.write(get('/b/two'));
    const [second] = await c.read(1);
    expect(second!.status).toBe(200);
    expect(second!.headers['x-node']).toBe('b');
    expect(up('b').last!.url).toBe('/b/two');
    expect(await c.waitClosed(300)).toBe(false);
  });

  it('HTTP/1.0 without keep-alive: connection: close and the socket is closed', async () => {
    const c = await RawClient.connect(port);
    c.write(msg('GET /a/ten HTTP/1.0'));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(res!.headers['x-node']).toBe('a');
    expect(connectionTokens(res!)).toContain('close');
    expect(await c.waitClosed()).toBe(true);
    expect(c.unreadBytes, `unexpected bytes: ${c.leftover()}`).toBe(0);
  });

  it('HTTP/1.0 with Connection: keep-alive: answered with connection: keep-alive, the socket stays usable', async () => {
    const c = await RawClient.connect(port);
    c.write(msg('GET /a/ka10 HTTP/1.0', ['Connection: keep-alive']));
    const [first] = await c.read(1);
    expect(first!.status).toBe(200);
    expect(connectionTokens(first!)).toContain('keep-alive');
    expect(first!.framing).toBe('length'); // a 1.0 keep-alive answer must be length-delimited

    c.write(msg('GET /b/ka10 HTTP/1.0', ['Connection: keep-alive']));
    const [second] = await c.read(1);
    expect(second!.headers['x-node']).toBe('b');
    expect(await c.waitClosed(300)).toBe(false);
  });

  it('HTTP/1.1 with Connection: close: answered with connection: close, then the socket is closed', async () => {
    const c = await RawClient.connect(port);
    c.write(get('/a/bye', 'Connection: close'));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(connectionTokens(res!)).toContain('close');
    expect(await c.waitClosed()).toBe(true);
    expect(c.unreadBytes, `unexpected bytes: ${c.leftover()}`).toBe(0);
  });

  it('every answer has a Date header: proxied, gateway error and HTTP-layer error', async () => {
    const c = await RawClient.connect(port);
    c.write(get('/a/date') + get('/no-such-route'));
    const [proxied, notFound] = await c.read(2);
    expectDate(proxied!);
    expectGatewayError(notFound!, 'ROUTE_NOT_FOUND');
    const rejected = await expectRejected(port, msg('GET /a/ HTTP/1.1'), 'BAD_REQUEST'); // no Host
    expectDate(rejected);
  });
});

describe('request heads', () => {
  it('a head arriving in pieces (after a line end, between CR and LF, inside a name) is parsed', async () => {
    const c = await RawClient.connect(port);
    const head = get('/a/in-pieces', 'X-Some-Header: 1');
    const afterLine = head.indexOf('\r\n') + 2;
    const cuts = [afterLine, head.indexOf('\r\n', afterLine) + 1, head.indexOf('Some')];
    expect([...cuts].sort((x, y) => x - y)).toEqual(cuts);
    await writeInPieces(c, head, cuts);
    const [res] = await c.read(1);
    expect(res!.status, res!.text).toBe(200);
    expect(up('a').last!.url).toBe('/a/in-pieces');
    expect(up('a').last!.headers['x-some-header']).toBe('1');
  });

  it('an absolute-form target is routed by its own host and path (RFC 9112 §3.2.2)', async () => {
    const c = await RawClient.connect(port);
    c.write('GET http://isogate.test/b/absolute?q=1 HTTP/1.1\r\nHost: ignored.test\r\n\r\n');
    const [res] = await c.read(1);
    expect(res!.status, res!.text).toBe(200);
    expect(res!.headers['x-node']).toBe('b');
    expect(up('b').last!.url).toBe('/b/absolute?q=1');
  });

  it('empty lines before a request line are skipped', async () => {
    const c = await RawClient.connect(port);
    c.write(`\r\n\r\n${get('/b/after-empty-lines')}`);
    const [res] = await c.read(1);
    expect(res!.status, res!.text).toBe(200);
    expect(res!.headers['x-node']).toBe('b');
  });
});

describe('pipelining', () => {
  it('three GETs in one write are answered in order', async () => {
    const c = await RawClient.connect(port);
    c.write(get('/b/p?i=1') + get('/a/p?i=2') + get('/c/p?i=3'));
    const responses = await c.read(3);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(responses.map((r) => r.headers['x-node'])).toEqual(['b', 'a', 'c']);
    expect([up('b').last!.url, up('a').last!.url, up('c').last!.url]).toEqual(['/b/p?i=1', '/a/p?i=2', '/c/p?i=3']);
    expect(await c.waitClosed(200)).toBe(false);
  });

  it('a client that pipelines without reading gets no further answers made until it reads (no unbounded buffering)', async () => {
    const before = bigCount;
    // Answers the gateway writes in one go (no backpressure inside one answer), 48 MiB in all: far
    // more than the kernel's socket buffers hold.
    const sent = 3000;
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause(); // reads nothing for now
    socket.write(Array.from({ length: sent }, (_, i) => get(`/big/${i}`)).join(''));
    await sleep(1000);
    const whileUnread = bigCount - before;
    // The kernel's socket buffers hold some answers; the rest wait for the client to read.
    expect(whileUnread).toBeGreaterThan(0);
    expect(whileUnread).toBeLessThan(sent / 2);
    let seen = 0;
    let tail = '';
    const all = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        const text = tail + chunk.toString('latin1');
        seen += text.split('HTTP/1.1 200 OK\r\n').length - 1;
        tail = text.slice(-20);
        if (seen === sent) resolve();
      });
    });
    socket.resume();
    await all;
    expect(bigCount - before).toBe(sent);
    socket.destroy();
  });

  it('a slow first answer still comes before a fast second one', async () => {
    const c = await RawClient.connect(port);
    c.write(get('/slow/first') + get('/a/second'));
    const responses = await c.read(2);
    expect(responses.map((r) => r.headers['x-node'])).toEqual(['slow', 'a']);
    expect(responses[0]!.text).toBe('slow');
  });

  it('pipelined requests with bodies keep their boundaries; a body that looks like a request is a body', async () => {
    const inner = get('/b/smuggled-by-body');
    const hitsB = up('b').hits;
    const c = await RawClient.connect(port);
    c.write(
      post('/echo/cl', inner) +
        msg('POST /echo/ch HTTP/1.1', [HOST, 'Transfer-Encoding: chunked'], chunked(['ab', 'cd'])) +
        get('/c/after'),
    );
    const [one, two, three] = await c.read(3);
    expect(echoBody(one!)).toBe(inner);
    expect(echoOf(one!).url).toBe('/echo/cl');
    expect(echoBody(two!)).toBe('abcd');
    expect(echoOf(two!).url).toBe('/echo/ch');
    expect(three!.headers['x-node']).toBe('c');
    expect(up('b').hits).toBe(hitsB);
  });
});

// ---------------------------------------------------------------------------------------------
// Bodies and framing
// ---------------------------------------------------------------------------------------------

describe('request bodies', () => {
  it('a Content-Length body reaches the node intact', async () => {
    const c = await RawClient.connect(port);
    c.write(post('/a/cl', 'hello, content-length', 'Content-Type: text/plain'));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(up('a').last!.body).toBe('hello, content-length');
    expect(up('a').last!.url).toBe('/a/cl');
  });

  it('a chunked body (with extensions and trailers) reaches the node with the same bytes', async () => {
    const c = await RawClient.connect(port);
    const body = `5\r\nhello\r\n7;ext=1;q="x"\r\n, chunk\r\n0\r\nX-Trailer: dropped\r\n\r\n`;
    c.write(msg('POST /a/ch HTTP/1.1', [HOST, 'Transfer-Encoding: chunked'], body));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(up('a').last!.body).toBe('hello, chunk');

    // The same connection is still in sync after the chunked body and its trailer.
    c.write(get('/b/next'));
    expect((await c.read(1))[0]!.headers['x-node']).toBe('b');
  });

  it('binary bytes, CRLFs and a fake last chunk inside the data are forwarded as they are', async () => {
    const payload = Buffer.concat([
      Buffer.from('0\r\n\r\nGET / HTTP/1.1\r\n\r\n', 'latin1'),
      Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 13]),
    ]);
    const text = payload.toString('latin1');
    const c = await RawClient.connect(port);
    c.write(post('/echo/bin', text));
    expect(echoBody((await c.read(1))[0]!)).toBe(text);
    c.write(
      msg(
        'POST /echo/bin2 HTTP/1.1',
        [HOST, 'Transfer-Encoding:  Chunked '],
        chunked([text.slice(0, 7), text.slice(7)]),
      ),
    );
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(echoBody(res!)).toBe(text);
  });

  it('a chunked body split across writes at awkward places is reassembled', async () => {
    const c = await RawClient.connect(port);
    const pieces = ['split into pieces, ', 'across ', 'writes'];
    const whole = msg('POST /echo/split HTTP/1.1', [HOST, 'Transfer-Encoding: chunked'], chunked(pieces, ['X-T: 1']));
    const bodyStart = whole.indexOf('\r\n\r\n') + 4;
    const cuts = [
      10, // inside the request line
      bodyStart + 1, // inside the size line `13`
      whole.indexOf('across \r\n', bodyStart) + 'across '.length, // between data and its CRLF
      whole.indexOf('across \r\n', bodyStart) + 'across \r'.length, // between CR and LF
      whole.indexOf('X-T', bodyStart) + 2, // inside the trailer
    ];
    expect([...cuts].sort((x, y) => x - y)).toEqual(cuts);
    await writeInPieces(c, whole, cuts);
    const [res] = await c.read(1);
    expect(echoBody(res!)).toBe(pieces.join(''));
  });
});

describe('response framing', () => {
  it('a chunked upstream answer (no Content-Length) is re-chunked for an HTTP/1.1 client', async () => {
    const c = await RawClient.connect(port);
    c.write(get('/chunky/x'));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(res!.framing).toBe('chunked');
    expect(res!.headers['content-length']).toBeUndefined();
    expect(res!.text).toBe(CHUNKY_PARTS.join(''));
    expect(connectionTokens(res!)).not.toContain('close');
    c.write(get('/a/after-chunky'));
    expect((await c.read(1))[0]!.headers['x-node']).toBe('a');
  });

  it('the same answer is close-delimited for an HTTP/1.0 client', async () => {
    const c = await RawClient.connect(port);
    c.write(msg('GET /chunky/x HTTP/1.0'));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(res!.framing).toBe('close');
    expect(res!.headers['transfer-encoding']).toBeUndefined();
    expect(res!.headers['content-length']).toBeUndefined();
    expect(res!.text).toBe(CHUNKY_PARTS.join(''));
    expect(c.closed).toBe(true);
  });

  it('for an HTTP/1.0 keep-alive client it is close-delimited too, so the connection ends', async () => {
    const c = await RawClient.connect(port);
    c.write(msg('GET /chunky/ka HTTP/1.0', ['Connection: keep-alive']));
    const [res] = await c.read(1);
    expect(res!.framing).toBe('close');
    expect(res!.text).toBe(CHUNKY_PARTS.join(''));
    expect(connectionTokens(res!)).not.toContain('keep-alive');
    expect(c.closed).toBe(true);
  });

  it('a Content-Length upstream answer keeps its length', async () => {
    const c = await RawClient.connect(port);
    c.write(get('/a/len'));
    const [res] = await c.read(1);
    expect(res!.framing).toBe('length');
    expect(res!.text).toBe(JSON.stringify({ node: 'a' }));
  });

  it('HEAD answers have no body (length and chunked upstreams); the next answer on the socket parses', async () => {
    const c = await RawClient.connect(port);
    c.write(msg('HEAD /a/h HTTP/1.1', [HOST]) + msg('HEAD /chunky/h HTTP/1.1', [HOST]) + get('/b/after-head'));
    const heads = await c.read(2, { head: true });
    expect(heads.map((r) => r.status)).toEqual([200, 200]);
    expect(heads[0]!.headers['x-node']).toBe('a');
    const [next] = await c.read(1);
    expect(next!.status).toBe(200);
    expect(next!.headers['x-node']).toBe('b');
    expect(next!.text).toBe(JSON.stringify({ node: 'b' }));
    expect(c.unreadBytes, `unexpected bytes: ${c.leftover()}`).toBe(0);
  });

  it('204 and 304 answers have no body', async () => {
    const c = await RawClient.connect(port);
    c.write(get('/status/204') + get('/status/304') + get('/c/after-empty'));
    const [noContent, notModified, next] = await c.read(3);
    expect(noContent!.status).toBe(204);
    expect(noContent!.headers['transfer-encoding']).toBeUndefined();
    expect(notModified!.status).toBe(304);
    expect(notModified!.headers['transfer-encoding']).toBeUndefined();
    expect(next!.headers['x-node']).toBe('c');
    expect(c.unreadBytes, `unexpected bytes: ${c.leftover()}`).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Expect: 100-continue
// ---------------------------------------------------------------------------------------------

describe('Expect: 100-continue', () => {
  it('HTTP/1.1 100 Continue arrives before the body is sent, then the answer (Content-Length body)', async () => {
    const c = await RawClient.connect(port);
    const body = 'sent after 100';
    c.write(msg('POST /echo/continue HTTP/1.1', [HOST, `Content-Length: ${body.length}`, 'Expect: 100-continue']));
    const [interim] = await c.read(1);
    expect(interim!.statusLine).toBe('HTTP/1.1 100 Continue');
    c.write(body);
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(echoBody(res!)).toBe(body);
  });

  it('works for a chunked body too, and the expectation is case-insensitive', async () => {
    const c = await RawClient.connect(port);
    c.write(msg('POST /echo/continue2 HTTP/1.1', [HOST, 'Transfer-Encoding: chunked', 'Expect: 100-Continue']));
    const [interim] = await c.read(1);
    expect(interim!.status).toBe(100);
    c.write(chunked(['after', ' continue']));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(echoBody(res!)).toBe('after continue');
  });

  it('a too large Content-Length is answered 413 BODY_TOO_LARGE without 100 Continue, and the connection closes', async () => {
    const hitsB = up('b').hits;
    const c = await RawClient.connect(port);
    c.write(msg('POST /small HTTP/1.1', [HOST, 'Content-Length: 1000', 'Expect: 100-continue']));
    const [res] = await c.read(1);
    expectGatewayError(res!, 'BODY_TOO_LARGE');
    expect(c.received).not.toContain('100 Continue');
    expect(connectionTokens(res!)).toContain('close');
    expect(await c.waitClosed()).toBe(true);
    expect(up('b').hits).toBe(hitsB);
  });
});

// ---------------------------------------------------------------------------------------------
// HTTP-layer gateway errors
// ---------------------------------------------------------------------------------------------

describe('HTTP-layer errors: JSON, x-isogate-error, Connection: close, then closed', () => {
  const chunkedPost = (body: string) => msg('POST /echo/bad HTTP/1.1', [HOST, 'Transfer-Encoding: chunked'], body);

  it.each<[string, string]>([
    ['bare LF line ends', 'GET /a/ HTTP/1.1\nHost: isogate.test\n\n'],
    ['a bare CR in the head', 'GET /a/ HTTP/1.1\r\nHost: isogate.test\rX: y\r\n\r\n'],
    ['no Host on HTTP/1.1', msg('GET /a/ HTTP/1.1')],
    ['Host twice', msg('GET /a/ HTTP/1.1', [HOST, 'Host: other.test'])],
    ['two spaces in the request line', msg('GET  /a/ HTTP/1.1', [HOST])],
    ['a method that is not a token', msg('G(T /a/ HTTP/1.1', [HOST])],
    ['a control character in the target', msg('GET /a/\x01 HTTP/1.1', [HOST])],
    ['a lower-case protocol name', msg('GET /a/ http/1.1', [HOST])],
    ['a malformed version', msg('GET /a/ HTTP/1.10', [HOST])],
    ['whitespace before the colon', msg('GET /a/ HTTP/1.1', [HOST, 'X-A : 1'])],
    ['an obs-fold continuation line', msg('GET /a/ HTTP/1.1', [HOST, 'X-A: 1', ' folded'])],
    ['a control character in a header value', msg('GET /a/ HTTP/1.1', [HOST, 'X-A: a\x01b'])],
    ['a non-numeric Content-Length', msg('POST /a/ HTTP/1.1', [HOST, 'Content-Length: 1x'], '1x')],
    ['a negative Content-Length', msg('POST /a/ HTTP/1.1', [HOST, 'Content-Length: -1'])],
    ['a Content-Length of 16 digits', msg('POST /a/ HTTP/1.1', [HOST, 'Content-Length: 1000000000000000'])],
    [
      'Content-Length twice, even identical',
      msg('POST /a/ HTTP/1.1', [HOST, 'Content-Length: 2', 'Content-Length: 2'], 'ab'),
    ],
    ['Transfer-Encoding on HTTP/1.0', msg('POST /a/ HTTP/1.0', ['Transfer-Encoding: chunked'], chunked(['ab']))],
    ['a chunk size that is not hex', chunkedPost('zz\r\nab\r\n0\r\n\r\n')],
    ['a chunk size of 13 hex digits', chunkedPost('0000000000002\r\nab\r\n0\r\n\r\n')],
    ['chunk data not followed by CRLF', chunkedPost('2\r\nabX\r\n0\r\n\r\n')],
    ['an empty chunk extension', chunkedPost('2;\r\nab\r\n0\r\n\r\n')],
    ['an unbalanced quote in a chunk extension', chunkedPost('2;a="b\r\nab\r\n0\r\n\r\n')],
    ['a chunk extension name that is not a token', chunkedPost('2;a(b\r\nab\r\n0\r\n\r\n')],
  ])('BAD_REQUEST: %s', async (_name, bytes) => {
    await expectRejected(port, bytes, 'BAD_REQUEST');
  });

  it('BAD_REQUEST: a bad chunk arriving after the body already streams to the node, without blaming the node', async () => {
    const before = echoCount;
    const c = await RawClient.connect(port);
    c.write(msg('POST /echo/late-bad-chunk HTTP/1.1', [HOST, 'Transfer-Encoding: chunked'], '2\r\nab\r\n'));
    await sleep(100); // the lifecycle has picked the node and streams the body to it
    c.write('zz\r\n');
    const [res] = await c.read(1);
    expectErrorBody(res!, 'BAD_REQUEST');
    expect(connectionTokens(res!)).toContain('close');
    expect(await c.waitClosed(), 'server closes the connection').toBe(true);
    expect(echoCount, 'the node never saw a complete request').toBe(before);
    c.destroy();
  });

  const line = (length: number) => {
    const prefix = 'GET /nowhere/';
    const suffix = ' HTTP/1.1';
    return `${prefix}${'x'.repeat(length - prefix.length - suffix.length)}${suffix}`;
  };

  it('URI_TOO_LONG: a request line of 8193 bytes; 8192 is still accepted (reaches routing)', async () => {
    expect(line(8192)).toHaveLength(8192);
    const c = await RawClient.connect(port);
    c.write(msg(line(8192), [HOST]));
    expectGatewayError((await c.read(1))[0]!, 'ROUTE_NOT_FOUND');
    await expectRejected(port, msg(line(8193), [HOST]), 'URI_TOO_LONG');
  });

  it('URI_TOO_LONG: a request line with no end yet, once more than 16 KiB arrived', async () => {
    await expectRejected(port, `GET /${'y'.repeat(17_000)}`, 'URI_TOO_LONG');
  });

  /** A head of exactly `length` bytes (request line, Host, one padding header, the empty line). */
  const headOf = (length: number) => {
    const start = `GET /nowhere HTTP/1.1\r\n${HOST}\r\nX-Pad: `;
    return `${start}${'p'.repeat(length - start.length - 4)}\r\n\r\n`;
  };

  it('HEADERS_TOO_LARGE: a head of 16385 bytes; 16384 is still accepted (reaches routing)', async () => {
    expect(headOf(16_384)).toHaveLength(16_384);
    const c = await RawClient.connect(port);
    c.write(headOf(16_384));
    expectGatewayError((await c.read(1))[0]!, 'ROUTE_NOT_FOUND');
    await expectRejected(port, headOf(16_385), 'HEADERS_TOO_LARGE');
  });

  it('HEADERS_TOO_LARGE: many small headers', async () => {
    const headers = Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}`);
    await expectRejected(port, msg('GET /a/ HTTP/1.1', [HOST, ...headers]), 'HEADERS_TOO_LARGE');
  });

  it('HEADERS_TOO_LARGE: a chunked body whose trailer section is over 16 KiB', async () => {
    await expectRejected(port, chunkedPost(chunked(['abc'], [`X-Big: ${'t'.repeat(17_000)}`])), 'HEADERS_TOO_LARGE');
  });

  it('EXPECTATION_FAILED: an Expect other than 100-continue', async () => {
    await expectRejected(
      port,
      msg('POST /echo/x HTTP/1.1', [HOST, 'Content-Length: 2', 'Expect: 200-ok'], 'ab'),
      'EXPECTATION_FAILED',
    );
    await expectRejected(port, msg('GET /a/ HTTP/1.1', [HOST, 'Expect: something']), 'EXPECTATION_FAILED');
  });

  it.each<[string]>([['gzip'], ['gzip, chunked'], ['chunked, gzip'], ['identity']])(
    'TRANSFER_CODING_UNSUPPORTED: Transfer-Encoding: %s',
    async (te) => {
      await expectRejected(
        port,
        msg('POST /echo/x HTTP/1.1', [HOST, `Transfer-Encoding: ${te}`], chunked(['ab'])),
        'TRANSFER_CODING_UNSUPPORTED',
      );
    },
  );

  it.each<[string]>([['HTTP/2.0'], ['HTTP/1.2'], ['HTTP/3.0'], ['HTTP/0.9']])(
    'HTTP_VERSION_UNSUPPORTED: %s',
    async (version) => {
      await expectRejected(port, msg(`GET /a/ ${version}`, [HOST]), 'HTTP_VERSION_UNSUPPORTED');
    },
  );

  it('the gateway keeps serving after all those rejections', async () => {
    const c = await RawClient.connect(port);
    c.write(get('/a/still-alive'));
    expect((await c.read(1))[0]!.headers['x-node']).toBe('a');
  });
});

describe('request smuggling', () => {
  it.each<[string, string[]]>([
    ['Content-Length before Transfer-Encoding', ['Content-Length: 4', 'Transfer-Encoding: chunked']],
    ['Transfer-Encoding before Content-Length', ['Transfer-Encoding: chunked', 'Content-Length: 48']],
  ])('CL + TE (%s) is 400 BAD_REQUEST and no node sees any request', async (_name, framing) => {
    const before = { a: up('a').hits, b: up('b').hits, echo: echoCount };
    const smuggled = get('/b/smuggled');
    await expectRejected(
      port,
      msg('POST /echo/front HTTP/1.1', [HOST, ...framing], `0\r\n\r\n${smuggled}`),
      'BAD_REQUEST',
    );
    await sleep(200);
    expect({ a: up('a').hits, b: up('b').hits, echo: echoCount }).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------
// Timeouts and drain (each on its own gateway)
// ---------------------------------------------------------------------------------------------

/**
 * Starts a gateway of its own, with `args`, for the enclosing describe block, with API `a` on
 * upstream a; returns its port (known once the block's tests run).
 */
function ownGateway(args: string[]): () => number {
  let g: TestGateway | undefined;
  beforeAll(async () => {
    g = await startTestGateway(args);
    const id = await createApi(g, { name: 'a', path: '/a/*', algorithm: 'round_robin' });
    await addNode(g, id, up('a'));
  });
  afterAll(async () => {
    await g?.stop();
  });
  return () => g!.app.gateway!.port;
}

describe('headers timeout (--client-header-timeout-ms 300)', () => {
  const gPort = ownGateway(['--client-header-timeout-ms', '300']);

  it('a stalled partial head gets 408 REQUEST_TIMEOUT after about 300 ms, then the connection closes', async () => {
    const c = await RawClient.connect(gPort());
    const started = Date.now();
    c.write(`GET /a/ HTTP/1.1\r\n${HOST}\r\n`);
    const [res] = await c.read(1, { timeoutMs: 5000 });
    const elapsed = Date.now() - started;
    expectGatewayError(res!, 'REQUEST_TIMEOUT');
    expect(connectionTokens(res!)).toContain('close');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
    expect(await c.waitClosed()).toBe(true);
  });

  it('the timeout runs from the first byte: a head trickling in a line every 100 ms still times out', async () => {
    const c = await RawClient.connect(gPort());
    const started = Date.now();
    c.write('GET /a/ HTTP/1.1\r\n');
    let i = 0;
    const trickle = setInterval(() => c.write(`X-Line-${i++}: x\r\n`), 100);
    try {
      const [res] = await c.read(1, { timeoutMs: 5000 });
      expectGatewayError(res!, 'REQUEST_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      clearInterval(trickle);
    }
  });

  it('a connection that sends nothing gets no 408 (the timeout is for a head that has started)', async () => {
    const c = await RawClient.connect(gPort());
    await sleep(600);
    // Closing such a connection silently is allowed; answering it 408 is not.
    expect(c.received).toBe('');
  });

  it('a head completed within the timeout, sent in pieces, is served', async () => {
    const c = await RawClient.connect(gPort());
    c.write('GET /a/pieces HTTP/1.1\r\n');
    await sleep(100);
    c.write(`${HOST}\r\n`);
    await sleep(100);
    c.write('\r\n');
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(res!.headers['x-node']).toBe('a');
  });
});

describe('keep-alive timeout (--client-keepalive-timeout-ms 300)', () => {
  const gPort = ownGateway(['--client-keepalive-timeout-ms', '300']);

  it('an idle keep-alive connection is closed after about 300 ms, silently', async () => {
    const c = await RawClient.connect(gPort());
    c.write(get('/a/idle'));
    const [res] = await c.read(1);
    const answered = Date.now();
    expect(res!.status).toBe(200);
    expect(connectionTokens(res!)).not.toContain('close');
    expect(res!.headers['keep-alive']).toMatch(/^timeout=\d+$/);
    expect(await c.waitClosed(3000)).toBe(true);
    expect(c.closedAt - answered).toBeGreaterThanOrEqual(200);
    expect(c.unreadBytes, `unexpected bytes: ${c.leftover()}`).toBe(0);
  });

  it('empty lines sent on an idle connection do not keep it open', async () => {
    const c = await RawClient.connect(gPort());
    c.write(get('/a/then-blank-lines'));
    await c.read(1);
    const answered = Date.now();
    const blanks = setInterval(() => c.write('\r\n'), 100);
    try {
      expect(await c.waitClosed(3000)).toBe(true);
    } finally {
      clearInterval(blanks);
    }
    expect(c.closedAt - answered).toBeLessThan(1500);
    expect(c.unreadBytes, `unexpected bytes: ${c.leftover()}`).toBe(0);
  });

  it('a request within the idle time keeps the connection going', async () => {
    const c = await RawClient.connect(gPort());
    c.write(get('/a/first'));
    await c.read(1);
    await sleep(150);
    c.write(get('/a/second'));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(await c.waitClosed(3000)).toBe(true);
  });
});

describe('graceful drain', () => {
  it('an answer sent while the gateway stops carries connection: close, then the connection closes', async () => {
    const g = await startTestGateway();
    try {
      const id = await createApi(g, { name: 'slow', path: '/slow/*', algorithm: 'round_robin' });
      let seen!: () => void;
      const arrived = new Promise<void>((r) => (seen = r));
      const url = await rawUpstream((req, res) => {
        seen();
        req.resume();
        setTimeout(() => res.writeHead(200, { 'content-length': 2, 'x-node': 'slow' }).end('ok'), 300);
      });
      await addNode(g, id, { name: 'slow', url });
      const c = await RawClient.connect(g.app.gateway!.port);
      c.write(get('/slow/drain'));
      await within(arrived, 5000, 'the request reaching the slow node');
      const stopping = g.app.close();
      const [res] = await c.read(1);
      expect(res!.status).toBe(200);
      expect(res!.text).toBe('ok');
      expect(connectionTokens(res!)).toContain('close');
      expect(await c.waitClosed()).toBe(true);
      await within(stopping, 10_000, 'the gateway stopping');
    } finally {
      await g.stop();
    }
  });
});
