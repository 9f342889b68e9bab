import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type Settings,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa, type TestCertificate } from '../../helpers/certs.js';
import { addNode, createApi } from '../../helpers/fixtures.js';
import { F, frame, headers, PREFACE, S, settings, T, windowUpdate } from '../../helpers/h2-raw.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';

// HTTP/2 flow control, bodies and session life, end to end: node:http2 clients on the TLS port,
// a node:http node behind one API (`/n/*`).
const MiB = 1024 * 1024;
const BIG = randomBytes(5 * MiB); // answers are slices of it, repeated past its length
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let ca: TestCa;
let cert: TestCertificate;
let node: Server;
let gw: TestGateway;
let port: number;
const opened: ClientHttp2Session[] = [];
/** What the node saw: bytes written to the flood answer, and hooks for the drip and slow answers. */
const seen = {
  floodWritten: 0,
  floodCut: null as (() => void) | null,
  dripClosed: null as (() => void) | null,
  slowArrived: null as (() => void) | null,
};

/** Writes `total` bytes of BIG (repeated) with backpressure, counting them in `count`, then ends. */
function pour(res: ServerResponse, total: number, count: (bytes: number) => void = () => undefined): void {
  let at = 0;
  const step = () => {
    while (at < total) {
      const offset = at % BIG.length;
      const piece = BIG.subarray(offset, Math.min(BIG.length, offset + 64 * 1024, offset + total - at));
      at += piece.length;
      count(piece.length);
      if (!res.write(piece)) return void res.once('drain', step);
    }
    res.end();
  };
  step();
}

/** The sha256 of what `pour` writes for `total`. */
function pourSha(total: number): string {
  const hash = createHash('sha256');
  for (let at = 0; at < total; at += BIG.length) hash.update(BIG.subarray(0, Math.min(BIG.length, total - at)));
  return hash.digest('hex');
}

function answerNode(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url!, 'http://node');
  const bytes = Number(url.searchParams.get('bytes') ?? 0);
  switch (url.pathname) {
    case '/n/upload': {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        length += c.length;
      });
      req.on('end', () => res.end(JSON.stringify({ length, sha: hash.digest('hex') })));
      return;
    }
    case '/n/echo':
      return void res.end(JSON.stringify({ rawHeaders: req.rawHeaders, port: (node.address() as AddressInfo).port }));
    case '/n/big': // content-length only when asked, else chunked
      res.writeHead(200, url.searchParams.has('sized') ? { 'content-length': bytes } : {});
      return pour(res, bytes);
    case '/n/flood':
      seen.floodWritten = 0;
      res.on('close', () => {
        if (!res.writableFinished) seen.floodCut?.();
      });
      return pour(res, bytes, (n) => (seen.floodWritten += n));
    case '/n/sized':
      return void res.writeHead(200, { 'content-length': 1234 }).end(BIG.subarray(0, 1234));
    case '/n/204':
    case '/n/304':
      return void res.writeHead(Number(url.pathname.slice(3))).end();
    case '/n/headers': {
      const headers: [string, string][] = [];
      for (let i = 0; i < 40; i++) headers.push([`x-h-${i}`, String(i % 10).repeat(1024)]);
      headers.push(['set-cookie', 'a=1; Path=/'], ['set-cookie', 'b=2; Path=/']);
      return void res.writeHead(200, headers.flat()).end('ok');
    }
    case '/n/drip': {
      // 1 KiB every 50 ms until the connection goes.
      const timer = setInterval(() => res.write(BIG.subarray(0, 1024)), 50);
      res.on('close', () => {
        clearInterval(timer);
        if (!res.writableEnded) seen.dripClosed?.();
      });
      return;
    }
    case '/n/slow':
      seen.slowArrived?.();
      return void setTimeout(() => res.end('slow'), 1_500);
    default:
      res.end('ok');
  }
}

/** Trusts the CA, uploads the certificate and publishes `/n/*` on the node; returns the TLS port. */
async function prepare(t: TestGateway): Promise<number> {
  const up = await t.admin('POST', '/admin/certificates', {
    certificate: cert.certificate,
    privateKey: cert.privateKey,
  });
  expect(up.status).toBe(201);
  const api = await createApi(t, { name: 'n', path: '/n/*', algorithm: 'round_robin' });
  await addNode(t, api, { name: 'node', url: `http://127.0.0.1:${(node.address() as AddressInfo).port}` });
  return t.app.gatewayTls!.port;
}

