import { describe, expect, it } from 'vitest';
import { ResponseParser, type ResponseHead } from '../../src/upstream/response-parser.js';

interface Parsed {
  heads: ResponseHead[];
  body: string;
  ends: boolean[];
}

/** Parses `pieces` as one response (to a HEAD request when `head`), fed piece by piece. */
function parse(pieces: string[], head = false): Parsed {
  const out: Parsed = { heads: [], body: '', ends: [] };
  const parser = new ResponseParser({
    onHead: (h) => out.heads.push(h),
    onBody: (c) => (out.body += c.toString('latin1')),
    onEnd: (extra) => out.ends.push(extra),
  });
  parser.expect(head);
  for (const p of pieces) parser.execute(Buffer.from(p, 'latin1'));
  return out;
}

/** Every way to cut `text` in two. */
function splits(text: string): string[][] {
  const out: string[][] = [];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n' +
  '5;ext=1\r\nhello\r\n' +
  '7\r\n, world\r\n' +
  '0\r\nTrailer-X: y\r\n\r\n';

describe('ResponseParser', () => {
  it('parses a Content-Length response and keeps header order and case', () => {
    const r = parse([
      'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Multi: a\r\nX-Multi: b\r\n\r\nhello',
    ]);
    expect(r.heads).toHaveLength(1);
    expect(r.heads[0]!.status).toBe(201);
    expect(r.heads[0]!.headers).toEqual([
      'Content-Type',
      'text/plain',
      'Content-Length',
      '5',
      'X-Multi',
      'a',
      'X-Multi',
      'b',
    ]);
    expect(r.heads[0]!.keepAlive).toBe(true);
    expect(r.body).toBe('hello');
    expect(r.ends).toEqual([false]);
  });

  it('decodes a chunked body cut at every byte, and drops the trailers', () => {
    for (const pieces of [[CHUNKED], ...splits(CHUNKED)]) {
      const r = parse(pieces);
      expect(r.body).toBe('hello, world');
      expect(r.ends).toEqual([false]);
      expect(r.heads[0]!.headers).toContain('X-A');
    }
  });

  it('reports interim 1xx heads before the final one', () => {
    const r = parse([
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    ]);
    expect(r.heads.map((h) => h.status)).toEqual([100, 103, 200]);
    expect(r.body).toBe('ok');
  });

  it('has no body for HEAD, 204 and 304, whatever the length says', () => {
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'], true)).toMatchObject({ body: '', ends: [false] });
    expect(parse(['HTTP/1.1 204 No Content\r\n\r\n'])).toMatchObject({ body: '', ends: [false] });
    expect(parse(['HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'])).toMatchObject({ body: '', ends: [false] });
  });

  it('reads a body without length until the connection closes, and never reuses that connection', () => {
    const chunks: string[] = [];
    const ends: boolean[] = [];
    let head: ResponseHead | null = null;
    const parser = new ResponseParser({
      onHead: (h) => (head = h),
      onBody: (c) => chunks.push(c.toString()),
      onEnd: (e) => ends.push(e),
    });
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc'));
    parser.execute(Buffer.from('def'));
    expect(ends).toEqual([]);
    expect(parser.finishAtEof()).toBe(true);
    expect(chunks.join('')).toBe('abcdef');
    expect(ends).toEqual([false]);
    expect(head!.keepAlive).toBe(false);
  });

  it('says whether the connection may be kept: Connection close, HTTP/1.0, Keep-Alive timeout', () => {
    expect(parse(['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n']).heads[0]!.keepAlive).toBe(
      false,
    );
    expect(parse(['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n']).heads[0]!.keepAlive).toBe(false);
    expect(parse(['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n']).heads[0]!.keepAlive).toBe(
      true,
    );
    expect(
      parse(['HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n']).heads[0]!.keepAliveHintMs,
    ).toBe(5000);
    // RFC 9112 §6.1: HTTP/1.0 with Transfer-Encoding closes after the message, keep-alive or not.
    const http10Chunked = parse([
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ]);
    expect(http10Chunked.heads[0]!.keepAlive).toBe(false);
    expect(http10Chunked.ends).toEqual([false]);
  });

  it('flags bytes after a complete response', () => {
    expect(parse(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA']).ends).toEqual([true]);
  });

  it.each([
    ['both lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['a coding besides chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'],
    [
      'a coding besides chunked, on lines of its own',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n',
    ],
    ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'],
    ['a coding without chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['conflicting lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n'],
    ['a bad length', 'HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n'],
    ['obsolete line folding', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n'],
    ['a control character', 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n\r\n'],
    ['a bare CR', 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n'],
    ['a bare LF (it would split the header when forwarded)', 'HTTP/1.1 200 OK\r\nX-A: a\nSet-Cookie: b\r\n\r\n'],
    ['an empty header name', 'HTTP/1.1 200 OK\r\n: v\r\n\r\n'],
    ['a line without a colon', 'HTTP/1.1 200 OK\r\nX-A\r\n\r\n'],
    ['a status below 100', 'HTTP/1.1 099 Odd\r\n\r\n'],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n'],
    ['a status without its space', 'HTTP/1.1200 OK\r\n\r\n'],
    ['HTTP/1.2', 'HTTP/1.2 200 OK\r\n\r\n'],
    ['a signed length', 'HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n'],
    ['a bad status line', 'HTTP/2 200 OK\r\n\r\n'],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['a chunk without its CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n'],
    ['a switch of protocols', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'],
    ['bytes before any request', null],
  ])('rejects %s', (_name, text) => {
    const parser = new ResponseParser({ onHead: () => {}, onBody: () => {}, onEnd: () => {} });
    if (text === null) expect(() => parser.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'))).toThrow(/unexpected data/);
    else {
      parser.expect(false);
      expect(() => parser.execute(Buffer.from(text, 'latin1'))).toThrow(
        expect.objectContaining({ code: 'UPSTREAM_BAD_RESPONSE' }),
      );
    }
  });

  it('reads a status line without a reason phrase, names in any case, and values trimmed of spaces and tabs only', () => {
    const r = parse(['HTTP/1.1 204\r\nCONTENT-LENGTH: 0\r\nX-A: \t a\u00a0 \r\nConnection: Close\r\n\r\n']);
    expect(r.heads[0]).toMatchObject({
      status: 204,
      keepAlive: false,
      headers: ['CONTENT-LENGTH', '0', 'X-A', 'a\u00a0', 'Connection', 'Close'],
    });
    const chunked = parse(['HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked \r\n\r\n2\r\nok\r\n0\r\n\r\n']);
    expect(chunked.body).toBe('ok');
  });

  it('keeps nothing of its input between calls: a head split across reads survives the reuse of the read buffer', () => {
    const heads: { status: number; headers: string[] }[] = [];
    let body = '';
    const parser = new ResponseParser({
      onHead: (h) => heads.push(h),
      onBody: (c) => (body += c.toString('latin1')),
      onEnd: () => {},
    });
    parser.expect(false);
    const shared = Buffer.alloc(64);
    const feed = (text: string) => {
      const n = shared.write(text, 'latin1');
      parser.execute(shared.subarray(0, n));
      shared.fill(0x78); // what the next read would overwrite
    };
    feed('HTTP/1.1 200 OK\r\nX-Par');
    feed('t: one\r\nContent-Length: 2\r');
    feed('\n\r\nok');
    expect(heads[0]!.headers).toEqual(['X-Part', 'one', 'Content-Length', '2']);
    expect(body).toBe('ok');
  });

  it('rejects a head larger than 64 KiB, even in pieces', () => {
    const parser = new ResponseParser({ onHead: () => {}, onBody: () => {}, onEnd: () => {} });
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\n'));
    const line = Buffer.from(`X-Pad: ${'a'.repeat(1000)}\r\n`);
    expect(() => {
      for (let i = 0; i < 70; i++) parser.execute(line);
    }).toThrow(/too large/);
  });

  it('joins a head read a byte at a time with linear copying, its body intact after it', () => {
    const head = `HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(16_000)}\r\nContent-Length: 5\r\n\r\n`;
    const text = head + 'hello';
    const { allocUnsafe, concat } = Buffer;
    let made = 0;
    Buffer.allocUnsafe = ((size: number) => {
      made += size;
      return allocUnsafe(size);
    }) as typeof Buffer.allocUnsafe;
    Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
      const out = concat(list, total);
      made += out.length;
      return out;
    }) as typeof Buffer.concat;
    let r: Parsed;
    try {
      r = parse([...text]);
    } finally {
      Buffer.allocUnsafe = allocUnsafe;
      Buffer.concat = concat;
    }
    expect(r.heads.map((h) => h.status)).toEqual([200]);
    expect(r.body).toBe('hello');
    // Doubling: a few times the head's size in all, not a copy of the head so far per byte (~128 MB).
    expect(made).toBeLessThan(8 * head.length);
  });

  it('passes up to 8 interim answers before the final one, and refuses a ninth', () => {
    const interim = 'HTTP/1.1 100 Continue\r\n\r\n';
    const final = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const r = parse([interim.repeat(8) + final]);
    expect(r.heads.map((h) => h.status)).toEqual([100, 100, 100, 100, 100, 100, 100, 100, 200]);
    expect(r.body).toBe('ok');
    expect(() => parse([interim.repeat(9) + final])).toThrow(/too many interim responses/);
  });

  it('ends at the head of a 101 to an upgrade request, after interim answers, with the bytes it used, however the reads are cut', () => {
    const text =
      'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n';
    const tunnel = '\x81\x02hi';
    for (const pieces of splits(text + tunnel)) {
      const heads: ResponseHead[] = [];
      const parser = new ResponseParser({
        onHead: (h) => heads.push(h),
        onBody: () => expect.unreachable('a 101 has no body'),
        onEnd: () => expect.unreachable('a 101 does not end as a response'),
      });
      parser.expect(false, true);
      let rest = '';
      for (const piece of pieces) {
        if (heads.some((h) => h.status === 101)) {
          rest += piece; // the tunnel's bytes: the parser is not fed them
          continue;
        }
        const input = Buffer.from(piece, 'latin1');
        rest += input.subarray(parser.execute(input)).toString('latin1');
      }
      expect(heads.map((h) => h.status)).toEqual([103, 101]);
      expect(heads[1]!.headers).toEqual(['Upgrade', 'websocket']);
      expect(rest).toBe(tunnel);
    }
  });

  it('refuses a 101 to a request that asked for no upgrade, and an HTTP/1.0 101', () => {
    const sink = { onHead: () => {}, onBody: () => {}, onEnd: () => {} };
    const plain = new ResponseParser(sink);
    plain.expect(false);
    expect(() => plain.execute(Buffer.from('HTTP/1.1 101 Switching Protocols\r\n\r\n'))).toThrow(/unexpected 101/);
    const old = new ResponseParser(sink);
    old.expect(false, true);
    expect(() => old.execute(Buffer.from('HTTP/1.0 101 Switching Protocols\r\n\r\n'))).toThrow(/unexpected 101/);
  });
});
