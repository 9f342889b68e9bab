import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ClientHttp2Session } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H2_LIMITS } from '../../../src/gateway/h2/sessions.js';
import type { TestCertificate } from '../../helpers/certs.js';
import { addNode, createApi } from '../../helpers/fixtures.js';
import { h2Request, h2Session } from '../../helpers/h2-client.js';
import { H2_HOST, startH2TestGateway, type H2TestGateway } from '../../helpers/h2-gateway.js';
import { frame } from '../../helpers/h2-raw.js';
import type { TestGateway } from '../../helpers/isogate.js';
import { closedPort, type TestUpstream } from '../../helpers/upstreams.js';

// HTTP/2 from clients on the TLS port (ALPN h2), each stream one request through the lifecycle,
// proxied to HTTP/1.1 nodes.
let g: H2TestGateway;
let t: TestGateway;
let ups: TestUpstream[];
let cert: TestCertificate;
let port: number;
const sessions: ClientHttp2Session[] = [];

beforeAll(async () => {
  g = await startH2TestGateway();
  ({ t, ups, cert, port } = g);
  const get = await createApi(t, { name: 'get-only', path: '/get-only', algorithm: 'round_robin', methods: ['GET'] });
  await addNode(t, get, ups[0]!);
  await createApi(t, { name: 'empty', path: '/empty', algorithm: 'round_robin' });
  const dead = await createApi(t, { name: 'dead', path: '/dead', algorithm: 'round_robin', retries: 0 });
  await addNode(t, dead, { name: 'dead', url: `http://127.0.0.1:${await closedPort()}` });
}, 60_000);

afterAll(async () => {
  for (const s of sessions) s.destroy();
  await g?.stop();
});

async function session(): Promise<ClientHttp2Session> {
  const s = await h2Session(port, H2_HOST, cert.ca);
  sessions.push(s);
  return s;
}

describe('HTTP/2 on the TLS port', () => {
  it('is chosen by ALPN, and many concurrent streams on one connection are spread by the algorithm', async () => {
    const s = await session();
    expect(s.alpnProtocol).toBe('h2');
    const answers = await Promise.all(Array.from({ length: 90 }, (_, i) => h2Request(s, { ':path': `/spread/${i}` })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const counts: Record<string, number> = {};
    for (const a of answers) counts[String(a.headers['x-node'])] = (counts[String(a.headers['x-node'])] ?? 0) + 1;
    expect(counts).toEqual({ a: 30, b: 30, c: 30 });
    expect(ups[0]!.last?.headers['x-forwarded-proto']).toBe('https');
    expect(ups[0]!.last?.headers.host).toBe(`127.0.0.1:${ups[0]!.port}`);
  });

  it('streams request bodies to the node, with or without a content-length', async () => {
    const s = await session();
    const sized = await h2Request(s, { ':path': '/spread/post', ':method': 'POST', 'content-length': '5' }, 'hello');
    expect(sized.status).toBe(200);
    const unsized = await h2Request(s, { ':path': '/spread/post', ':method': 'POST' }, 'x'.repeat(900));
    expect(unsized.status).toBe(200);
    const bodies = ups.map((u) => u.last?.body ?? '');
    expect(bodies).toContain('hello');
    expect(bodies).toContain('x'.repeat(900));
  });

  it('answers gateway errors per stream, the other streams of the session unharmed', async () => {
    const s = await session();
    const [ok, missing, method, empty, dead, tooBig, streamedTooBig] = await Promise.all([
      h2Request(s, { ':path': '/spread/ok' }),
      h2Request(s, { ':path': '/nowhere' }),
      h2Request(s, { ':path': '/get-only', ':method': 'DELETE' }),
      h2Request(s, { ':path': '/empty' }),
      h2Request(s, { ':path': '/dead' }),
      h2Request(s, { ':path': '/spread/big', ':method': 'POST', 'content-length': '5000' }, 'x'.repeat(5000)),
      h2Request(s, { ':path': '/spread/big', ':method': 'POST' }, 'x'.repeat(5000)),
    ]);
    expect(ok.status).toBe(200);
    const codes = [missing, method, empty, dead, tooBig, streamedTooBig].map((a) => [
      a.status,
      a.headers['x-isogate-error'],
    ]);
    expect(codes).toEqual([
      [404, 'ROUTE_NOT_FOUND'],
      [405, 'METHOD_NOT_ALLOWED'],
      [503, 'NO_ENABLED_NODE'],
      [502, 'UPSTREAM_CONNECT_FAILED'],
      [413, 'BODY_TOO_LARGE'],
      [413, 'BODY_TOO_LARGE'],
    ]);
    expect(JSON.parse(missing.body)).toMatchObject({ error: { code: 'ROUTE_NOT_FOUND' } });
    expect(method.headers.allow).toBe('GET');
    expect((await h2Request(s, { ':path': '/spread/after' })).status).toBe(200);
  });

  it('passes a node’s 204 without its Content-Length, what its Connection names or its own x-isogate-error', async () => {
    const node = createNetServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () =>
        socket.write(
          'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nConnection: X-Secret\r\nX-Secret: s\r\n' +
            'X-Isogate-Error: UPSTREAM_ERROR\r\nX-Kept: yes\r\n\r\n',
        ),
      );
    });
    await new Promise<void>((r) => node.listen(0, '127.0.0.1', () => r()));
    try {
      const api = await createApi(t, { name: 'h2-204', path: '/h2-204', algorithm: 'round_robin' });
      await addNode(t, api, { name: 'h2-204', url: `http://127.0.0.1:${(node.address() as AddressInfo).port}` });
      const s = await session();
      const answer = await h2Request(s, { ':path': '/h2-204' });
      expect(answer).toMatchObject({ status: 204, body: '', error: null });
      expect(answer.headers['x-kept']).toBe('yes');
      expect(answer.headers['content-length']).toBeUndefined();
      expect(answer.headers['x-secret']).toBeUndefined();
      expect(answer.headers['x-isogate-error']).toBeUndefined();
      expect((await h2Request(s, { ':path': '/spread/after-204' })).status).toBe(200);
    } finally {
      node.close();
    }
  });

  it('refuses a header list over the limit on that stream only', async () => {
    const s = await session();
    const other = await session();
    const big = await h2Request(s, { ':path': '/spread/big', 'x-big': 'v'.repeat(H2_LIMITS.maxHeaderListSize + 1) });
    expect(big.status).not.toBe(200);
    expect((await h2Request(s, { ':path': '/spread/same-session' })).status).toBe(200);
    expect((await h2Request(other, { ':path': '/spread/other-session' })).status).toBe(200);
  });

  it('serves as many concurrent streams as SETTINGS_MAX_CONCURRENT_STREAMS allows on one connection', async () => {
    const result = await (await rawStreams(H2_LIMITS.maxConcurrentStreams)).result;
    expect(result).toEqual({ answered: H2_LIMITS.maxConcurrentStreams, goaway: null, closedByServer: false });
  });

  it('closes a connection that opens more streams than allowed, other connections unharmed', async () => {
    const other = await session();
    const pending = h2Request(other, { ':path': '/slow' });
    const result = await (await rawStreams(H2_LIMITS.maxConcurrentStreams + 40)).result;
    expect(result.answered).toBe(0);
    expect(result.closedByServer).toBe(true);
    expect((await pending).status).toBe(200);
    expect((await h2Request(other, { ':path': '/spread/after' })).status).toBe(200);
  });

  it('closes a connection that opens and at once resets streams in a flood (rapid reset), other connections unharmed', async () => {
    const other = await session();
    const pending = h2Request(other, { ':path': '/slow' });
    const before = ups.reduce((n, u) => n + u.hits, 0);
    const flood = 5_000;
    const result = await (await rawStreams(flood, { path: '/spread/reset', reset: true })).result;
    expect(result.goaway !== null || result.closedByServer).toBe(true);
    // Nearly all of the flood never reached a node: the session was cut long before its last stream.
    expect(ups.reduce((n, u) => n + u.hits, 0) - before).toBeLessThan(flood / 10);
    expect((await pending).status).toBe(200);
    expect((await h2Request(other, { ':path': '/spread/after-reset' })).status).toBe(200);
  });
});