beforeAll(async () => {
  ca = new TestCa();
  cert = ca.issue(['h2.test']);
  node = createServer(answerNode);
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', () => r()));
  gw = await startTestGateway(['--gateway-tls-port', '0']);
  port = await prepare(gw);
}, 60_000);

afterAll(async () => {
  for (const s of opened) s.destroy();
  await gw?.stop();
  node?.closeAllConnections();
  node?.close();
  ca?.dispose();
});

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** An HTTP/2 session to `to` with SNI h2.test, with the client's own SETTINGS if given. */
async function open(to = port, settings?: Settings): Promise<ClientHttp2Session> {
  const s = connect(`https://h2.test:${to}`, {
    ca: cert.ca,
    servername: 'h2.test',
    host: '127.0.0.1',
    port: to,
    settings,
  });
  opened.push(s);
  await within(once(s, 'connect'), 5_000, 'connect');
  return s;
}

/** Every byte of a stream's body; fails if the stream errs or closes before its end. */
function readAll(stream: ClientHttp2Stream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
    stream.once('close', () => reject(new Error(`stream closed (code ${stream.rstCode}) before its end`)));
  });
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request (with a body if given) and its whole answer, within `ms`. */
async function fetchH2(
  s: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: Buffer,
  ms = 20_000,
): Promise<Answer> {
  const stream = s.request(headers, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  const [[head], data] = await within(
    Promise.all([once(stream, 'response') as Promise<[IncomingHttpHeaders]>, readAll(stream)]),
    ms,
    `${headers[':method'] ?? 'GET'} ${headers[':path']}`,
  );
  return { status: Number(head[':status']), headers: head, body: data };
}

const post = (path: string) => ({ ':method': 'POST', ':path': path });

describe('request bodies', () => {
  it('carries 3 MiB on one stream, past the stream and connection windows, byte for byte', async () => {
    const s = await open();
    const body = randomBytes(3 * MiB);
    const a = await fetchH2(s, post('/n/upload'), body);
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body.toString())).toEqual({ length: body.length, sha: sha(body) });
  });

  it('carries 4 concurrent 1 MiB uploads on one session intact', async () => {
    const s = await open();
    const bodies = Array.from({ length: 4 }, () => randomBytes(MiB));
    const answers = await Promise.all(bodies.map((b) => fetchH2(s, post('/n/upload'), b)));
    expect(answers.map((a) => JSON.parse(a.body.toString()))).toEqual(
      bodies.map((b) => ({ length: MiB, sha: sha(b) })),
    );
  });
});

describe('response bodies', () => {
  const big = 5 * MiB;

  it.each([
    ['chunked', '/n/big?bytes=' + big],
    ['with content-length', '/n/big?sized&bytes=' + big],
  ])('carries a 5 MiB answer %s intact', async (_, path) => {
    const a = await fetchH2(await open(), { ':path': path });
    expect(a.status).toBe(200);
    expect(a.body.length).toBe(big);
    expect(sha(a.body)).toBe(pourSha(big));
  });

  it('keeps to a client stream window of 1,000 bytes and the default connection window', async () => {
    const s = await open(port, { initialWindowSize: 1_000 });
    for (const path of [`/n/big?bytes=${big}`, `/n/big?sized&bytes=${big}`]) {
      const a = await fetchH2(s, { ':path': path }, undefined, 60_000);
      expect(a.body.length).toBe(big);
      expect(sha(a.body)).toBe(pourSha(big));
    }
  }, 120_000);

  it('follows SETTINGS_INITIAL_WINDOW_SIZE changed mid-answer (shrunk, then grown)', async () => {
    const s = await open();
    const stream = s.request({ ':path': `/n/big?bytes=${big}` });
    let got = 0;
    stream.on('data', (c: Buffer) => {
      const before = got;
      got += c.length;
      if (before < MiB && got >= MiB) s.settings({ initialWindowSize: 1_000 });
      if (before < 2 * MiB && got >= 2 * MiB) s.settings({ initialWindowSize: 4 * MiB });
    });
    const body = await within(readAll(stream), 60_000, 'the answer');
    expect(body.length).toBe(big);
    expect(sha(body)).toBe(pourSha(big));
  }, 90_000);

  it('holds a node writing 50 MiB to a client that reads nothing, then delivers it all once read', async () => {
    const s = await open();
    const total = 50 * MiB;
    const stream = s.request({ ':path': `/n/flood?bytes=${total}` });
    const [head] = (await within(once(stream, 'response'), 5_000, 'the head')) as [IncomingHttpHeaders];
    expect(head[':status']).toBe(200);
    // Not read (no 'data' listener): the client's windows stay shut.
    await new Promise((r) => setTimeout(r, 2_500));
    const stalled = seen.floodWritten;
    expect(stalled).toBeGreaterThan(0);
    expect(stalled).toBeLessThan(20 * MiB);
    const body = await within(readAll(stream), 30_000, 'the flood once read');
    expect(body.length).toBe(total);
    expect(sha(body)).toBe(pourSha(total));
  }, 60_000);
});

