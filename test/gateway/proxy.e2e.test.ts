import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_HEADER, GATEWAY_ERRORS } from '../../src/gateway/errors.js';
import { addNode, createApi, setSelector } from '../helpers/fixtures.js';
import { spread, startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { closedPort, startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let t: TestGateway;
let ups: TestUpstream[];
const extra: Server[] = [];

beforeAll(async () => {
  t = await startTestGateway();
  ups = await startUpstreams(['a', 'b']);
});

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  for (const s of extra) {
    s.closeAllConnections();
    s.close();
  }
});

const up = (name: string) => ups.find((u) => u.name === name)!;

/** A raw server for misbehaving upstreams. */
function rawUpstream(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  extra.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function expectError(res: Response, code: keyof typeof GATEWAY_ERRORS): Promise<void> {
  expect(res.status).toBe(GATEWAY_ERRORS[code].status);
  expect(res.headers.get(ERROR_HEADER)).toBe(code);
  expect(await res.json()).toEqual({ error: { code, message: GATEWAY_ERRORS[code].message } });
}

describe('forwarding', () => {
  it('forwards path, query and body, sets X-Forwarded-*, drops hop-by-hop headers', async () => {
    const id = await createApi(t, { name: 'fwd', path: '/fwd/*', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    // node:http, since fetch refuses to send hop-by-hop headers at all.
    const res = await rawRequest(
      `${t.gatewayUrl}/fwd/x/y?z=1&z=2`,
      'POST',
      {
        'x-custom': 'kept',
        'keep-alive': 'timeout=5',
        connection: 'keep-alive, x-drop-me',
        'x-drop-me': 'gone',
        'Proxy-Authorization': 'Basic Zm9vOmJhcg==',
        TE: 'trailers',
        'content-type': 'text/plain',
      },
      'hello body',
    );
    expect(res.status).toBe(200);
    expect(res.headers['x-node']).toBe('a');
    const seen = up('a').last!;
    expect(seen.url).toBe('/fwd/x/y?z=1&z=2');
    expect(seen.body).toBe('hello body');
    expect(seen.headers['x-custom']).toBe('kept');
    expect(seen.headers['x-drop-me']).toBeUndefined();
    expect(seen.headers['keep-alive']).toBeUndefined();
    expect(seen.headers['proxy-authorization']).toBeUndefined(); // whatever its case
    expect(seen.headers.te).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${t.app.gateway!.port}`); // the Host the client sent
    expect(seen.headers.host).toBe(`127.0.0.1:${up('a').port}`);
  });

  it('stripPrefix removes the route prefix and a node base path is prepended', async () => {
    const id = await createApi(t, { name: 'strip', path: '/strip/*', algorithm: 'round_robin', stripPrefix: true });
    await addNode(t, id, { name: 'a', url: `${up('a').url}/base` });
    await t.get('/strip/inner?q=1');
    expect(up('a').last!.url).toBe('/base/inner?q=1');
    await t.get('/strip');
    expect(up('a').last!.url).toBe('/base/');
  });

  it('streams a large response body through', async () => {
    const size = 8 * 1024 * 1024;
    const url = await rawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-node': 'big' });
      let sent = 0;
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = () => {
        while (sent < size) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const id = await createApi(t, { name: 'big', path: '/big', algorithm: 'round_robin' });
    await addNode(t, id, { name: 'big', url });
    const res = await t.get('/big');
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(size);
  });

  it('delivers every byte of a large response to a client that reads slowly', async () => {
    // Many reads from the node, and a client socket that fills up: a chunk waiting for the client
    // must not be overwritten by the node's next read.
    const payload = randomBytes(24 * 1024 * 1024); // more than the kernel's socket buffers hold
    const url = await rawUpstream((_req, res) => {
      // With a length, each chunk goes to the client as it is (a chunked answer's framing is copied with it).
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': payload.length });
      let at = 0;
      const pump = () => {
        while (at < payload.length) {
          const piece = payload.subarray(at, at + 1000 + (at % 7919));
          at += piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const id = await createApi(t, { name: 'slow-reader', path: '/slow-reader', algorithm: 'round_robin' });
    await addNode(t, id, { name: 'slow', url });
    const received = await new Promise<Buffer>((resolve, reject) => {
      const req = httpRequest(`${t.gatewayUrl}/slow-reader`, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          parts.push(chunk);
          // Stop at once, long enough for every buffer on the way to fill up, then now and then.
          if (parts.length === 1 || parts.length % 64 === 0) {
            res.pause();
            setTimeout(() => res.resume(), parts.length === 1 ? 300 : 5);
          }
        });
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(received.length).toBe(payload.length);
    expect(createHash('sha256').update(received).digest('hex')).toBe(
      createHash('sha256').update(payload).digest('hex'),
    );
  });

  it('streams a large chunked upload through, and HEAD and 204 answers carry no body', async () => {
    const url = await rawUpstream((req, res) => {
      let size = 0;
      req.on('data', (c: Buffer) => (size += c.length));
      req.on('end', () => {
        if (req.url === '/up/empty') res.writeHead(204).end();
        else
          res
            .writeHead(200, { 'content-type': 'application/json', 'x-node': 'up' })
            .end(JSON.stringify({ size, te: req.headers['transfer-encoding'] ?? null }));
      });
    });
    const id = await createApi(t, {
      name: 'upload',
      path: '/up/*',
      algorithm: 'round_robin',
      methods: ['POST', 'HEAD', 'GET'],
      maxBodyBytes: 16 * 1024 * 1024,
    });
    await addNode(t, id, { name: 'up', url });
    const chunk = Buffer.alloc(256 * 1024, 1);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 16; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const res = await fetch(`${t.gatewayUrl}/up/file`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ size: 16 * chunk.length, te: 'chunked' });
    const head = await fetch(`${t.gatewayUrl}/up/file`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const empty = await t.get('/up/empty');
    expect(empty.status).toBe(204);
    expect(await empty.text()).toBe('');
  });
});

describe('retries', () => {
  it('retries on another node when one node refuses connections', async () => {
    const id = await createApi(t, { name: 'retry', path: '/retry', algorithm: 'round_robin', retries: 1 });
    await addNode(t, id, { name: 'dead', url: `http://127.0.0.1:${await closedPort()}` });
    await addNode(t, id, up('a'));
    expect(await spread(t, '/retry', 20)).toEqual({ a: 20 });
  });

  it('without retries a refused connection is UPSTREAM_CONNECT_FAILED', async () => {
    const id = await createApi(t, { name: 'noretry', path: '/noretry', algorithm: 'round_robin', retries: 0 });
    await addNode(t, id, { name: 'dead', url: `http://127.0.0.1:${await closedPort()}` });
    await expectError(await t.get('/noretry'), 'UPSTREAM_CONNECT_FAILED');
  });

  it('when every candidate refuses the answer is ALL_NODES_TRIED, after one try each', async () => {
    const id = await createApi(t, { name: 'alldead', path: '/alldead', algorithm: 'round_robin', retries: 5 });
    await addNode(t, id, { name: 'dead1', url: `http://127.0.0.1:${await closedPort()}` });
    await addNode(t, id, { name: 'dead2', url: `http://127.0.0.1:${await closedPort()}` });
    await expectError(await t.get('/alldead'), 'ALL_NODES_TRIED');
  });
});

describe('gateway errors', () => {
  it('ROUTE_NOT_FOUND and METHOD_NOT_ALLOWED (with Allow)', async () => {
    const id = await createApi(t, { name: 'getonly', path: '/getonly', algorithm: 'round_robin', methods: ['GET'] });
    await addNode(t, id, up('a'));
    await expectError(await t.get('/nothing-here'), 'ROUTE_NOT_FOUND');
    const res = await t.get('/getonly', { method: 'DELETE' });
    expect(res.headers.get('allow')).toBe('GET');
    await expectError(res, 'METHOD_NOT_ALLOWED');
  });

  it('BODY_TOO_LARGE before any backend work', async () => {
    const id = await createApi(t, { name: 'small', path: '/small', algorithm: 'round_robin', maxBodyBytes: 10 });
    await addNode(t, id, up('b'));
    const before = up('b').hits;
    await expectError(await t.get('/small', { method: 'POST', body: 'x'.repeat(11) }), 'BODY_TOO_LARGE');
    expect(up('b').hits).toBe(before);
  });

  it('NO_ENABLED_NODE when every node is unticked, or there is none', async () => {
    const id = await createApi(t, { name: 'none', path: '/none', algorithm: 'round_robin' });
    await expectError(await t.get('/none'), 'NO_ENABLED_NODE');
    await addNode(t, id, up('a'), { enabled: false });
    await expectError(await t.get('/none'), 'NO_ENABLED_NODE');
  });

  it('UPSTREAM_TIMEOUT when the node does not answer in time', async () => {
    const url = await rawUpstream(() => undefined); // never answers
    const id = await createApi(t, {
      name: 'slow',
      path: '/slow',
      algorithm: 'round_robin',
      timeouts: { headersMs: 200 },
    });
    await addNode(t, id, { name: 'slow', url });
    await expectError(await t.get('/slow'), 'UPSTREAM_TIMEOUT');
  });

  it('UPSTREAM_ERROR when the node drops the connection', async () => {
    const url = await rawUpstream((req) => req.socket.destroy());
    const id = await createApi(t, { name: 'rude', path: '/rude', algorithm: 'round_robin', retries: 0 });
    await addNode(t, id, { name: 'rude', url });
    await expectError(await t.get('/rude'), 'UPSTREAM_ERROR');
  });

  it('gateway errors on a selector API keep the selector out of the way of 404s', async () => {
    const id = await createApi(t, { name: 'sel404', path: '/sel404', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    await setSelector(t, id, { code: 'function select(r, e, nodes) { return nodes; }' });
    await expectError(await t.get('/sel404x'), 'ROUTE_NOT_FOUND');
    expect(await t.nodeOf('/sel404')).toBe('a');
  });
});
