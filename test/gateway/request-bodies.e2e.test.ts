/**
 * Request bodies bounded while they stream (through real sockets on 127.0.0.1): a chunked body past
 * the API's maxBodyBytes is BODY_TOO_LARGE when no answer has started, else the client's connection
 * is cut; either way the node's request is aborted. A body sent in one-byte chunks reaches the node
 * in a few writes, not one per chunk.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { until } from '../helpers/processes.js';
import { expectErrorBody, HOST, msg, openClients, RawClient } from '../helpers/raw-client.js';

/** What a node saw of one request: its body 'data' events (one per chunk it received), bytes, and whether it ended or was aborted. */
interface Seen {
  events: number;
  bytes: number;
  ended: boolean;
  aborted: boolean;
}

let t: TestGateway;
let port: number;
const servers: Server[] = [];
const seen: Seen[] = [];

/** A node that records every request's body as it arrives; `answerEarly` answers before the body ends. */
function node(answerEarly: boolean): Promise<string> {
  const server = createServer((req: IncomingMessage, res) => {
    const s: Seen = { events: 0, bytes: 0, ended: false, aborted: false };
    seen.push(s);
    req.on('data', (c: Buffer) => {
      s.events++;
      s.bytes += c.length;
    });
    req.on('end', () => {
      s.ended = true;
      if (!answerEarly) res.end(JSON.stringify({ bytes: s.bytes, events: s.events }));
      else res.end('done');
    });
    req.on('aborted', () => (s.aborted = true));
    req.on('error', () => (s.aborted = true));
    if (answerEarly) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started ');
    }
  });
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

/** `size` bytes of chunked coding, in chunks of `chunk` bytes, and the last chunk. */
function chunkedBody(size: number, chunk: number): Buffer {
  const piece = Buffer.from(`${chunk.toString(16)}\r\n${'x'.repeat(chunk)}\r\n`, 'latin1');
  const n = Math.floor(size / chunk);
  return Buffer.concat([...Array.from({ length: n }, () => piece), Buffer.from('0\r\n\r\n')]);
}

beforeAll(async () => {
  t = await startTestGateway();
  port = t.app.gateway!.port;
  const small = await createApi(t, {
    name: 'small',
    path: '/small',
    algorithm: 'round_robin',
    maxBodyBytes: 64 * 1024,
    retries: 0,
  });
  await addNode(t, small, { name: 'reader', url: await node(false) });
  const early = await createApi(t, {
    name: 'early',
    path: '/early',
    algorithm: 'round_robin',
    maxBodyBytes: 64 * 1024,
    retries: 0,
  });
  await addNode(t, early, { name: 'early', url: await node(true) });
  const big = await createApi(t, { name: 'big', path: '/big', algorithm: 'round_robin', retries: 0 });
  await addNode(t, big, { name: 'counter', url: await node(false) });
});

afterEach(() => {
  for (const c of [...openClients]) c.destroy();
  seen.length = 0;
});

afterAll(async () => {
  await t?.stop();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

const chunkedHead = (path: string) => msg(`POST ${path} HTTP/1.1`, [HOST, 'Transfer-Encoding: chunked']);

describe('a chunked request body past the API maxBodyBytes', () => {
  it('is BODY_TOO_LARGE when the node has not answered yet, and the node request is aborted', async () => {
    const c = await RawClient.connect(port);
    c.write(chunkedHead('/small'));
    c.write(chunkedBody(1024 * 1024, 4096));
    const [res] = await c.read(1);
    expectErrorBody(res!, 'BODY_TOO_LARGE');
    expect(await c.waitClosed()).toBe(true);
    await until(
      async () => seen[0]?.aborted ?? false,
      (a) => a,
      100,
      20,
    );
    expect(seen[0]!.ended).toBe(false);
    expect(seen[0]!.bytes).toBeLessThanOrEqual(64 * 1024);
  });

  it('cuts the client connection when the node answered already, and aborts the node request', async () => {
    const c = await RawClient.connect(port);
    c.write(chunkedHead('/early'));
    c.write(chunkedBody(32 * 1024, 4096).subarray(0, -5)); // within the limit, without the last chunk
    await until(
      async () => c.received,
      (r) => r.includes('started'),
      100,
      20,
    );
    c.write(chunkedBody(1024 * 1024, 4096));
    expect(await c.waitClosed(5_000)).toBe(true);
    // The head and the start of the answer went out; its end never does.
    expect(c.received).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(c.received).not.toMatch(/done/);
    await until(
      async () => seen[0]?.aborted ?? false,
      (a) => a,
      100,
      20,
    );
    expect(seen[0]!.ended).toBe(false);
  });

  it('within the limit, reaches the node whole', async () => {
    const c = await RawClient.connect(port);
    c.write(chunkedHead('/small'));
    c.write(chunkedBody(60 * 1024, 1024));
    const [res] = await c.read(1);
    expect(res!.status).toBe(200);
    expect(JSON.parse(res!.text).bytes).toBe(60 * 1024);
  });
});

describe('a body sent in one-byte chunks', () => {
  it('reaches the node in one write per read of the client, not one per chunk', async () => {
    const size = 200 * 1024;
    const c = await RawClient.connect(port);
    c.write(chunkedHead('/big'));
    c.write(chunkedBody(size, 1));
    const [res] = await c.read(1, { timeoutMs: 20_000 });
    expect(res!.status).toBe(200);
    const got = JSON.parse(res!.text) as { bytes: number; events: number };
    expect(got.bytes).toBe(size);
    // 1.2 MB of chunked coding arrives in reads of up to 64 KiB: a few dozen writes to the node.
    expect(got.events).toBeLessThan(size / 100);
  });
});
