import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { H2_LIMITS } from '../../../src/gateway/h2/sessions.js';
import type { TestCertificate } from '../../helpers/certs.js';
import { startH2TestGateway, type H2TestGateway } from '../../helpers/h2-gateway.js';
import {
  continuation,
  data,
  E,
  encodeFields,
  F,
  frame,
  goaway,
  headers,
  literal,
  ping,
  rawH2,
  rst,
  S,
  settings,
  T,
  windowUpdate,
  type Field,
  type RawH2,
  type RawH2Options,
} from '../../helpers/h2-raw.js';
import type { TestUpstream } from '../../helpers/upstreams.js';

// Conformance of the HTTP/2 server codec (RFC 9113) on the TLS port, with hand-made frames: what the
// server answers to each frame a client may send, well-formed or not.
let g: H2TestGateway;
let ups: TestUpstream[];
let cert: TestCertificate;
let port: number;
const open: RawH2[] = [];

beforeAll(async () => {
  g = await startH2TestGateway();
  ({ ups, cert, port } = g);
}, 60_000);

afterEach(() => {
  for (const c of open.splice(0)) c.destroy();
});

afterAll(async () => {
  await g?.stop();
});

/** A raw HTTP/2 connection to the gateway, closed after the test. */
async function connect(options?: RawH2Options): Promise<RawH2> {
  const c = await rawH2(port, 'h2.test', cert.ca, options);
  open.push(c);
  return c;
}

/** A request's pseudo-header fields (§8.3.1). */
function request(path: string, method = 'GET'): Field[] {
  return [
    [':method', method],
    [':scheme', 'https'],
    [':path', path],
    [':authority', 'h2.test'],
  ];
}

/** Whether one of the nodes' last request carried `body`. */
function nodeGot(body: string): boolean {
  return ups.some((u) => u.last?.body === body);
}

/** Sends `frames` on a fresh connection; resolves with the GOAWAY code once the server has also closed it. */
async function goawayAfter(...frames: Buffer[]): Promise<number> {
  const c = await connect();
  c.send(...frames);
  const code = await c.goaway();
  await c.closed;
  return code;
}

const PING_DATA = Buffer.from('isogate!');

describe('connection preface (§3.4)', () => {
  it('answers a wrong preface with GOAWAY PROTOCOL_ERROR and closes', async () => {
    const c = await connect({ preface: false });
    c.send(Buffer.from('GET / HTTP/1.1\r\nHost: h2.test\r\n\r\n'));
    expect(await c.goaway()).toBe(E.PROTOCOL_ERROR);
    await c.closed;
  });

  it('answers a first frame other than SETTINGS with GOAWAY PROTOCOL_ERROR', async () => {
    const c = await connect({ settings: false });
    c.send(ping(PING_DATA));
    expect(await c.goaway()).toBe(E.PROTOCOL_ERROR);
    await c.closed;
  });

  it('sends SETTINGS first, with its limits; acknowledges the client SETTINGS; answers PING (§6.5, §6.7)', async () => {
    const c = await connect();
    const first = await c.waitFor(() => true);
    expect(first.type).toBe(T.SETTINGS);
    expect(first.flags & F.ACK).toBe(0);
    const advertised = new Map<number, number>();
    for (let at = 0; at < first.payload.length; at += 6)
      advertised.set(first.payload.readUInt16BE(at), first.payload.readUInt32BE(at + 2));
    expect(advertised.get(S.MAX_CONCURRENT_STREAMS)).toBe(128);
    expect(advertised.get(S.INITIAL_WINDOW_SIZE)).toBe(65_536);
    expect(advertised.get(S.MAX_HEADER_LIST_SIZE)).toBe(H2_LIMITS.maxHeaderListSize);
    await c.waitFor((f) => f.type === T.SETTINGS && f.flags === F.ACK && f.payload.length === 0);
    c.send(ping(PING_DATA));
    const pong = await c.waitFor((f) => f.type === T.PING && (f.flags & F.ACK) !== 0);
    expect(pong.stream).toBe(0);
    expect(pong.payload).toEqual(PING_DATA);
  });
});

