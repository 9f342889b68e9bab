import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FrameReader, type FrameHandler } from '../../../src/gateway/h2/frame-reader.js';
import { H2_LIMITS } from '../../../src/gateway/h2/sessions.js';
import { TestCa, type TestCertificate } from '../../helpers/certs.js';
import { addNode, createApi } from '../../helpers/fixtures.js';
import { H2_HOST, startH2TestGateway, type H2TestGateway } from '../../helpers/h2-gateway.js';
import {
  data,
  E,
  F,
  frame,
  headers,
  ping,
  PREFACE,
  rawH2,
  S,
  settings,
  T,
  windowUpdate,
  type Field,
  type RawFrame,
  type RawH2,
  type RawH2Options,
} from '../../helpers/h2-raw.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';

// The HTTP/2 server codec against clients written to hurt it: fairness between streams, frames in
// pieces, stream states a client may not use, and the bounds a hostile client could abuse.
let g: H2TestGateway;
let cert: TestCertificate;
let port: number;
const open: RawH2[] = [];

beforeAll(async () => {
  g = await startH2TestGateway();
  ({ cert, port } = g);
}, 60_000);

afterEach(() => {
  for (const c of open.splice(0)) c.destroy();
});

afterAll(async () => {
  await g?.stop();
});

async function connect(options?: RawH2Options): Promise<RawH2> {
  const c = await rawH2(port, H2_HOST, cert.ca, options);
  open.push(c);
  return c;
}

