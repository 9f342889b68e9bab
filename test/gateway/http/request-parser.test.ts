/**
 * Unit tests of the gateway's strict incremental HTTP/1.1 request parser
 * (src/gateway/http/request-parser.ts, spec in the client-facing server design): the head it reports,
 * body framing by Content-Length and chunked coding, pipelining through execute()/complete/next(),
 * the head-size limits, and the error code of every rejected malformation. Each valid input is also
 * fed cut at every byte position and byte by byte: the result must not depend on how bytes arrive.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_REQUEST_HEAD_BYTES,
  MAX_REQUEST_LINE_BYTES,
  RequestParseError,
  RequestParser,
  type RequestErrorCode,
  type RequestHead,
} from '../../../src/gateway/http/request-parser.js';

/** One request as the sink saw it. */
interface Message {
  head: RequestHead;
  /** The decoded body bytes, latin1. */
  body: string;
  ended: boolean;
}

/** Everything reported while parsing a connection's bytes. */
interface Run {
  messages: Message[];
  /** Callback order: H(ead), B(ody, consecutive calls counted once), E(nd). */
  events: string;
  /** onBody calls with an empty chunk (the spec says never). */
  emptyChunks: number;
}

/** A head: lines joined with CRLF, then the empty line. */
function head(...lines: string[]): string {
  return lines.join('\r\n') + '\r\n\r\n';
}

/** latin1 bytes of `text`. */
function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** A parser whose sink records into a fresh Run. */
function newParser(): { parser: RequestParser; run: Run } {
  const run: Run = { messages: [], events: '', emptyChunks: 0 };
  const parser = new RequestParser({
    onHead: (h) => {
      run.messages.push({ head: h, body: '', ended: false });
      run.events += 'H';
    },
    onBody: (chunk) => {
      if (chunk.length === 0) run.emptyChunks++;
      const last = run.messages[run.messages.length - 1];
      if (last !== undefined) last.body += chunk.toString('latin1');
      if (!run.events.endsWith('B')) run.events += 'B';
    },
    onEnd: () => {
      const last = run.messages[run.messages.length - 1];
      if (last !== undefined) last.ended = true;
      run.events += 'E';
    },
  });
  return { parser, run };
}

/**
 * Feeds one read from the connection as a server would: after each complete message it takes the
 * bytes not consumed, calls next() and feeds them again. A parser that stops short of the end of
 * the input without completing a message has lost bytes.
 */
function feed(parser: RequestParser, input: Buffer): void {
  let rest = input;
  while (rest.length > 0) {
    const n = parser.execute(rest);
    if (!parser.complete) {
      if (n !== rest.length)
        throw new Error(`execute() consumed ${n} of ${rest.length} bytes without completing a message`);
      return;
    }
    rest = rest.subarray(n);
    parser.next();
  }
}

/** Parses a connection's bytes arriving as `pieces`. */
function parse(pieces: string[]): Run {
  const { parser, run } = newParser();
  for (const p of pieces) feed(parser, bytes(p));
  return run;
}

/** Feeds `pieces` until one throws; the error's code and how many bytes had been fed with that piece. */
function feedUntilError(
  parser: RequestParser,
  pieces: Iterable<string>,
): { code: RequestErrorCode | 'none'; fed: number } {
  let fed = 0;
  for (const p of pieces) {
    fed += p.length;
    try {
      feed(parser, bytes(p));
    } catch (err) {
      if (err instanceof RequestParseError) return { code: err.code, fed };
      throw err;
    }
  }
  return { code: 'none', fed };
}

/** The code of the RequestParseError thrown while parsing `pieces`, or 'none'. */
function rejection(pieces: string[]): RequestErrorCode | 'none' {
  return feedUntilError(newParser().parser, pieces).code;
}