describe('answers without a body', () => {
  it('answers HEAD with the status and content-length, and no body', async () => {
    const a = await fetchH2(await open(), { ':method': 'HEAD', ':path': '/n/sized' });
    expect(a.status).toBe(200);
    expect(a.headers['content-length']).toBe('1234');
    expect(a.body.length).toBe(0);
  });

  it.each([204, 304])('passes a %i on with no body', async (status) => {
    const a = await fetchH2(await open(), { ':path': `/n/${status}` });
    expect(a.status).toBe(status);
    expect(a.body.length).toBe(0);
  });
});

describe('header fields', () => {
  it('sends response headers over 16 KiB whole (HEADERS + CONTINUATION), each set-cookie apart', async () => {
    const a = await fetchH2(await open(), { ':path': '/n/headers' });
    expect(a.status).toBe(200);
    for (let i = 0; i < 40; i++) expect(a.headers[`x-h-${i}`]).toBe(String(i % 10).repeat(1024));
    expect(a.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(a.body.toString()).toBe('ok');
  });

  it("joins split cookie fields with '; ' for the node, and gives it its own host", async () => {
    const a = await fetchH2(await open(), { ':path': '/n/echo', cookie: ['a=1', 'b=2'] });
    const { rawHeaders, port: nodePort } = JSON.parse(a.body.toString()) as { rawHeaders: string[]; port: number };
    const values = (name: string) =>
      rawHeaders.filter((_, i) => i % 2 === 1 && rawHeaders[i - 1]!.toLowerCase() === name);
    // RFC 9113 §8.2.3: one Cookie field to an HTTP/1.1 node.
    expect(values('cookie')).toEqual(['a=1; b=2']);
    expect(values('host')).toEqual([`127.0.0.1:${nodePort}`]);
    expect(values('x-forwarded-host')).toEqual([`h2.test:${port}`]);
  });
});

describe('streams', () => {
  it('aborts the node exchange of a stream the client cancels, the other streams going on', async () => {
    const s = await open();
    const other = fetchH2(s, { ':path': '/n/slow' });
    const dripClosed = new Promise<void>((r) => (seen.dripClosed = r));
    const stream = s.request({ ':path': '/n/drip' });
    await within(once(stream, 'data'), 5_000, 'the first drip');
    stream.close(constants.NGHTTP2_CANCEL);
    await within(dripClosed, 5_000, "the node's answer closing");
    expect((await other).body.toString()).toBe('slow');
    expect((await fetchH2(s, { ':path': '/n/after' })).status).toBe(200);
  });

  it('answers 500 requests in batches of 100 concurrent streams on one session', async () => {
    const s = await open();
    for (let batch = 0; batch < 5; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => fetchH2(s, { ':path': `/n/ok/${batch}/${i}` })),
      );
      expect(answers.filter((a) => a.status === 200 && a.body.toString() === 'ok').length).toBe(100);
    }
  });
});