function request(path: string, method = 'GET'): Field[] {
  return [
    [':method', method],
    [':scheme', 'https'],
    [':path', path],
    [':authority', H2_HOST],
  ];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A gateway of its own (TLS port, certificate for H2_HOST) with `extraArgs`, and one node at `/n/*`. */
async function ownGateway(
  extraArgs: string[],
  node: Server,
): Promise<{ t: TestGateway; port: number; ca: string; stop(): Promise<void> }> {
  const ca = new TestCa();
  const c = ca.issue([H2_HOST]);
  const t = await startTestGateway(['--gateway-tls-port', '0', ...extraArgs]);
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', () => r()));
  expect(
    (await t.admin('POST', '/admin/certificates', { certificate: c.certificate, privateKey: c.privateKey })).status,
  ).toBe(201);
  const api = await createApi(t, { name: 'n', path: '/n/*', algorithm: 'round_robin' });
  await addNode(t, api, { name: 'n', url: `http://127.0.0.1:${(node.address() as AddressInfo).port}` });
  return {
    t,
    port: t.app.gatewayTls!.port,
    ca: c.ca,
    async stop() {
      node.closeAllConnections();
      node.close();
      await t.app.close().catch(() => undefined);
      ca.dispose();
    },
  };
}

describe('streams, frames and stream states under a hostile client (RFC 9113)', () => {
  it('resets a stream starved of the connection window by a sibling only if the client stops reading, not while it reads (§6.9, §5.3)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let poured = 0;
    const node = createServer((req, res) => {
      if (req.url !== '/n/big') return void res.end('small');
      const step = () => {
        while (poured < 300 * 1024 * 1024) {
          poured += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', step);
        }
        res.end();
      };
      step();
    });
    const own = await ownGateway(['--client-send-timeout-ms', '1000'], node);
    try {
      const c = await rawH2(own.port, H2_HOST, own.ca);
      open.push(c);
      // Stream windows never bind; the connection window (65,535) is granted back as each DATA is read.
      c.send(settings([[S.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]]));
      c.send(headers(1, request('/n/big'), { endStream: true }));
      await c.waitFor((f) => f.type === T.DATA && f.stream === 1);
      c.send(headers(3, request('/n/small'), { endStream: true }));
      const read = new Set<RawFrame>();
      let bytesRead = 0;
      const end = await c.waitFor((f) => {
        if (f.type === T.DATA && !read.has(f)) {
          read.add(f);
          bytesRead += f.payload.length;
          if (f.payload.length > 0) c.send(windowUpdate(0, f.payload.length));
        }
        return f.stream === 3 && (f.type === T.RST_STREAM || (f.flags & F.END_STREAM) !== 0);
      }, 8_000);
      // Stream 3 is answered in turn with stream 1, not reset (CANCEL) as stalled while the client reads.
      expect({ type: end.type, bytesRead: bytesRead > 0 }).toEqual({ type: T.DATA, bytesRead: true });
      expect(end.payload.toString()).toBe('small');
    } finally {
      for (const x of open.splice(0)) x.destroy();
      await own.stop();
    }
  }, 30_000);

  it('never raises the last stream id of a later GOAWAY above that of an earlier one (§6.8)', async () => {
    let received = 0;
    const node = createServer((_req, res) => {
      received++;
      setTimeout(() => res.end('slower'), 5_000);
    });
    const own = await ownGateway(['--drain-ms', '8000'], node);
    try {
      const c = await rawH2(own.port, H2_HOST, own.ca);
      open.push(c);
      c.send(headers(1, request('/n/slower'), { endStream: true }));
      for (let i = 0; i < 100 && received === 0; i++) await sleep(20); // stream 1 is served
      const stopping = own.t.app.close(); // drain: GOAWAY NO_ERROR once the idle grace has passed
      const first = await c.waitFor((f) => f.type === T.GOAWAY, 5_000);
      expect(first.payload.readUInt32BE(0)).toBe(1);
      // A stream the client opened before it read the GOAWAY (ignored, §6.8), then a connection error.
      c.send(headers(3, request('/n/ignored'), { endStream: true }));
      await sleep(50);
      c.send(ping(Buffer.alloc(7)));
      const second = await c.waitFor((f) => f.type === T.GOAWAY && f !== first, 3_000);
      expect(second.payload.readUInt32BE(4)).toBe(E.FRAME_SIZE_ERROR);
      // Not 3, a stream the gateway never processed (the client would then not retry it).
      expect(second.payload.readUInt32BE(0)).toBeLessThanOrEqual(1);
      await stopping.catch(() => undefined);
    } finally {
      for (const x of open.splice(0)) x.destroy();
      await own.stop();
    }
  }, 30_000);

  it('copies a frame that arrives in small pieces a bounded number of times, not once per piece (§4.2, §10.5)', () => {
    const handler: FrameHandler = {
      data() {},
      block() {},
      rstStream() {},
      settings() {},
      settingsAck() {},
      ping() {},
      goaway() {},
      windowUpdate() {},
      streamError() {},
    };
    // A 16 KiB frame sent one byte per TLS record (each record is one 'data' chunk on the server).
    const bytes = Buffer.concat([PREFACE, settings([]), frame(0xfa, 0, 0, Buffer.alloc(16_384))]);
    const reader = new FrameReader(64 * 1024, handler);
    const concat = Buffer.concat;
    let copied = 0;
    Buffer.concat = ((list: readonly Uint8Array[], totalLength?: number) => {
      const out = concat(list, totalLength);
      copied += out.length;
      return out;
    }) as typeof Buffer.concat;
    try {
      for (let i = 0; i < bytes.length; i++) reader.read(bytes.subarray(i, i + 1));
    } finally {
      Buffer.concat = concat;
    }
    // Joined once per piece, this was ~134 MB of copying (quadratic): 40-50 ms of CPU per frame.
    expect(copied).toBeLessThan(4 * bytes.length);
  });

  it('answers DATA on a stream id it skipped (implicitly closed) with STREAM_CLOSED (§6.1, §5.1.1)', async () => {
    const c = await connect();
    c.send(headers(3, request('/slow', 'POST')));
    await sleep(100);
    c.send(data(1, 'on-a-skipped-stream'));
    const f = await c.waitFor((f) => (f.type === T.RST_STREAM && f.stream === 1) || f.type === T.GOAWAY, 2_000);
    expect(f.payload.readUInt32BE(f.type === T.GOAWAY ? 4 : 0)).toBe(E.STREAM_CLOSED);
  });

  it('resets trailers on a stream id it skipped with STREAM_CLOSED, and serves on (§5.1)', async () => {
    const c = await connect();
    c.send(headers(3, request('/spread/three'), { endStream: true }));
    expect((await c.response(3)).status).toBe(200);
    c.send(headers(1, [['x-checksum', 'abc']], { endStream: true }));
    expect(await c.reset(1)).toBe(E.STREAM_CLOSED);
    c.send(headers(5, request('/spread/five'), { endStream: true }));
    expect((await c.response(5)).status).toBe(200);
  });

  it('closes with PROTOCOL_ERROR a session whose PRIORITY on an idle stream depends on itself: no RST_STREAM names an idle stream (§5.3.1, §6.4)', async () => {
    const c = await connect();
    const priority = Buffer.alloc(5);
    priority.writeUInt32BE(7, 0);
    c.send(frame(T.PRIORITY, 0, 7, priority));
    expect(await c.goaway()).toBe(E.PROTOCOL_ERROR);
    expect(c.frames.some((f) => f.type === T.RST_STREAM)).toBe(false);
  });

  it('does not count DATA frames of padding only as faults (they cost window, §6.1)', async () => {
    const c = await connect();
    c.send(headers(1, [...request('/spread/padded', 'POST'), ['content-length', '2']]));
    const padded = Array.from({ length: H2_LIMITS.maxInvalidFrames + 20 }, () => data(1, '', { padded: 3 }));
    c.send(...padded, data(1, 'ok', { endStream: true }));
    expect((await c.response(1)).status).toBe(200);
    expect(c.frames.some((f) => f.type === T.GOAWAY)).toBe(false);
  });

  it('resets with PROTOCOL_ERROR a stream whose PRIORITY frame depends on itself (§5.3.1)', async () => {
    const c = await connect();
    c.send(headers(1, request('/slow'), { endStream: true }));
    const priority = Buffer.alloc(5);
    priority.writeUInt32BE(1, 0);
    priority[4] = 15;
    c.send(frame(T.PRIORITY, 0, 1, priority));
    expect(await c.reset(1, 1_000)).toBe(E.PROTOCOL_ERROR);
  });

  it('treats CONNECT with :scheme and :path as malformed: RST_STREAM PROTOCOL_ERROR (§8.5)', async () => {
    const c = await connect();
    c.send(headers(1, request('/spread/connect', 'CONNECT'), { endStream: true }));
    const f = await c.waitFor((f) => f.stream === 1 && (f.type === T.RST_STREAM || f.type === T.HEADERS), 3_000);
    expect(f.type).toBe(T.RST_STREAM);
    expect(f.payload.readUInt32BE(0)).toBe(E.PROTOCOL_ERROR);
  });
});

