/**
 * The one chunked decoder, seen through both parsers that use it: the same grammar on both sides
 * (llhttp's strict one: no whitespace in a chunk line, extensions checked, CRLF only), and the bounds
 * and errors of each side.
 */
import { describe, expect, it } from 'vitest';
import { RequestParseError, RequestParser } from '../../src/gateway/http/request-parser.js';
import { BadResponseError } from '../../src/upstream/errors.js';
import { ResponseParser } from '../../src/upstream/response-parser.js';

/** A parser run on a chunked body: `execute` feeds it one piece; its errors are of class `failure`. */
interface Side {
  start(onBody: (c: Buffer) => void, onEnd: () => void): (piece: Buffer) => void;
  failure: new (...args: never[]) => Error & { code: string };
}

const REQUEST: Side = {
  start(onBody, onEnd) {
    const parser = new RequestParser({ onHead: () => {}, onBody, onEnd });
    parser.execute(Buffer.from('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n'));
    return (piece) => void parser.execute(piece);
  },
  failure: RequestParseError,
};

const RESPONSE: Side = {
  start(onBody, onEnd) {
    const parser = new ResponseParser({ onHead: () => {}, onBody, onEnd });
    parser.expect(false);
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'));
    return (piece) => void parser.execute(piece);
  },
  failure: BadResponseError,
};

/** The body a side decodes from `chunks` (fed whole, then byte by byte: the same), or its error code. */
function decoded(side: Side, chunks: string): string {
  const run = (pieces: string[]): string => {
    let body = '';
    let ended = false;
    try {
      const feed = side.start(
        (c) => (body += c.toString('latin1')),
        () => (ended = true),
      );
      for (const p of pieces) feed(Buffer.from(p, 'latin1'));
    } catch (err) {
      if (err instanceof side.failure) return err.code;
      throw err;
    }
    return ended ? body : 'unfinished';
  };
  const whole = run([chunks]);
  expect(run(chunks.split('')), 'byte by byte').toBe(whole);
  return whole;
}

const requestBody = (chunks: string) => decoded(REQUEST, chunks);
const responseBody = (chunks: string) => decoded(RESPONSE, chunks);

describe('chunked bodies, both directions', () => {
  it.each([
    ['plain chunks', '2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n', 'abcde'],
    [
      'hex in either case, leading zeros',
      'A\r\n0123456789\r\n00b\r\nabcdefghijk\r\n0\r\n\r\n',
      '0123456789abcdefghijk',
    ],
    [
      'extensions: a name, a token value, a quoted value with an escaped quote',
      '2;a;b=c;d="x \\"y\\" ;z"\r\nab\r\n0;last\r\n\r\n',
      'ab',
    ],
    ['trailers', '2\r\nab\r\n0\r\nX-T: 1\r\nY:\r\n\r\n', 'ab'],
  ])('decode %s', (_name, chunks, body) => {
    expect(requestBody(chunks)).toBe(body);
    expect(responseBody(chunks)).toBe(body);
  });

  it.each([
    ['an empty extension (`2;`)', '2;\r\nab\r\n0\r\n\r\n'],
    ['an unbalanced quote', '2;a="b\r\nab\r\n0\r\n\r\n'],
    ['text after a quoted value', '2;a="b"c\r\nab\r\n0\r\n\r\n'],
    ['an empty extension value', '2;a=\r\nab\r\n0\r\n\r\n'],
    ['an empty extension name', '2;=b\r\nab\r\n0\r\n\r\n'],
    ['a space before the extension', '2 ;a\r\nab\r\n0\r\n\r\n'],
    ['a space after the size', '2 \r\nab\r\n0\r\n\r\n'],
    ['a space before the size', ' 2\r\nab\r\n0\r\n\r\n'],
    ['a space in an extension', '2; a=b\r\nab\r\n0\r\n\r\n'],
    ['a control character in a quoted value', '2;a="\x01"\r\nab\r\n0\r\n\r\n'],
    ['a byte past 0x7F in a quoted value', '2;a="\x80"\r\nab\r\n0\r\n\r\n'],
    ['a bare LF ending a chunk line', '2\nab\r\n0\r\n\r\n'],
    ['a bare LF after chunk data', '2\r\nab\n0\r\n\r\n'],
    ['a bare LF ending the body', '2\r\nab\r\n0\r\n\n'],
    ['a bare CR in a chunk line', '2\rx\r\nab\r\n0\r\n\r\n'],
    ['data longer than its size', '2\r\nabc\r\n0\r\n\r\n'],
    ['a signed size', '+2\r\nab\r\n0\r\n\r\n'],
    ['a size of 13 digits', '0000000000002\r\nab\r\n0\r\n\r\n'],
    ['a trailer without a colon', '2\r\nab\r\n0\r\nX-T\r\n\r\n'],
    ['a space before a trailer colon', '2\r\nab\r\n0\r\nX-T : 1\r\n\r\n'],
    ['obsolete folding in the trailers', '2\r\nab\r\n0\r\nX-T: 1\r\n  2\r\n\r\n'],
  ])('refuse %s, on both sides', (_name, chunks) => {
    expect(requestBody(chunks)).toBe('BAD_REQUEST');
    expect(responseBody(chunks)).toBe('UPSTREAM_BAD_RESPONSE');
  });

  it('bound the chunk line and the trailers per side: 4 KiB and 16 KiB for requests, 8 KiB each for responses', () => {
    const longExtension = (n: number) => `2;a=${'b'.repeat(n)}\r\nab\r\n0\r\n\r\n`;
    expect(requestBody(longExtension(4000))).toBe('ab');
    expect(requestBody(longExtension(5000))).toBe('BAD_REQUEST');
    expect(responseBody(longExtension(5000))).toBe('ab');
    expect(responseBody(longExtension(9000))).toBe('UPSTREAM_BAD_RESPONSE');
    const trailers = (n: number) =>
      `2\r\nab\r\n0\r\n${Array.from({ length: n }, (_, i) => `X-T${i}: ${'t'.repeat(990)}\r\n`).join('')}\r\n`;
    expect(requestBody(trailers(12))).toBe('ab');
    expect(requestBody(trailers(17))).toBe('HEADERS_TOO_LARGE');
    expect(responseBody(trailers(7))).toBe('ab');
    expect(responseBody(trailers(9))).toBe('UPSTREAM_BAD_RESPONSE');
  });
});

describe('a node repeating Content-Length', () => {
  it('is refused, even with the same value (it would reach the client twice)', () => {
    const parser = new ResponseParser({ onHead: () => {}, onBody: () => {}, onEnd: () => {} });
    parser.expect(false);
    expect(() =>
      parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok')),
    ).toThrow(BadResponseError);
  });
});
