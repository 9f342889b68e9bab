/**
 * A node's framing errors through real sockets (docs/edge-limits.md, The codec): a node that repeats
 * `Content-Length` (even with the same value) or sends a malformed chunk line (an empty or unbalanced
 * chunk extension, a bare LF, spaces around the size) is answered 502 UPSTREAM_ERROR when no answer
 * has started, and its bytes never reach the client as a complete answer; the node is a raw TCP server
 * so that it sends exactly these bytes.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { expectGatewayError, get, IncompleteResponse, RawClient } from '../helpers/raw-client.js';

/** What the node answers, by the request's path after `/n/`. */
const ANSWERS: Record<string, string> = {
  good: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'good-chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b;q="x y"\r\nok\r\n0\r\n\r\n',
  'length-twice': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok',
  'length-list': 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok',
  'empty-extension': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;\r\nok\r\n0\r\n\r\n',
  'unbalanced-quote': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a="b\r\nok\r\n0\r\n\r\n',
  'bare-lf-chunk-line': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n',
  'space-before-size': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 2\r\nok\r\n0\r\n\r\n',
};

let t: TestGateway;
let port: number;
let node: Server;

beforeAll(async () => {
  node = createServer((socket) => {
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (data) => {
      head += data.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = /^GET \/n\/([\w-]+)/.exec(head)?.[1] ?? '';
      socket.end(ANSWERS[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', r));
  t = await startTestGateway();
  port = t.app.gateway!.port;
  const id = await createApi(t, { name: 'n', path: '/n/*', algorithm: 'round_robin', retries: 0 });
  await addNode(t, id, { name: 'raw', url: `http://127.0.0.1:${(node.address() as AddressInfo).port}` });
});

afterAll(async () => {
  await t?.stop();
  node?.close();
});

/** One request on a fresh connection and the answer the client reads (rejects when none is complete). */
async function ask(path: string) {
  const c = await RawClient.connect(port);
  c.write(get(`/n/${path}`));
  try {
    const [res] = await c.read(1, { timeoutMs: 3_000 });
    return res!;
  } finally {
    c.destroy();
  }
}

describe("a node's framing", () => {
  it.each(['good', 'good-chunked'])('well framed (%s): passed on', async (path) => {
    const res = await ask(path);
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok');
  });

  it.each(['length-twice', 'length-list'])(
    'Content-Length repeated (%s): 502 UPSTREAM_ERROR, never two lengths to the client',
    async (path) => {
      const res = await ask(path);
      expectGatewayError(res, 'UPSTREAM_ERROR');
    },
  );

  it.each(['empty-extension', 'unbalanced-quote', 'bare-lf-chunk-line', 'space-before-size'])(
    'a bad chunk line (%s): no complete answer reaches the client',
    async (path) => {
      let res;
      try {
        res = await ask(path);
      } catch (err) {
        // Cut before a complete answer (the head had gone on): the bad body was not passed on.
        expect(err).toBeInstanceOf(IncompleteResponse);
        return;
      }
      // Refused while the head was still held: the gateway's own error.
      expectGatewayError(res, 'UPSTREAM_ERROR');
    },
  );
});