/** What a raw connection saw: streams answered, the GOAWAY code if any, whether the server closed it. */
interface RawOutcome {
  answered: number;
  goaway: number | null;
  closedByServer: boolean;
}

/**
 * A client that may ignore the server's SETTINGS_MAX_CONCURRENT_STREAMS: opens `n` streams at once
 * on a raw TLS connection (hand-made frames, RFC 9113 §4 and RFC 7541 literals) to `path` (the slow
 * API unless told), each followed at once by its RST_STREAM (CANCEL) with `reset`, and counts the
 * streams answered with HEADERS, and the GOAWAY error code if the server sent one.
 */
async function rawStreams(
  n: number,
  { path = '/slow', reset = false }: { path?: string; reset?: boolean } = {},
): Promise<{ result: Promise<RawOutcome> }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'h2.test', ca: cert.ca, ALPNProtocols: ['h2'] });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const literal = (index: number, value: string) =>
    Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value)]);
  // :method GET (static 2), :scheme https (7), :path (4) and :authority (1) as literals without indexing.
  const block = Buffer.concat([Buffer.from([0x82, 0x87]), literal(4, path), literal(1, 'h2.test')]);
  const cancel = Buffer.from([0, 0, 0, 8]); // RST_STREAM's error code: CANCEL
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]));
  let answered = 0;
  let goaway: number | null = null;
  let buf = Buffer.alloc(0);
  let sent = false;
  let finished = false;
  const result = new Promise<RawOutcome>((resolve) => {
    const finish = (closedByServer: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ answered, goaway, closedByServer });
    };
    const timer = setTimeout(() => finish(false), 10_000);
    socket.on('close', () => finish(true));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 9) {
        const length = buf.readUIntBE(0, 3);
        if (buf.length < 9 + length) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        const payload = buf.subarray(9, 9 + length);
        buf = buf.subarray(9 + length);
        if (type === 4 && (flags & 1) === 0 && !sent) {
          // The server's SETTINGS: acknowledge, then open every stream at once.
          sent = true;
          const frames = [frame(4, 1, 0, Buffer.alloc(0))];
          for (let i = 0; i < n; i++) {
            frames.push(frame(1, 0x5, 2 * i + 1, block));
            if (reset) frames.push(frame(3, 0, 2 * i + 1, cancel));
          }
          socket.write(Buffer.concat(frames));
        } else if (type === 1) answered++;
        else if (type === 7) goaway = payload.readUInt32BE(4);
        if (answered === n) finish(false);
        else if (goaway !== null) finish(true);
      }
    });
  });
  return { result };
}