describe('connection errors: GOAWAY with the code, then the connection closed (§5.4.1)', () => {
  const cases: [string, number, () => Buffer[]][] = [
    ['DATA on stream 0 (§6.1)', E.PROTOCOL_ERROR, () => [data(0, 'x')]],
    [
      'HEADERS on an even stream id (§5.1.1)',
      E.PROTOCOL_ERROR,
      () => [headers(2, request('/spread/x'), { endStream: true })],
    ],
    [
      'a HEADERS frame longer than SETTINGS_MAX_FRAME_SIZE 16384 (§4.2)',
      E.FRAME_SIZE_ERROR,
      () => [headers(1, [...request('/spread/x'), ['x-big', 'v'.repeat(16_400)]], { endStream: true })],
    ],
    ['a PING of 7 bytes (§6.7)', E.FRAME_SIZE_ERROR, () => [ping(Buffer.alloc(7))]],
    [
      'a SETTINGS whose length is not a multiple of 6 (§6.5)',
      E.FRAME_SIZE_ERROR,
      () => [frame(T.SETTINGS, 0, 0, Buffer.alloc(7))],
    ],
    ['SETTINGS_ENABLE_PUSH 2 (§6.5.2)', E.PROTOCOL_ERROR, () => [settings([[S.ENABLE_PUSH, 2]])]],
    [
      'SETTINGS_INITIAL_WINDOW_SIZE 2^31 (§6.5.2)',
      E.FLOW_CONTROL_ERROR,
      () => [settings([[S.INITIAL_WINDOW_SIZE, 2 ** 31]])],
    ],
    ['SETTINGS_MAX_FRAME_SIZE 100 (§6.5.2)', E.PROTOCOL_ERROR, () => [settings([[S.MAX_FRAME_SIZE, 100]])]],
    ['a connection WINDOW_UPDATE of 0 (§6.9)', E.PROTOCOL_ERROR, () => [windowUpdate(0, 0)]],
    ['a connection WINDOW_UPDATE past 2^31-1 (§6.9.1)', E.FLOW_CONTROL_ERROR, () => [windowUpdate(0, 2 ** 31 - 1)]],
    [
      'a header block interrupted by a PING (§6.2, §6.10)',
      E.PROTOCOL_ERROR,
      () => [headers(1, request('/spread/x'), { endStream: true, endHeaders: false }), ping(PING_DATA)],
    ],
    [
      'a CONTINUATION without a HEADERS before it (§6.10)',
      E.PROTOCOL_ERROR,
      () => [continuation(1, encodeFields(request('/spread/x')), { endHeaders: true })],
    ],
    [
      'a PUSH_PROMISE from the client (§8.4)',
      E.PROTOCOL_ERROR,
      () => [frame(T.PUSH_PROMISE, F.END_HEADERS, 1, Buffer.alloc(4))],
    ],
    [
      'a header block that is not valid HPACK, index 0 (§4.3; RFC 7541 §6.1)',
      E.COMPRESSION_ERROR,
      () => [headers(1, Buffer.from([0x80]), { endStream: true })],
    ],
    ['RST_STREAM on an idle stream (§5.1, §6.4)', E.PROTOCOL_ERROR, () => [rst(1, E.CANCEL)]],
  ];

  it.each(cases)('%s', async (_name, code, frames) => {
    expect(await goawayAfter(...frames())).toBe(code);
  });
});