/** Every way to cut `text` in two. */
function splits(text: string): string[][] {
  const out: string[][] = [];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

/** `text` one byte per read. */
function byteByByte(text: string): string[] {
  return text.split('');
}

/** Asserts that `text` parses the same whole, cut at every position and byte by byte; returns the run. */
function parseEveryWay(text: string): Run {
  const whole = parse([text]);
  expect(whole.emptyChunks).toBe(0);
  expect(whole.events).toMatch(/^(HB?E)*(HB?)?$/);
  for (const pieces of [...splits(text), byteByByte(text)]) {
    const r = parse(pieces);
    expect(r, `cut as ${JSON.stringify(pieces.length === 2 ? pieces : 'byte by byte')}`).toEqual(whole);
  }
  return whole;
}

/** The one head of `text`, which must be a single complete request. */
function headOf(text: string): RequestHead {
  const r = parse([text]);
  expect(r.messages).toHaveLength(1);
  expect(r.messages[0]!.ended).toBe(true);
  return r.messages[0]!.head;
}

const SIMPLE_GET = head('GET /index.html?q=1 HTTP/1.1', 'Host: example.com', 'User-Agent: test/1.0', 'Accept: */*');

const CHUNKED_BODY =
  '5;name=value\r\nhello\r\n' +
  '7;a;b="x"\r\n, world\r\n' +
  'A\r\n0123456789\r\n' +
  '1a\r\n' +
  'abcdefghijklmnopqrstuvwxyz\r\n' +
  '0;last\r\nTrailer-A: 1\r\nTrailer-B: two\r\n\r\n';
const CHUNKED_DECODED = 'hello, world0123456789abcdefghijklmnopqrstuvwxyz';
const CHUNKED =
  head('POST /upload HTTP/1.1', 'Host: example.com', 'Transfer-Encoding: chunked', 'X-After: 1') + CHUNKED_BODY;

describe('RequestParser', () => {
  it('exports the head limits of the spec', () => {
    expect(MAX_REQUEST_HEAD_BYTES).toBe(16 * 1024);
    expect(MAX_REQUEST_LINE_BYTES).toBe(8 * 1024);
  });

  describe('heads', () => {
    it('parses a simple GET, whole and cut at every byte', () => {
      const r = parseEveryWay(SIMPLE_GET);
      expect(r.events).toBe('HE');
      expect(r.messages).toHaveLength(1);
      const h = r.messages[0]!.head;
      expect(h).toMatchObject({
        method: 'GET',
        url: '/index.html?q=1',
        minor: 1,
        keepAlive: true,
        contentLength: 0,
        chunked: false,
        expectContinue: false,
      });
      expect(h.rawHeaders).toEqual(['Host', 'example.com', 'User-Agent', 'test/1.0', 'Accept', '*/*']);
      expect(h.headers).toEqual({ host: 'example.com', 'user-agent': 'test/1.0', accept: '*/*' });
      expect(r.messages[0]!.body).toBe('');
    });

    it('keeps header order and case in rawHeaders; headers are lower-cased with repeats joined', () => {
      const h = headOf(
        head(
          'GET / HTTP/1.1',
          'X-Multi: a',
          'host: example.com',
          'Cookie: a=1',
          'ACCEPT: text/html',
          'x-multi: b',
          'cookie: b=2',
          'Accept: application/json',
          'X-MULTI: c',
        ),
      );
      expect(h.rawHeaders).toEqual([
        'X-Multi',
        'a',
        'host',
        'example.com',
        'Cookie',
        'a=1',
        'ACCEPT',
        'text/html',
        'x-multi',
        'b',
        'cookie',
        'b=2',
        'Accept',
        'application/json',
        'X-MULTI',
        'c',
      ]);
      expect(h.headers).toEqual({
        'x-multi': 'a, b, c',
        host: 'example.com',
        cookie: 'a=1; b=2',
        accept: 'text/html, application/json',
      });
    });

    it('trims optional whitespace around values, keeps inner whitespace, HTAB and obs-text', () => {
      const h = headOf(
        head(
          'GET / HTTP/1.1',
          'Host:example.com',
          'X-Spaces:   a  b   ',
          'X-Tabs:\t\tc\td\t',
          'X-Empty:',
          'X-Blank:    ',
          'X-Latin: caf\xe9',
        ),
      );
      expect(h.rawHeaders).toEqual([
        'Host',
        'example.com',
        'X-Spaces',
        'a  b',
        'X-Tabs',
        'c\td',
        'X-Empty',
        '',
        'X-Blank',
        '',
        'X-Latin',
        'caf\u00e9',
      ]);
      expect(h.headers).toMatchObject({
        host: 'example.com',
        'x-spaces': 'a  b',
        'x-tabs': 'c\td',
        'x-empty': '',
        'x-latin': 'caf\u00e9',
      });
    });

    it.each([
      ['OPTIONS * HTTP/1.1', 'OPTIONS', '*'],
      ['GET http://h/x?y=1 HTTP/1.1', 'GET', 'http://h/x?y=1'],
      ['CONNECT h:443 HTTP/1.1', 'CONNECT', 'h:443'],
      ['PURGE /cache/item HTTP/1.1', 'PURGE', '/cache/item'],
      ['GET /caf%C3%A9?%20 HTTP/1.1', 'GET', '/caf%C3%A9?%20'],
    ])('keeps method and target as sent: %s', (line, method, url) => {
      expect(headOf(head(line, 'Host: h'))).toMatchObject({ method, url, minor: 1 });
    });

    it('accepts HTTP/1.0 without Host', () => {
      const h = headOf(head('GET /old HTTP/1.0', 'User-Agent: x'));
      expect(h).toMatchObject({
        method: 'GET',
        url: '/old',
        minor: 0,
        keepAlive: false,
        contentLength: 0,
        chunked: false,
      });
    });

    it('skips empty lines (CRLF) before the request line', () => {
      const text = '\r\n\r\n\r\n' + SIMPLE_GET;
      const r = parseEveryWay(text);
      expect(r.messages).toHaveLength(1);
      expect(r.messages[0]!.head.url).toBe('/index.html?q=1');
      const { parser } = newParser();
      expect(parser.execute(bytes(text))).toBe(text.length);
      expect(parser.complete).toBe(true);
    });

    it('reports the head as soon as it is complete, before any body byte', () => {
      const { parser, run } = newParser();
      const h = head('POST /p HTTP/1.1', 'Host: h', 'Content-Length: 5');
      expect(parser.execute(bytes(h))).toBe(h.length);
      expect(run.events).toBe('H');
      expect(run.messages[0]!.head.contentLength).toBe(5);
      expect(parser.complete).toBe(false);
      expect(parser.idle).toBe(false);
      expect(parser.execute(bytes('hel'))).toBe(3);
      expect(parser.complete).toBe(false);
      expect(parser.execute(bytes('lo'))).toBe(2);
      expect(parser.complete).toBe(true);
      expect(run.events).toBe('HBE');
      expect(run.messages[0]!.body).toBe('hello');
    });
  });

  describe('keep-alive', () => {
    it.each([
      ['1.1', [], true],
      ['1.1', ['Connection: close'], false],
      ['1.1', ['Connection: Close'], false],
      ['1.1', ['Connection:close'], false],
      ['1.1', ['Connection: keep-alive'], true],
      ['1.1', ['Connection: keep-alive, Upgrade'], true],
      ['1.1', ['Connection: Upgrade, close'], false],
      ['1.1', ['Connection: Upgrade', 'Connection: close'], false],
      ['1.1', ['Connection: x-close'], true],
      ['1.0', [], false],
      ['1.0', ['Connection: keep-alive'], true],
      ['1.0', ['Connection: Keep-Alive'], true],
      ['1.0', ['Connection: keep-alive, Upgrade'], true],
      ['1.0', ['Connection: Upgrade,keep-alive'], true],
      ['1.0', ['Connection: Upgrade'], false],
      ['1.0', ['Connection: close'], false],
      ['1.0', ['Connection: x-keep-alive'], false],
    ] as const)('HTTP/%s with %j: keepAlive %s', (version, connection, keepAlive) => {
      const h = headOf(head(`GET / HTTP/${version}`, 'Host: h', ...connection));
      expect(h.keepAlive).toBe(keepAlive);
      expect(h.minor).toBe(version === '1.0' ? 0 : 1);
    });
  });

  describe('bodies', () => {
    it('delivers a Content-Length body, without reading a request inside it, cut at every byte', () => {
      const body = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff';
      const text =
        head('POST /submit HTTP/1.1', 'Host: h', `Content-Length: ${body.length}`, 'Content-Type: text/plain') + body;
      const r = parseEveryWay(text);
      expect(r.events).toBe('HBE');
      expect(r.messages).toHaveLength(1);
      expect(r.messages[0]!.head).toMatchObject({ method: 'POST', contentLength: body.length, chunked: false });
      expect(r.messages[0]!.body).toBe(body);
    });

    it('delivers a large Content-Length body in pieces, in non-empty chunks', () => {
      const body = Buffer.alloc(100_000);
      for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
      const latin = body.toString('latin1');
      const text = head('PUT /big HTTP/1.1', 'Host: h', 'Content-Length: 100000') + latin;
      const r = parse([text.slice(0, 50), text.slice(50, 40_000), text.slice(40_000, 40_001), text.slice(40_001)]);
      expect(r.emptyChunks).toBe(0);
      expect(r.events).toBe('HBE');
      expect(r.messages[0]!.body).toBe(latin);
    });

    it('has no body without Content-Length or Transfer-Encoding, and none with Content-Length: 0', () => {
      for (const text of [
        head('POST / HTTP/1.1', 'Host: h'),
        head('POST / HTTP/1.1', 'Host: h', 'Content-Length: 0'),
        head('POST / HTTP/1.0'),
      ]) {
        const r = parse([text]);
        expect(r.events).toBe('HE');
        expect(r.messages[0]!.head).toMatchObject({ contentLength: 0, chunked: false });
      }
    });

    it('accepts Content-Length with OWS and up to 15 digits', () => {
      expect(headOf(head('POST / HTTP/1.1', 'Host: h', 'Content-Length:   3  ') + 'abc').contentLength).toBe(3);
      expect(headOf(head('POST / HTTP/1.1', 'Host: h', 'Content-Length: 000000000000003') + 'abc').contentLength).toBe(
        3,
      );
    });

    it('decodes a chunked body with extensions and drops the trailers, cut at every byte', () => {
      const r = parseEveryWay(CHUNKED);
      expect(r.events).toBe('HBE');
      expect(r.messages).toHaveLength(1);
      const m = r.messages[0]!;
      expect(m.body).toBe(CHUNKED_DECODED);
      expect(m.head).toMatchObject({
        method: 'POST',
        url: '/upload',
        contentLength: -1,
        chunked: true,
        keepAlive: true,
      });
      expect(m.head.rawHeaders).toEqual(['Host', 'example.com', 'Transfer-Encoding', 'chunked', 'X-After', '1']);
      expect(m.head.headers).not.toHaveProperty('trailer-a');
    });

    it('accepts chunked in any case with OWS, upper- and lower-case hex, 12-digit sizes and CRLF inside data', () => {
      const text =
        head('POST / HTTP/1.1', 'Host: h', 'Transfer-Encoding:   ChUnKeD  ') +
        '000000000005\r\nhello\r\n' +
        'e\r\n\r\n0\r\n\r\nabcdefg\r\n' +
        'B\r\n0123456789X\r\n' +
        '0\r\n\r\n';
      const r = parseEveryWay(text);
      expect(r.messages[0]!.head.chunked).toBe(true);
      expect(r.messages[0]!.body).toBe('hello' + '\r\n0\r\n\r\nabcdefg' + '0123456789X');
    });

    it('ends an empty chunked body without onBody', () => {
      const r = parseEveryWay(head('POST / HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked') + '0\r\n\r\n');
      expect(r.events).toBe('HE');
      expect(r.messages[0]!.body).toBe('');
    });

    it('waits for the trailer section to end before onEnd', () => {
      const { parser, run } = newParser();
      const text = head('POST / HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked') + '2\r\nok\r\n0\r\nX-T: 1\r\n';
      expect(parser.execute(bytes(text))).toBe(text.length);
      expect(run.events).toBe('HB');
      expect(parser.complete).toBe(false);
      expect(parser.execute(bytes('\r\n'))).toBe(2);
      expect(run.events).toBe('HBE');
      expect(parser.complete).toBe(true);
    });
  });

  describe('expect: 100-continue', () => {
    it.each([
      ['a Content-Length body', '100-continue', ['Content-Length: 5'], 'hello', true],
      ['a chunked body', '100-continue', ['Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n', true],
      ['a body, in another case', '100-Continue', ['Content-Length: 5'], 'hello', true],
      ['no body', '100-continue', [], '', false],
      ['Content-Length: 0', '100-continue', ['Content-Length: 0'], '', false],
    ] as const)('with %s (Expect: %s)', (_name, value, framing, body, expected) => {
      const r = parse([head('POST / HTTP/1.1', 'Host: h', `Expect: ${value}`, ...framing) + body]);
      expect(r.messages).toHaveLength(1);
      expect(r.messages[0]!.head.expectContinue).toBe(expected);
      expect(r.messages[0]!.body).toBe(body === '' ? '' : 'hello');
    });

    it('reports expectContinue on the head alone, so the server can answer 100 Continue', () => {
      const { parser, run } = newParser();
      feed(parser, bytes(head('PUT /x HTTP/1.1', 'Host: h', 'Content-Length: 3', 'Expect: 100-continue')));
      expect(run.events).toBe('H');
      expect(run.messages[0]!.head.expectContinue).toBe(true);
      expect(parser.complete).toBe(false);
    });
  });

  describe('pipelining, idle and complete', () => {
    const FIRST = head('POST /a HTTP/1.1', 'Host: h', 'Content-Length: 5') + 'hello';
    const SECOND = head('GET /b HTTP/1.1', 'Host: h');

    it('returns the bytes of the first request only, then 0 until next(), then parses the second', () => {
      const { parser, run } = newParser();
      expect(parser.idle).toBe(true);
      expect(parser.complete).toBe(false);
      const buf = bytes(FIRST + SECOND);
      expect(parser.execute(buf)).toBe(FIRST.length);
      expect(parser.complete).toBe(true);
      expect(run.events).toBe('HBE');
      expect(run.messages.map((m) => m.head.url)).toEqual(['/a']);

      const rest = buf.subarray(FIRST.length);
      expect(parser.execute(rest)).toBe(0);
      expect(parser.execute(rest)).toBe(0);
      expect(parser.complete).toBe(true);
      expect(run.events).toBe('HBE');

      parser.next();
      expect(parser.complete).toBe(false);
      expect(parser.idle).toBe(true);
      expect(parser.execute(rest)).toBe(SECOND.length);
      expect(parser.complete).toBe(true);
      expect(run.events).toBe('HBEHE');
      expect(run.messages.map((m) => [m.head.url, m.body])).toEqual([
        ['/a', 'hello'],
        ['/b', ''],
      ]);
    });

    it('stops after a chunked request followed by another', () => {
      const first = head('POST /c HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked') + '3\r\nabc\r\n0\r\n\r\n';
      const { parser, run } = newParser();
      const buf = bytes(first + SECOND);
      expect(parser.execute(buf)).toBe(first.length);
      expect(parser.complete).toBe(true);
      parser.next();
      expect(parser.execute(buf.subarray(first.length))).toBe(SECOND.length);
      expect(run.messages.map((m) => [m.head.url, m.body])).toEqual([
        ['/c', 'abc'],
        ['/b', ''],
      ]);
    });

    it('goes from idle to busy with the first byte, and back to idle after next()', () => {
      const { parser } = newParser();
      expect(parser.idle).toBe(true);
      expect(parser.execute(bytes('G'))).toBe(1);
      expect(parser.idle).toBe(false);
      expect(parser.complete).toBe(false);
      expect(parser.execute(bytes('ET / HTTP/1.1\r\nHost: h\r\n\r\n'))).toBe(26);
      expect(parser.complete).toBe(true);
      parser.next();
      expect(parser.idle).toBe(true);
      expect(parser.complete).toBe(false);
      expect(parser.execute(bytes('P'))).toBe(1);
      expect(parser.idle).toBe(false);
    });

    it('parses three pipelined requests the same however the bytes are cut', () => {
      const third = head('DELETE /d HTTP/1.0', 'Connection: keep-alive');
      const text = FIRST + CHUNKED + '\r\n' + third;
      const r = parseEveryWay(text);
      expect(r.events).toBe('HBEHBEHE');
      expect(r.messages.map((m) => [m.head.method, m.head.url, m.head.minor, m.head.keepAlive, m.body])).toEqual([
        ['POST', '/a', 1, true, 'hello'],
        ['POST', '/upload', 1, true, CHUNKED_DECODED],
        ['DELETE', '/d', 0, true, ''],
      ]);
    });
  });

  describe('limits', () => {
    /** A request line of exactly `length` bytes (without CRLF). */
    function requestLine(length: number): string {
      const fixed = 'GET / HTTP/1.1'.length;
      return `GET /${'a'.repeat(length - fixed)} HTTP/1.1`;
    }

    /** `text` in reads of `size` bytes. */
    function pieces(text: string, size: number): string[] {
      const out: string[] = [];
      for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
      return out;
    }

    it('accepts a request line of exactly 8 KiB', () => {
      const line = requestLine(MAX_REQUEST_LINE_BYTES);
      expect(line.length).toBe(8192);
      const h = headOf(head(line, 'Host: h'));
      expect(h.url).toBe(line.slice(4, -9));
    });

    it('rejects a request line over 8 KiB with URI_TOO_LONG, whole and in pieces', () => {
      const text = head(requestLine(MAX_REQUEST_LINE_BYTES + 1), 'Host: h');
      expect(rejection([text])).toBe('URI_TOO_LONG');
      expect(rejection(pieces(text, 1000))).toBe('URI_TOO_LONG');
    });

    it('rejects an unterminated request line with URI_TOO_LONG once over 16 KiB are buffered, fed in 1 KiB reads', () => {
      const { parser } = newParser();
      const reads = ['GET /', ...Array.from({ length: 40 }, () => 'a'.repeat(1024))];
      const { code, fed } = feedUntilError(parser, reads);
      expect(code).toBe('URI_TOO_LONG');
      expect(fed).toBeLessThanOrEqual(MAX_REQUEST_HEAD_BYTES + 1024);
    });

    it('rejects an unterminated request line over 16 KiB in one read with URI_TOO_LONG', () => {
      expect(rejection(['GET /' + 'a'.repeat(MAX_REQUEST_HEAD_BYTES + 100)])).toBe('URI_TOO_LONG');
    });

    it('accepts a head of exactly 16 KiB (with its CRLFs)', () => {
      const start = 'GET / HTTP/1.1\r\nHost: h\r\n';
      const fill = MAX_REQUEST_HEAD_BYTES - start.length - '\r\n\r\n'.length - 'X-Pad: '.length;
      const text = start + 'X-Pad: ' + 'a'.repeat(fill) + '\r\n\r\n';
      expect(text.length).toBe(MAX_REQUEST_HEAD_BYTES);
      expect(headOf(text).headers['x-pad']).toHaveLength(fill);
    });

    it('rejects a complete head over 16 KiB with HEADERS_TOO_LARGE', () => {
      const start = head(requestLine(MAX_REQUEST_LINE_BYTES), 'Host: h').slice(0, -2);
      const text = start + `X-Pad: ${'a'.repeat(MAX_REQUEST_HEAD_BYTES - start.length)}\r\n\r\n`;
      expect(text.length).toBeGreaterThan(MAX_REQUEST_HEAD_BYTES + 4);
      expect(rejection([text])).toBe('HEADERS_TOO_LARGE');
      expect(rejection(pieces(text, 3000))).toBe('HEADERS_TOO_LARGE');
    });

    it('rejects with HEADERS_TOO_LARGE on the read that fills 16 KiB without the end of the head, across many execute() calls', () => {
      const { parser } = newParser();
      const reads = ['GET / HTTP/1.1\r\n', 'Host: h\r\n'];
      let total = reads.join('').length;
      for (let i = 0; total + 1000 <= MAX_REQUEST_HEAD_BYTES - 100; i++) {
        const line = `X-Pad-${String(i).padStart(3, '0')}: ${'a'.repeat(1000 - 13)}\r\n`;
        expect(line.length).toBe(1000);
        reads.push(line);
        total += line.length;
      }
      // Its end (CRLF CRLF) counts in the head: a head that holds 16 KiB without it cannot end within the limit.
      const last = `X-Last: ${'b'.repeat(MAX_REQUEST_HEAD_BYTES - 1 - total - 'X-Last: '.length)}`;
      reads.push(last);
      total += last.length;
      expect(total).toBe(MAX_REQUEST_HEAD_BYTES - 1);
      expect(feedUntilError(parser, reads)).toEqual({ code: 'none', fed: MAX_REQUEST_HEAD_BYTES - 1 });
      expect(feedUntilError(parser, ['b'])).toEqual({ code: 'HEADERS_TOO_LARGE', fed: 1 });
    });

    it('keeps an unfinished head in a buffer never larger than 16 KiB, tells the sink its size, and fails with HEAD_MEMORY_FULL when refused', () => {
      const sizes: number[] = [];
      let budget = Infinity;
      const heads: RequestHead[] = [];
      const parser = new RequestParser({
        onHead: (h) => heads.push(h),
        onBody: () => {},
        onEnd: () => {},
        holdHead: (n) => {
          if (n > budget) return false;
          sizes.push(n);
          return true;
        },
      });
      const text = head('GET / HTTP/1.1', 'Host: h', `X-Pad: ${'a'.repeat(MAX_REQUEST_HEAD_BYTES - 100)}`);
      // One byte at a time, then the rest in 64 KiB reads: the buffer doubles up to the limit and no further.
      feedUntilError(parser, [...byteByByte(text.slice(0, 3000)), text.slice(3000)]);
      expect(heads).toHaveLength(1);
      expect(sizes.slice(0, 3)).toEqual([1024, 2048, 4096]); // doubling while bytes trickle in
      expect(sizes.at(-1)).toBe(0); // let go once the head is parsed
      expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_REQUEST_HEAD_BYTES);
      parser.next();
      sizes.length = 0;
      budget = 2048;
      expect(feedUntilError(parser, ['GET / HTTP/1.1\r\n', 'x'.repeat(3000)])).toEqual({
        code: 'HEAD_MEMORY_FULL',
        fed: 3016,
      });
      expect(sizes).toEqual([1024]);
    });

    it('rejects a trailer section over 16 KiB with HEADERS_TOO_LARGE', () => {
      const { parser } = newParser();
      const reads = [head('POST / HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked') + '2\r\nok\r\n0\r\n'];
      for (let i = 0; i < 40; i++) reads.push(`X-Trailer-${i}: ${'t'.repeat(980)}\r\n`);
      expect(feedUntilError(parser, reads).code).toBe('HEADERS_TOO_LARGE');
    });
  });

  describe('rejections', () => {
    const h11 = (...lines: string[]): string => head('GET / HTTP/1.1', 'Host: h', ...lines);
    const post = (...lines: string[]): string => head('POST / HTTP/1.1', 'Host: h', ...lines);
    const chunked = (body: string): string => post('Transfer-Encoding: chunked') + body;

    it.each([
      // version
      ['HTTP/2.0', head('GET / HTTP/2.0', 'Host: h'), 'HTTP_VERSION_UNSUPPORTED'],
      ['HTTP/1.2', head('GET / HTTP/1.2', 'Host: h'), 'HTTP_VERSION_UNSUPPORTED'],
      ['HTTP/0.9', head('GET / HTTP/0.9', 'Host: h'), 'HTTP_VERSION_UNSUPPORTED'],
      ['HTTP/1.1x', head('GET / HTTP/1.1x', 'Host: h'), 'BAD_REQUEST'],
      ['lower-case http/1.1', head('GET / http/1.1', 'Host: h'), 'BAD_REQUEST'],
      ['HTTP/2 without minor', head('GET / HTTP/2', 'Host: h'), 'BAD_REQUEST'],
      ['HTTP/1.1 followed by a space', head('GET / HTTP/1.1 ', 'Host: h'), 'BAD_REQUEST'],
      // request line
      ['a missing version', head('GET /', 'Host: h'), 'BAD_REQUEST'],
      ['two spaces after the method', head('GET  / HTTP/1.1', 'Host: h'), 'BAD_REQUEST'],
      ['a space in the target', head('GET /a b HTTP/1.1', 'Host: h'), 'BAD_REQUEST'],
      ['a control char in the target', head('GET /a\x01b HTTP/1.1', 'Host: h'), 'BAD_REQUEST'],
      ['a tab in the target', head('GET /a\tb HTTP/1.1', 'Host: h'), 'BAD_REQUEST'],
      ['DEL in the target', head('GET /a\x7fb HTTP/1.1', 'Host: h'), 'BAD_REQUEST'],
      ['a method that is not a token', head('G(T / HTTP/1.1', 'Host: h'), 'BAD_REQUEST'],
      ['an empty method', head(' / HTTP/1.1', 'Host: h'), 'BAD_REQUEST'],
      // llhttp knows its methods by name, case included, and refuses any other (so does the gateway)
      ['a method llhttp does not know', head('FROB / HTTP/1.1', 'Host: h'), 'BAD_REQUEST'],
      ['a lower-case method', head('get /lower HTTP/1.1', 'Host: h'), 'BAD_REQUEST'],
      // llhttp refuses bytes past 0x7F in a target (percent-encode them)
      ['a byte past 0x7F in the target', head('GET /caf\xe9 HTTP/1.1', 'Host: h'), 'BAD_REQUEST'],
      // line ends
      ['a bare LF after the request line', 'GET / HTTP/1.1\nHost: h\r\n\r\n', 'BAD_REQUEST'],
      ['a bare LF after a header', 'GET / HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n', 'BAD_REQUEST'],
      ['LF-only line ends', 'GET / HTTP/1.1\nHost: h\n\n', 'BAD_REQUEST'],
      ['a bare LF before the request line', '\nGET / HTTP/1.1\r\nHost: h\r\n\r\n', 'BAD_REQUEST'],
      ['a bare CR in a value', h11('X-A: a\rb'), 'BAD_REQUEST'],
      ['a bare CR at the end of a value', 'GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\r\n\r\n', 'BAD_REQUEST'],
      ['a bare LF in a chunk-size line', chunked('5\nhello\r\n0\r\n\r\n'), 'BAD_REQUEST'],
      ['a bare LF after chunk data', chunked('5\r\nhello\n0\r\n\r\n'), 'BAD_REQUEST'],
      // header lines
      ['a space before the colon', h11('X-A : 1'), 'BAD_REQUEST'],
      ['a tab before the colon', h11('X-A\t: 1'), 'BAD_REQUEST'],
      ['a header without colon', h11('X-A'), 'BAD_REQUEST'],
      ['an empty header name', h11(': v'), 'BAD_REQUEST'],
      ['a header name that is not a token', h11('X(A): 1'), 'BAD_REQUEST'],
      ['obs-fold with a space', h11('X-A: 1', '  folded'), 'BAD_REQUEST'],
      ['obs-fold with a tab', h11('X-A: 1', '\tfolded'), 'BAD_REQUEST'],
      ['a first header line starting with a space', head('GET / HTTP/1.1', ' Host: h'), 'BAD_REQUEST'],
      ['NUL in a value', h11('X-A: a\x00b'), 'BAD_REQUEST'],
      ['a control char in a value', h11('X-A: a\x01b'), 'BAD_REQUEST'],
      ['ESC in a value', h11('X-A: \x1b[31m'), 'BAD_REQUEST'],
      ['DEL in a value', h11('X-A: a\x7fb'), 'BAD_REQUEST'],
      // Host
      ['HTTP/1.1 without Host', head('GET / HTTP/1.1'), 'BAD_REQUEST'],
      ['HTTP/1.1 without Host but with other headers', head('GET / HTTP/1.1', 'Accept: */*'), 'BAD_REQUEST'],
      ['two Host headers', h11('Host: h'), 'BAD_REQUEST'],
      ['two Host headers in different case', h11('host: other'), 'BAD_REQUEST'],
      // Content-Length
      [
        'Content-Length with Transfer-Encoding',
        post('Content-Length: 5', 'Transfer-Encoding: chunked') + '0\r\n\r\n',
        'BAD_REQUEST',
      ],
      [
        'Transfer-Encoding with Content-Length',
        post('Transfer-Encoding: chunked', 'Content-Length: 5') + '0\r\n\r\n',
        'BAD_REQUEST',
      ],
      ['two identical Content-Length', post('Content-Length: 5', 'Content-Length: 5') + 'hello', 'BAD_REQUEST'],
      ['two different Content-Length', post('Content-Length: 5', 'Content-Length: 6') + 'hello!', 'BAD_REQUEST'],
      ['a Content-Length list', post('Content-Length: 5, 5') + 'hello', 'BAD_REQUEST'],
      ['Content-Length with +', post('Content-Length: +5') + 'hello', 'BAD_REQUEST'],
      ['Content-Length with -', post('Content-Length: -5') + 'hello', 'BAD_REQUEST'],
      ['Content-Length with a letter', post('Content-Length: 5x') + 'hello', 'BAD_REQUEST'],
      ['Content-Length in hex', post('Content-Length: 0x5') + 'hello', 'BAD_REQUEST'],
      ['Content-Length with a decimal point', post('Content-Length: 5.0') + 'hello', 'BAD_REQUEST'],
      ['Content-Length with an inner space', post('Content-Length: 1 2') + 'hello', 'BAD_REQUEST'],
      ['an empty Content-Length', post('Content-Length:') + 'hello', 'BAD_REQUEST'],
      ['a 16-digit Content-Length', post('Content-Length: 1000000000000000') + 'hello', 'BAD_REQUEST'],
      // Transfer-Encoding
      [
        'Transfer-Encoding on HTTP/1.0',
        head('POST / HTTP/1.0', 'Transfer-Encoding: chunked') + '0\r\n\r\n',
        'BAD_REQUEST',
      ],
      ['Transfer-Encoding: gzip', post('Transfer-Encoding: gzip') + 'x', 'TRANSFER_CODING_UNSUPPORTED'],
      [
        'Transfer-Encoding: gzip, chunked',
        post('Transfer-Encoding: gzip, chunked') + '0\r\n\r\n',
        'TRANSFER_CODING_UNSUPPORTED',
      ],
      ['Transfer-Encoding: identity', post('Transfer-Encoding: identity') + 'x', 'TRANSFER_CODING_UNSUPPORTED'],
      [
        'Transfer-Encoding: chunked, chunked',
        post('Transfer-Encoding: chunked, chunked') + '0\r\n\r\n',
        'TRANSFER_CODING_UNSUPPORTED',
      ],
      // chunked framing
      ['a non-hex chunk size', chunked('zz\r\nhello\r\n0\r\n\r\n'), 'BAD_REQUEST'],
      ['a chunk size of 13 hex digits', chunked('1000000000000\r\nhello\r\n0\r\n\r\n'), 'BAD_REQUEST'],
      [
        'a chunk size of 13 hex digits with leading zeros',
        chunked('0000000000005\r\nhello\r\n0\r\n\r\n'),
        'BAD_REQUEST',
      ],
      ['an empty chunk size', chunked('\r\nhello\r\n0\r\n\r\n'), 'BAD_REQUEST'],
      ['an empty chunk size with an extension', chunked(';ext=1\r\nhello\r\n0\r\n\r\n'), 'BAD_REQUEST'],
      ['a signed chunk size', chunked('+5\r\nhello\r\n0\r\n\r\n'), 'BAD_REQUEST'],
      ['chunk data without its CRLF', chunked('2\r\nokX\r\n0\r\n\r\n'), 'BAD_REQUEST'],
      ['chunk data followed by the next size', chunked('2\r\nok2\r\nok\r\n0\r\n\r\n'), 'BAD_REQUEST'],
      ['a control char in a trailer', chunked('2\r\nok\r\n0\r\nX-T: a\x01b\r\n\r\n'), 'BAD_REQUEST'],
      // Expect
      ['Expect: something-else', post('Content-Length: 2', 'Expect: something-else') + 'ok', 'EXPECTATION_FAILED'],
      ['Expect: something-else without a body', h11('Expect: something-else'), 'EXPECTATION_FAILED'],
    ] as const)('rejects %s', (_name, text, code) => {
      expect(rejection([text])).toBe(code);
      expect(rejection(byteByByte(text))).toBe(code);
    });

    it('throws a RequestParseError that is an Error with its code', () => {
      const { parser } = newParser();
      let caught: unknown = null;
      try {
        parser.execute(bytes(head('GET / HTTP/1.1')));
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(RequestParseError);
      expect(caught).toBeInstanceOf(Error);
      expect((caught as RequestParseError).code).toBe('BAD_REQUEST');
    });

    it('rejects the second of two pipelined requests without touching the first', () => {
      const { parser, run } = newParser();
      const first = head('GET /ok HTTP/1.1', 'Host: h');
      const buf = bytes(first + head('GET /bad HTTP/1.1', 'Host: h', 'Host: h'));
      expect(parser.execute(buf)).toBe(first.length);
      expect(run.events).toBe('HE');
      parser.next();
      expect(() => parser.execute(buf.subarray(first.length))).toThrow(
        expect.objectContaining({ code: 'BAD_REQUEST' }),
      );
      expect(run.messages.map((m) => m.head.url)).toEqual(['/ok']);
    });
  });
});
