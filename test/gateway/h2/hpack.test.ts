import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../../src/gateway/h2/hpack/decoder.js';
import { encodeResponseHead } from '../../../src/gateway/h2/hpack/encoder.js';
import { HpackError } from '../../../src/gateway/h2/hpack/errors.js';
import { huffmanDecode, huffmanEncode } from '../../../src/gateway/h2/hpack/huffman.js';

// HPACK (RFC 7541): the Huffman code, the request decoder, the response encoder, and the decoder kept
// in step with node's own encoder (nghttp2) over a real connection.

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const decodeAll = (b: Buffer): string => huffmanDecode(b, 0, b.length);
/** An indexed field (§6.1) for an index below 127. */
const indexed = (i: number): Buffer => Buffer.from([0x80 | i]);
/** RFC 9113 §6.5.2: names, values and 32 per field. */
const sizeOf = (fields: string[]): number => fields.reduce((n, s) => n + s.length, 0) + 16 * fields.length;
/** A seeded LCG in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}
/** The dynamic table as the decoder holds it, newest first, read back by index from 62 until one fails. */
function table(d: HpackDecoder): string[][] {
  const out: string[][] = [];
  for (let i = 62; i < 127; i++) {
    try {
      out.push(d.decode(indexed(i)).fields);
    } catch (e) {
      if (!(e instanceof HpackError)) throw e;
      return out;
    }
  }
  return out;
}

