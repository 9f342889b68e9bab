import { describe, expect, it } from 'vitest';
import { hasBadHeadByte } from '../../src/http/head-bytes.js';

// The byte check both parsers run on a head: the same verdicts as the regular expressions it
// replaced, /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)/ (responses) and the same with |(?<!\r)\n
// (requests), on every kind of byte and at both ends of the range.

const RESPONSE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)/;
const REQUEST = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n/;

function check(text: string): void {
  const buf = Buffer.from(`XX${text}YY`, 'latin1');
  expect(hasBadHeadByte(buf, 2, buf.length - 2, false), JSON.stringify(text)).toBe(RESPONSE.test(text));
  expect(hasBadHeadByte(buf, 2, buf.length - 2, true), JSON.stringify(text)).toBe(REQUEST.test(text));
}

describe('hasBadHeadByte', () => {
  it('agrees with the regular expressions on every single byte, alone and around a CRLF', () => {
    for (let c = 0; c < 256; c++) {
      const ch = String.fromCharCode(c);
      check(ch);
      check(`a${ch}b`);
      check(`a: b\r\n${ch}`);
      check(`${ch}\r\nx: y`);
    }
  });

  it('agrees on line ends at the edges of the range', () => {
    for (const text of [
      '',
      '\r',
      '\n',
      '\r\n',
      'a\r',
      '\na',
      'a\r\n',
      '\r\na',
      'a\r\r\n',
      'a\n\r',
      'a\r\n\n',
      'GET / HTTP/1.1\r\nHost: x',
      'a:\tb\r\nc: d',
    ]) {
      check(text);
    }
  });

  it('ignores bytes outside the range', () => {
    const buf = Buffer.from('\x00ok\r', 'latin1');
    expect(hasBadHeadByte(buf, 1, 3, true)).toBe(false);
    expect(hasBadHeadByte(buf, 1, 4, true)).toBe(true);
  });
});