describe('CONTINUATION flood (§6.10, §10.5)', () => {
  it('closes with ENHANCE_YOUR_CALM a header block of more than 64 frames; other connections are served', async () => {
    const flood = Array.from({ length: 100 }, () => continuation(1, literal('x-flood', 'a')));
    expect(
      await goawayAfter(headers(1, request('/spread/flood'), { endStream: true, endHeaders: false }), ...flood),
    ).toBe(E.ENHANCE_YOUR_CALM);
    const other = await connect();
    other.send(headers(1, request('/spread/after-flood'), { endStream: true }));
    expect((await other.response(1)).status).toBe(200);
  });

  it('closes with ENHANCE_YOUR_CALM a header block larger than maxHeaderBlockBytes in a few frames', async () => {
    const block = Buffer.concat([
      encodeFields(request('/spread/flood')),
      literal('x-flood', 'a'.repeat(H2_LIMITS.maxHeaderBlockBytes + 1)),
    ]);
    const frames = [headers(1, block.subarray(0, 16_384), { endStream: true, endHeaders: false })];
    for (let at = 16_384; at < block.length; at += 16_384)
      frames.push(continuation(1, block.subarray(at, at + 16_384)));
    expect(frames.length).toBeLessThanOrEqual(64);
    expect(await goawayAfter(...frames)).toBe(E.ENHANCE_YOUR_CALM);
  });
});

describe('well-formed requests in every framing (§6.1, §6.2, §6.10)', () => {
  it('answers a request split over HEADERS and CONTINUATION frames', async () => {
    const c = await connect();
    const block = encodeFields([...request('/spread/split'), ['x-split', 'yes']]);
    c.send(
      headers(1, block.subarray(0, 10), { endStream: true, endHeaders: false }),
      continuation(1, block.subarray(10, 30)),
      continuation(1, block.subarray(30), { endHeaders: true }),
    );
    expect((await c.response(1)).status).toBe(200);
  });

  it('answers a padded HEADERS, a HEADERS with priority fields, and one with both', async () => {
    const c = await connect();
    c.send(
      headers(1, request('/spread/padded'), { endStream: true, padded: 20 }),
      headers(3, request('/spread/priority'), { endStream: true, priority: { dependsOn: 0, weight: 16 } }),
      headers(5, request('/spread/both'), { endStream: true, padded: 7, priority: { dependsOn: 1, weight: 200 } }),
    );
    expect((await c.response(1)).status).toBe(200);
    expect((await c.response(3)).status).toBe(200);
    expect((await c.response(5)).status).toBe(200);
  });

  it('passes a padded DATA body to the node without its padding', async () => {
    const c = await connect();
    const body = 'padded-body-0123456789';
    c.send(
      headers(1, [...request('/spread/padded-data', 'POST'), ['content-length', String(body.length)]]),
      data(1, body, { endStream: true, padded: 33 }),
    );
    expect((await c.response(1)).status).toBe(200);
    expect(nodeGot(body)).toBe(true);
  });

  it('ends a request body with trailers (§8.1)', async () => {
    const c = await connect();
    c.send(
      headers(1, request('/spread/trailers', 'POST')),
      data(1, 'body-before-trailers'),
      headers(1, [['x-checksum', 'abc']], { endStream: true }),
    );
    expect((await c.response(1)).status).toBe(200);
    expect(nodeGot('body-before-trailers')).toBe(true);
  });

  it('ignores a frame of an unknown type (§4.1, §5.5)', async () => {
    const c = await connect();
    c.send(frame(0xfa, 0xff, 0, Buffer.from('unknown')), headers(1, request('/spread/unknown'), { endStream: true }));
    expect((await c.response(1)).status).toBe(200);
    expect(c.isClosed).toBe(false);
  });
});