describe('session life', () => {
  let idle: TestGateway;
  let idlePort: number;

  beforeAll(async () => {
    idle = await startTestGateway(['--gateway-tls-port', '0', '--client-keepalive-timeout-ms', '500']);
    idlePort = await prepare(idle);
  }, 60_000);

  afterAll(async () => {
    await idle?.stop();
  });

  it('sends an idle session GOAWAY (NO_ERROR) after the keep-alive timeout, then closes it', async () => {
    const s = await open(idlePort);
    expect((await fetchH2(s, { ':path': '/n/ok' })).status).toBe(200);
    const [code] = (await within(once(s, 'goaway'), 3_000, 'GOAWAY')) as [number];
    expect(code).toBe(constants.NGHTTP2_NO_ERROR);
    await within(once(s, 'close'), 3_000, 'the session closing');
  });

  it('keeps a session whose stream waits on a slow node past the timeout, and sends GOAWAY once idle', async () => {
    const s = await open(idlePort);
    let answered = false;
    let goawayFirst = false;
    s.on('goaway', () => (goawayFirst = !answered));
    const goaway = once(s, 'goaway');
    const a = await fetchH2(s, { ':path': '/n/slow' }, undefined, 5_000);
    answered = true;
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe('slow');
    await within(goaway, 3_000, 'GOAWAY');
    expect(goawayFirst).toBe(false);
    await within(once(s, 'close'), 3_000, 'the session closing');
  });

  it('finishes a stream in progress when the gateway stops, then closes the session', async () => {
    const g = await startTestGateway(['--gateway-tls-port', '0', '--drain-ms', '5000']);
    try {
      const s = await open(await prepare(g));
      const arrived = new Promise<void>((r) => (seen.slowArrived = r));
      const answer = fetchH2(s, { ':path': '/n/slow' }, undefined, 5_000);
      await within(arrived, 5_000, 'the request reaching the node');
      const stopping = g.app.close();
      const closed = once(s, 'close');
      expect((await answer).body.toString()).toBe('slow');
      await within(closed, 5_000, 'the session closing');
      await within(stopping, 10_000, 'the gateway stopping');
    } finally {
      seen.slowArrived = null;
      await g.stop();
    }
  });
});

describe('clients that do not read (--client-send-timeout-ms)', () => {
  let strict: TestGateway;
  let strictPort: number;

  beforeAll(async () => {
    strict = await startTestGateway(['--gateway-tls-port', '0', '--client-send-timeout-ms', '500']);
    strictPort = await prepare(strict);
  }, 60_000);

  afterAll(async () => {
    seen.floodCut = null;
    await strict?.stop();
  });

  it("resets a stream whose window the client keeps shut (CANCEL), and the node's answer is cut", async () => {
    const cut = new Promise<void>((r) => (seen.floodCut = r));
    const s = await open(strictPort);
    const stream = s.request({ ':path': `/n/flood?bytes=${50 * MiB}` });
    stream.on('error', () => undefined);
    // Never read: the stream's window stays shut once the client's buffer is full.
    await within(once(stream, 'close'), 5_000, 'the stream reset');
    expect(stream.rstCode).toBe(constants.NGHTTP2_CANCEL);
    await within(cut, 5_000, "the node's answer cut");
    expect((await fetchH2(s, { ':path': '/n/ok' })).status).toBe(200);
  });

  it('cuts a connection that grants every window but reads nothing of its socket', async () => {
    const cut = new Promise<void>((r) => (seen.floodCut = r));
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: strictPort,
      servername: 'h2.test',
      ca: cert.ca,
      ALPNProtocols: ['h2'],
    });
    socket.on('error', () => undefined);
    await within(once(socket, 'secureConnect'), 5_000, 'the handshake');
    const fields: [string, string][] = [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', `/n/flood?bytes=${200 * MiB}`],
      [':authority', 'h2.test'],
    ];
    socket.write(
      Buffer.concat([
        PREFACE,
        settings([[S.INITIAL_WINDOW_SIZE, 0x7fffffff]]),
        windowUpdate(0, 0x7fffffff - 65_535),
        frame(T.SETTINGS, F.ACK, 0),
        headers(1, fields, { endStream: true }),
      ]),
    );
    socket.pause(); // reads nothing from here on: the gateway's writes fill the socket
    try {
      await within(cut, 10_000, "the node's answer cut with the client's connection");
      expect(seen.floodWritten).toBeLessThan(200 * MiB);
    } finally {
      socket.destroy();
    }
  });
});