describe('Huffman code (§5.2, Appendix B)', () => {
  const VECTORS: [string, string][] = [
    // C.4
    ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
    ['no-cache', 'a8eb 1064 9cbf'],
    ['custom-key', '25a8 49e9 5ba9 7d7f'],
    ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
    // C.6
    ['302', '6402'],
    ['private', 'aec3 771a 4b'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
    ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
  ];
  it.each(VECTORS)('%s encodes and decodes as in Appendix C', (text, code) => {
    expect(huffmanEncode(text).toString('hex')).toBe(hex(code).toString('hex'));
    expect(decodeAll(hex(code))).toBe(text);
  });

  it('decodes only buf[start, end)', () => {
    const buf = Buffer.concat([hex('0000'), huffmanEncode('no-cache'), hex('0000')]);
    expect(huffmanDecode(buf, 2, buf.length - 2)).toBe('no-cache');
    expect(decodeAll(Buffer.alloc(0))).toBe('');
  });

  it('round-trips every byte value, alone and together', () => {
    const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    for (const c of all) expect(decodeAll(huffmanEncode(c))).toBe(c);
    expect(decodeAll(huffmanEncode(all))).toBe(all);
  });

  it('round-trips random latin1 strings', () => {
    const rand = lcg(7541);
    for (let n = 0; n < 400; n++) {
      const len = Math.floor(rand() * 64);
      const text = String.fromCharCode(...Array.from({ length: len }, () => Math.floor(rand() * 256)));
      expect(decodeAll(huffmanEncode(text))).toBe(text);
    }
  });

  it.each([
    ['8 or more bits of padding', Buffer.concat([huffmanEncode('a'), hex('ff')])],
    ['a whole byte of padding alone', hex('ff')],
    ['padding with a zero bit', hex('1e')], // 'a' (00011) then 110
    ['EOS (30 ones) inside the string', hex('ffff fffc 7f')], // EOS, then 'a' and padding
    ['EOS after a symbol', hex('1fff ffff ff')], // 'a', EOS, padding
  ])('rejects %s', (_label, code) => {
    expect(() => decodeAll(code)).toThrow(HpackError);
  });
});

describe('decoder against RFC 7541 Appendix C', () => {
  // Each step: the block, the fields it decodes to, the dynamic table after it (newest first).
  type Step = [block: string, fields: string[], table: string[][]];
  const AUTHORITY = [':authority', 'www.example.com'];
  const REQ1 = [':method', 'GET', ':scheme', 'http', ':path', '/', ...AUTHORITY];
  const REQ2 = [...REQ1, 'cache-control', 'no-cache'];
  const REQ3 = [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ...AUTHORITY];
  const REQ3_END = ['custom-key', 'custom-value'];
  const requests = (blocks: string[]): Step[] => [
    [blocks[0]!, REQ1, [AUTHORITY]],
    [blocks[1]!, REQ2, [['cache-control', 'no-cache'], AUTHORITY]],
    [blocks[2]!, [...REQ3, ...REQ3_END], [REQ3_END, ['cache-control', 'no-cache'], AUTHORITY]],
  ];
  const DATE1 = ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'];
  const DATE2 = ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'];
  const PRIVATE = ['cache-control', 'private'];
  const LOCATION = ['location', 'https://www.example.com'];
  const COOKIE = ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'];
  const responses = (blocks: string[]): Step[] => [
    [blocks[0]!, [':status', '302', ...PRIVATE, ...DATE1, ...LOCATION], [LOCATION, DATE1, PRIVATE, [':status', '302']]],
    // :status 302 is evicted to make room for 307.
    [blocks[1]!, [':status', '307', ...PRIVATE, ...DATE1, ...LOCATION], [[':status', '307'], LOCATION, DATE1, PRIVATE]],
    [
      blocks[2]!,
      [':status', '200', ...PRIVATE, ...DATE2, ...LOCATION, 'content-encoding', 'gzip', ...COOKIE],
      [COOKIE, ['content-encoding', 'gzip'], DATE2],
    ],
  ];
  const CASES: [string, number, Step[]][] = [
    [
      'C.3 requests without Huffman',
      4096,
      requests([
        '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '8286 84be 5808 6e6f 2d63 6163 6865',
        '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      ]),
    ],
    [
      'C.4 requests with Huffman',
      4096,
      requests([
        '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        '8286 84be 5886 a8eb 1064 9cbf',
        '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      ]),
    ],
    [
      'C.5 responses without Huffman, table of 256',
      256,
      responses([
        '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120' +
          '474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '4803 3330 37c1 c0bf',
        '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738' +
          '666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765' +
          '3d33 3630 303b 2076 6572 7369 6f6e 3d31',
      ]),
    ],
    [
      'C.6 responses with Huffman, table of 256',
      256,
      responses([
        '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718' +
          '63c7 8f0b 97c8 e9ae 82ae 43d3',
        '4883 640e ffc1 c0bf',
        '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7' +
          'b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      ]),
    ],
  ];
  it.each(CASES)('%s: fields, list size and the table after each block', (_label, tableSize, steps) => {
    const d = new HpackDecoder(tableSize, 64 * 1024, 100);
    for (const [block, fields, after] of steps) {
      expect(d.decode(hex(block))).toEqual({ fields, listSize: sizeOf(fields), tooLarge: false });
      expect(table(d)).toEqual(after);
    }
  });
});

describe('decoder limits', () => {
  // :method GET (42) and :path / (38), then x-a: aaaa (39) with incremental indexing, then :scheme http (43).
  const BLOCK = hex('8284 4003 782d 61 04 61616161 86');

  it('a list past maxListSize is cut short, yet its indexed literals reach the table', () => {
    const d = new HpackDecoder(4096, 100, 100);
    const r = d.decode(BLOCK);
    expect(r.tooLarge).toBe(true);
    expect(r.fields).toEqual([':method', 'GET', ':path', '/']);
    expect(r.listSize).toBeGreaterThan(100);
    expect(d.decode(indexed(62))).toEqual({ fields: ['x-a', 'aaaa'], listSize: 39, tooLarge: false });
  });

  it('a list of exactly maxListSize bytes is whole', () => {
    expect(new HpackDecoder(4096, 162, 100).decode(BLOCK)).toMatchObject({ tooLarge: false, listSize: 162 });
  });

  it('more than maxFields fields are cut short, yet their indexed literals reach the table', () => {
    const block = Buffer.concat([BLOCK, hex('4003 782d 62 01 62')]); // then x-b: b, indexed
    const d = new HpackDecoder(4096, 64 * 1024, 2);
    const r = d.decode(block);
    expect(r).toMatchObject({ tooLarge: true, fields: [':method', 'GET', ':path', '/'] });
    expect(d.decode(hex('bebf')).fields).toEqual(['x-b', 'b', 'x-a', 'aaaa']);
    expect(new HpackDecoder(4096, 64 * 1024, 5).decode(block).tooLarge).toBe(false);
  });
});

describe('malformed blocks', () => {
  const zeros = '80'.repeat(200);
  it.each([
    ['index 0', '80'],
    ['an index past the static table with an empty dynamic table', 'be'],
    ['a literal naming an index past the tables', '7f00 0161'],
    ['an integer running past the end', 'ff'],
    ['a huge integer', 'ffff ffff ff0f'],
    ['a string length past the block', '0105 6162'],
    ['a missing name string', '40'],
    ['a missing value string', '0003 616263'],
    ['a Huffman string with bad padding', '0181 00'],
    ['a table size update above maxTableSize (4097)', '3fe2 1f'],
    ['a table size update after a field', '8220'],
    // Over-long integers (as nghttp2 and Go refuse): 200 continuation bytes of zero, a value length of 127...
    ['a value length spelled with 200 zero continuation bytes', `017f ${zeros} 00`],
    // ... and a table size update to 31.
    ['a table size update spelled with 200 zero continuation bytes', `3f ${zeros} 00`],
  ])('%s throws HpackError', (_label, block) => {
    const d = new HpackDecoder(4096, 64 * 1024, 100);
    expect(() => d.decode(hex(block))).toThrow(HpackError);
    expect(() => d.decode(hex(block))).toThrow(expect.objectContaining({ code: 'H2_COMPRESSION_ERROR' }));
  });

  it('a table size update to maxTableSize is accepted; two at the start are too', () => {
    expect(new HpackDecoder(4096, 1024, 10).decode(hex('3fe1 1f 20 82')).fields).toEqual([':method', 'GET']);
  });

  it('a table size update to 0 evicts everything, and entries come back once it grows', () => {
    const d = new HpackDecoder(4096, 1024, 10);
    d.decode(hex('4003 782d 61 01 61')); // x-a: a
    expect(table(d)).toEqual([['x-a', 'a']]);
    d.decode(hex('20'));
    expect(() => d.decode(indexed(62))).toThrow(HpackError);
    d.decode(hex('4003 782d 62 01 62')); // x-b: b does not fit in 0 bytes
    expect(table(d)).toEqual([]);
    d.decode(hex('3f15 4003 782d 63 01 63')); // size 52: x-c: c (36) fits
    expect(table(d)).toEqual([['x-c', 'c']]);
  });
});

describe('response encoder', () => {
  const roundTrip = (block: Buffer): string[] => new HpackDecoder(4096, 1 << 24, 10_000).decode(block).fields;

  it('encodes :status then the fields', () => {
    const fields = ['content-type', 'text/plain', 'x-custom', 'v', 'set-cookie', 'a=b', 'x-latin1', 'caf\u00e9'];
    expect(roundTrip(encodeResponseHead(200, fields))).toEqual([':status', '200', ...fields]);
  });

  it.each([200, 204, 206, 304, 400, 404, 500])('status %i is one indexed byte', (status) => {
    const block = encodeResponseHead(status, []);
    expect(block).toHaveLength(1);
    expect(block[0]! & 0x80).toBe(0x80);
    expect(roundTrip(block)).toEqual([':status', String(status)]);
  });

  it.each([100, 302, 418, 503])('status %i, not in the static table, round-trips', (status) => {
    expect(roundTrip(encodeResponseHead(status, ['age', '1']))).toEqual([':status', String(status), 'age', '1']);
  });

  it('round-trips long strings and many fields', () => {
    const long = ['x-long', 'v'.repeat(20_000), 'n'.repeat(300), 'short', 'location', 'w'.repeat(127)];
    expect(roundTrip(encodeResponseHead(200, long))).toEqual([':status', '200', ...long]);
    const many = Array.from({ length: 200 }, (_, i) => [`x-field-${i}`, `value ${i}`]).flat();
    expect(roundTrip(encodeResponseHead(404, many))).toEqual([':status', '404', ...many]);
  });

  it('never adds to the peer decoder’s dynamic table', () => {
    const d = new HpackDecoder(4096, 64 * 1024, 100);
    const block = encodeResponseHead(302, ['location', '/x', 'x-custom', 'v']);
    const first = d.decode(block);
    expect(d.decode(block)).toEqual(first);
    expect(() => d.decode(indexed(62))).toThrow(HpackError);
  });
});

describe('interop: node:http2 (nghttp2) encodes, HpackDecoder decodes', () => {
  const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
  const servers: net.Server[] = [];
  const sockets: net.Socket[] = [];
  const sessions: http2.ClientHttp2Session[] = [];
  afterAll(() => {
    for (const s of sessions) s.destroy();
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });

  /** A raw h2c server that advertises `tableSize` and decodes every request header block, never answering. */
  async function rawServer(tableSize: number) {
    const blocks: (string[] | Error)[] = [];
    const seen = { padded: false, continuation: false };
    let wake = (): void => {};
    const server = net.createServer((sock) => {
      sockets.push(sock);
      sock.on('error', () => {});
      const settings = Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 1, 0, 0, tableSize >> 8, tableSize & 0xff]);
      sock.write(settings); // SETTINGS_HEADER_TABLE_SIZE
      const decoder = new HpackDecoder(tableSize, 1 << 20, 1000);
      let buf = Buffer.alloc(0);
      let prefaced = false;
      let parts: Buffer[] = [];
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (!prefaced) {
          if (buf.length < 24) return;
          if (!buf.subarray(0, 24).equals(PREFACE)) blocks.push(new Error('no client preface'));
          buf = buf.subarray(24);
          prefaced = true;
        }
        while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
          const [type, flags] = [buf[3]!, buf[4]!];
          let payload = buf.subarray(9, 9 + buf.readUIntBE(0, 3));
          buf = buf.subarray(9 + payload.length);
          if (type !== 1 && type !== 9) continue; // HEADERS, CONTINUATION
          if (type === 1 && flags & 0x8) payload = payload.subarray(1, payload.length - payload[0]!); // PADDED
          if (type === 1 && flags & 0x20) payload = payload.subarray(5); // PRIORITY
          seen.padded ||= type === 1 && (flags & 0x8) !== 0;
          seen.continuation ||= type === 9;
          parts.push(payload);
          if (!(flags & 0x4)) continue; // END_HEADERS
          try {
            blocks.push(decoder.decode(Buffer.concat(parts)).fields);
          } catch (e) {
            blocks.push(e as Error);
          }
          parts = [];
          wake();
        }
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const next = async (): Promise<string[]> => {
      if (blocks.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const block = blocks.shift()!;
      if (block instanceof Error) throw block;
      return block;
    };
    return { port: (server.address() as net.AddressInfo).port, seen, next };
  }

  /** Flat fields as sorted "name: value" lines (nghttp2 may reorder pseudo-headers). */
  const lines = (fields: string[]): string[] =>
    fields.flatMap((s, i) => (i % 2 ? [] : [`${s}: ${fields[i + 1]}`])).sort();
  const printable = String.fromCharCode(...Array.from({ length: 94 }, (_, i) => 0x21 + i));

  it.each([
    { tableSize: 4096, padded: false },
    { tableSize: 256, padded: true },
  ])(
    'stays in step (table $tableSize, padded $padded)',
    async ({ tableSize, padded }) => {
      const { port, seen, next } = await rawServer(tableSize);
      const { PADDING_STRATEGY_MAX, PADDING_STRATEGY_NONE } = http2.constants;
      const session = http2.connect(`http://127.0.0.1:${port}`, {
        paddingStrategy: padded ? PADDING_STRATEGY_MAX : PADDING_STRATEGY_NONE,
      });
      sessions.push(session);
      session.on('error', () => {});
      await new Promise((resolve) => session.once('remoteSettings', resolve));
      const REQUESTS = 8;
      for (let i = 0; i < REQUESTS; i++) {
        const headers: Record<string, string | string[]> = {
          ':path': `/r/${i}?q=${i % 3}`,
          'x-request': String(i),
          'x-multi': ['one', 'two'], // a repeated field
          'x-ascii': `${printable} ${i % 2}`, // every printable character, Huffman-coded
          'x-latin1': 'caf\u00e9',
          authorization: 'Bearer secret', // node sends it never-indexed
          cookie: `id=${i % 3}`,
        };
        if (i === REQUESTS - 1) headers['x-long'] = 'v'.repeat(20_000); // past one frame: CONTINUATION
        const stream = session.request(headers);
        stream.on('error', () => {});
        const sent = [':method', 'GET', ':scheme', 'http', ':authority', `127.0.0.1:${port}`];
        for (const [name, value] of Object.entries(headers))
          for (const v of Array.isArray(value) ? value : [value]) sent.push(name, v);
        expect(lines(await next())).toEqual(lines(sent));
      }
      expect(seen).toEqual({ padded, continuation: true });
    },
    15_000,
  );
});