describe('stream errors: that stream reset with PROTOCOL_ERROR, the connection still served (§5.4.2)', () => {
  // Malformed requests (§8.1.1).
  const get = request('/spread/malformed');
  const cases: [string, Field[]][] = [
    ['an upper-case field name (§8.2)', [...get, ['X-Upper', 'v']]],
    ['a connection-specific field, connection: keep-alive (§8.2.2)', [...get, ['connection', 'keep-alive']]],
    ['te other than trailers (§8.2.2)', [...get, ['te', 'gzip']]],
    ['no :path (§8.3.1)', get.filter(([name]) => name !== ':path')],
    ['a pseudo-header field after a regular one (§8.3)', [get[0]!, ['x-a', '1'], ...get.slice(1)]],
    ['an unknown pseudo-header field :foo (§8.3)', [...get.slice(0, 3), [':foo', 'bar'], get[3]!]],
    ['a value with a leading space (§8.2.1)', [...get, ['x-a', ' v']]],
    ['a :path with a space, which the node would read as the request line ends', request('/spread/a HTTP/1.0')],
    ['a :path with a control character', request('/spread/a\x01b')],
    ['a :path with a non-ASCII byte', request('/spread/\xff')],
    ['a host field naming another host than :authority (§8.3.1)', [...get, ['host', 'other.test']]],
    ['two host fields', [...get.slice(0, 3), ['host', 'h2.test'], ['host', 'other.test']]],
    ['neither :authority nor host for https (§8.3.1)', get.slice(0, 3)],
    ['an :authority with userinfo (§8.3.1)', [...get.slice(0, 3), [':authority', 'user@h2.test']]],
    [
      'CONNECT with :scheme and without :path (§8.5)',
      [
        [':method', 'CONNECT'],
        [':scheme', 'https'],
        [':authority', 'h2.test:443'],
      ],
    ],
  ];

  it.each(cases)('%s', async (_name, fields) => {
    const c = await connect();
    c.send(headers(1, fields, { endStream: true }));
    expect(await c.reset(1)).toBe(E.PROTOCOL_ERROR);
    c.send(headers(3, request('/spread/after-malformed'), { endStream: true }));
    expect((await c.response(3)).status).toBe(200);
  });

  it('serves a host field equal to :authority in another case, and passes fields named like Object’s own properties', async () => {
    const c = await connect();
    c.send(
      headers(
        1,
        [
          ...request('/spread/same-host'),
          ['host', 'H2.test'],
          ['constructor', 'c'],
          ['tostring', 't'],
          ['__proto__', 'p'],
        ],
        { endStream: true },
      ),
    );
    expect((await c.response(1)).status).toBe(200);
    const seen = ups.find((u) => u.last?.url === '/spread/same-host')!.last!;
    expect(seen.headers['constructor']).toBe('c');
    expect(seen.headers['tostring']).toBe('t');
  });

  // The request body against its content-length, and trailers (§8.1, §8.1.1).
  const post = (length: number): Field[] => [...request('/spread/length', 'POST'), ['content-length', String(length)]];
  const lengthCases: [string, () => Buffer[]][] = [
    ['DATA adding up to less than content-length', () => [headers(1, post(5)), data(1, 'abc', { endStream: true })]],
    [
      'DATA adding up to more than content-length',
      () => [headers(1, post(5)), data(1, 'abcdefgh', { endStream: true })],
    ],
    ['a content-length but END_STREAM on the HEADERS, no DATA', () => [headers(1, post(5), { endStream: true })]],
    [
      'DATA short of content-length, then trailers ending the stream',
      () => [headers(1, post(5)), data(1, 'abc'), headers(1, [['x-checksum', 'abc']], { endStream: true })],
    ],
    [
      'trailers with a pseudo-header field (§8.1)',
      () => [
        headers(1, request('/spread/length', 'POST')),
        data(1, 'abc'),
        headers(1, [[':path', '/x']], { endStream: true }),
      ],
    ],
  ];

  it.each(lengthCases)('%s', async (_name, frames) => {
    const c = await connect();
    c.send(...frames());
    expect(await c.reset(1)).toBe(E.PROTOCOL_ERROR);
    c.send(headers(3, request('/spread/after-malformed'), { endStream: true }));
    expect((await c.response(3)).status).toBe(200);
  });

  it('resets an open stream given a WINDOW_UPDATE of 0 (§6.9)', async () => {
    const c = await connect();
    c.send(headers(1, request('/slow'), { endStream: true }), windowUpdate(1, 0));
    expect(await c.reset(1)).toBe(E.PROTOCOL_ERROR);
    c.send(headers(3, request('/spread/after-window'), { endStream: true }));
    expect((await c.response(3)).status).toBe(200);
  });
});