describe('bounds', () => {
  it('stops reading a client that floods PINGs and reads nothing (its ACKs cannot pile up, §10.5)', async () => {
    const sock = tlsConnect({ host: '127.0.0.1', port, servername: H2_HOST, ca: cert.ca, ALPNProtocols: ['h2'] });
    try {
      await once(sock, 'secureConnect');
      sock.pause(); // reads nothing
      sock.write(Buffer.concat([PREFACE, settings([])]));
      const batch = Buffer.concat(Array.from({ length: 4096 }, () => ping(Buffer.alloc(8))));
      let accepted = 0;
      const deadline = performance.now() + 4_000;
      while (performance.now() < deadline && accepted < 200 * 1024 * 1024) {
        if (sock.writableLength > 8 * 1024 * 1024) {
          await sleep(20);
          continue;
        }
        sock.write(batch, () => (accepted += batch.length));
        await new Promise((r) => setImmediate(r));
      }
      // Only what the kernel's socket buffers hold (a few MiB) gets past a server that stopped reading.
      expect(accepted).toBeLessThan(64 * 1024 * 1024);
    } finally {
      sock.destroy();
    }
  }, 20_000);

  it('keeps stream windows within 2^31-1 after SETTINGS_INITIAL_WINDOW_SIZE changes (§6.9.1, §6.9.2)', async () => {
    // Raised to the maximum, then a WINDOW_UPDATE of 1 on the stream: a stream error.
    const c = await connect();
    c.send(headers(1, request('/slow'), { endStream: true }));
    await sleep(50);
    c.send(settings([[S.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]]));
    await sleep(50);
    c.send(windowUpdate(1, 1));
    expect(await c.reset(1)).toBe(E.FLOW_CONTROL_ERROR);
    // A stream window already near the maximum, then SETTINGS raising every window: a connection error.
    const d = await connect();
    d.send(headers(1, request('/slow'), { endStream: true }));
    await sleep(50);
    d.send(windowUpdate(1, 2 ** 31 - 1 - 65_535));
    d.send(settings([[S.INITIAL_WINDOW_SIZE, 65_536]]));
    expect(await d.goaway()).toBe(E.FLOW_CONTROL_ERROR);
  });
});