describe('invalid-frame budget (§10.5)', () => {
  it(`closes with ENHANCE_YOUR_CALM a connection sending more than ${H2_LIMITS.maxInvalidFrames} malformed requests`, async () => {
    const bad = [...request('/spread/bad'), ['X-Upper', 'v'] as const];
    const frames = Array.from({ length: H2_LIMITS.maxInvalidFrames + 5 }, (_, i) =>
      headers(2 * i + 1, bad, { endStream: true }),
    );
    expect(await goawayAfter(...frames)).toBe(E.ENHANCE_YOUR_CALM);
  });
});

describe('header lists over the limit (§6.5.2, §10.5.1)', () => {
  it('answers 431 HEADERS_TOO_LARGE, and keeps the HPACK table in step for the next request', async () => {
    const c = await connect();
    // The refused block still adds x-kept to the dynamic table (RFC 7541 §6.2.1): the next block refers to it (index 62).
    const big = Buffer.concat([
      encodeFields(request('/spread/too-large')),
      literal('x-kept', 'from-the-refused-block', true),
      literal('x-big', 'v'.repeat(H2_LIMITS.maxHeaderListSize)),
    ]);
    c.send(
      headers(1, big.subarray(0, 16_384), { endStream: true, endHeaders: false }),
      continuation(1, big.subarray(16_384), { endHeaders: true }),
    );
    const refused = await c.response(1);
    expect(refused.status).toBe(431);
    expect(refused.headers['x-isogate-error']).toBe('HEADERS_TOO_LARGE');
    c.send(
      headers(3, Buffer.concat([encodeFields(request('/spread/after-too-large')), Buffer.from([0x80 | 62])]), {
        endStream: true,
      }),
    );
    expect((await c.response(3)).status).toBe(200);
    expect(
      ups.some(
        (u) => u.last?.url === '/spread/after-too-large' && u.last.headers['x-kept'] === 'from-the-refused-block',
      ),
    ).toBe(true);
  });
});

describe('stream identifiers (§5.1, §5.1.1)', () => {
  it('ignores the rest of a stream refused as it opened (its body and trailers still in flight)', async () => {
    const c = await connect();
    c.send(
      headers(1, request('/spread/self-body', 'POST'), { priority: { dependsOn: 1, weight: 16 } }),
      data(1, 'abc'),
      headers(1, [['x-checksum', 'abc']], { endStream: true }),
      headers(3, request('/spread/after-self-body'), { endStream: true }),
    );
    expect(await c.reset(1)).toBe(E.PROTOCOL_ERROR);
    expect((await c.response(3)).status).toBe(200);
    expect(c.frames.some((f) => f.type === T.GOAWAY)).toBe(false);
  });

  it('resets a stream whose priority depends on itself, yet decodes its block (§5.3.1, §4.3)', async () => {
    const c = await connect();
    const block = Buffer.concat([
      encodeFields(request('/spread/self')),
      literal('x-kept', 'from-the-reset-block', true),
    ]);
    c.send(headers(3, block, { endStream: true, priority: { dependsOn: 3, weight: 16 } }));
    expect(await c.reset(3)).toBe(E.PROTOCOL_ERROR);
    // The table holds x-kept (index 62), and stream 3 counts as used: stream 1 may not open now.
    c.send(
      headers(5, Buffer.concat([encodeFields(request('/spread/after-self')), Buffer.from([0x80 | 62])]), {
        endStream: true,
      }),
    );
    expect((await c.response(5)).status).toBe(200);
    expect(
      ups.some((u) => u.last?.url === '/spread/after-self' && u.last.headers['x-kept'] === 'from-the-reset-block'),
    ).toBe(true);
    c.send(headers(1, request('/spread/lower'), { endStream: true }));
    expect(await c.goaway()).toBe(E.PROTOCOL_ERROR);
  });

  it('ignores a HEADERS on a stream it has reset (frames in flight, §5.1)', async () => {
    const c = await connect();
    c.send(headers(1, [...request('/spread/reset'), ['X-Upper', 'v']]));
    expect(await c.reset(1)).toBe(E.PROTOCOL_ERROR);
    c.send(
      headers(1, [['x-checksum', 'abc']], { endStream: true }),
      headers(3, request('/spread/after-reset'), { endStream: true }),
    );
    expect((await c.response(3)).status).toBe(200);
    expect(c.frames.filter((f) => f.stream === 1).map((f) => f.type)).toEqual([T.RST_STREAM]);
  });

  it('treats DATA on a stream the client ended, once answered, as a connection error STREAM_CLOSED (§5.1)', async () => {
    const c = await connect();
    c.send(headers(1, request('/spread/ended'), { endStream: true }));
    expect((await c.response(1)).status).toBe(200);
    c.send(data(1, 'late'));
    expect(await c.goaway()).toBe(E.STREAM_CLOSED);
    await c.closed;
  });

  it('treats HEADERS on a stream closed by its answer as a connection error STREAM_CLOSED (§5.1)', async () => {
    const c = await connect();
    c.send(headers(1, request('/spread/closed-once'), { endStream: true }));
    expect((await c.response(1)).status).toBe(200);
    c.send(headers(1, request('/spread/closed-twice'), { endStream: true }));
    expect(await c.goaway()).toBe(E.STREAM_CLOSED);
    expect(nodeGot('closed-twice')).toBe(false);
  });

  it('treats DATA after the client’s own RST_STREAM as a connection error STREAM_CLOSED (§5.1)', async () => {
    const c = await connect();
    c.send(headers(1, request('/slow', 'POST')), rst(1, E.CANCEL), data(1, 'after-reset'));
    expect(await c.goaway()).toBe(E.STREAM_CLOSED);
    expect(nodeGot('after-reset')).toBe(false);
  });

  it('ignores the body still in flight of a stream refused past SETTINGS_MAX_CONCURRENT_STREAMS before the client’s ACK', async () => {
    // The client's SETTINGS, but no ACK of the server's: past the limit, streams are refused, not a connection error.
    const c = await connect({ settings: false });
    c.send(settings([]));
    const limit = H2_LIMITS.maxConcurrentStreams;
    const opened: Buffer[] = [];
    for (let i = 0; i < limit; i++) opened.push(headers(1 + 2 * i, request('/slow'), { endStream: true }));
    const refused = 1 + 2 * limit;
    c.send(
      ...opened,
      headers(refused, request('/spread/refused', 'POST')),
      data(refused, 'in-flight', { endStream: true }),
    );
    expect(await c.reset(refused)).toBe(E.REFUSED_STREAM);
    expect((await c.response(1)).status).toBe(200);
    expect(c.frames.some((f) => f.type === T.GOAWAY)).toBe(false);
    expect(nodeGot('in-flight')).toBe(false);
  });

  it('treats a new stream id lower than one already used as a connection error PROTOCOL_ERROR (§5.1.1)', async () => {
    const c = await connect();
    c.send(headers(5, request('/spread/five'), { endStream: true }));
    expect((await c.response(5)).status).toBe(200);
    c.send(headers(3, request('/spread/three'), { endStream: true }));
    expect(await c.goaway()).toBe(E.PROTOCOL_ERROR);
    await c.closed;
  });
});

describe('client GOAWAY (§6.8)', () => {
  it('answers the streams already open, then closes the connection', async () => {
    const c = await connect();
    c.send(headers(1, request('/slow'), { endStream: true }), goaway(0, E.NO_ERROR));
    const answer = await c.response(1);
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('slow');
    await c.closed;
  });
});
