import { describe, expect, it } from 'vitest';
import { decimal, FieldLines, headerNameSet, isToken, sameName, trimmedSlice } from '../../src/http/header-names.js';

describe('header names', () => {
  it('compares a name with a lower-case one ignoring ASCII case only', () => {
    expect(sameName('Content-Length', 'content-length')).toBe(true);
    expect(sameName('CONTENT-LENGTH', 'content-length')).toBe(true);
    expect(sameName('content-length', 'content-length')).toBe(true);
    expect(sameName('Content-Lengths', 'content-length')).toBe(false);
    expect(sameName('Content_Length', 'content-length')).toBe(false);
    // Only A-Z fold: '\r' | 0x20 would be '-', '@' | 0x20 would be '`'.
    expect(sameName('content\rlength', 'content-length')).toBe(false);
    expect(sameName('@', '`')).toBe(false);
    // Non-ASCII letters do not fold to ASCII ones (toLowerCase would turn 'İ' into 'i̇').
    expect(sameName('\u212Aeep-alive', 'keep-alive')).toBe(false);
  });

  it('tests membership in a set of names whatever their case or length', () => {
    const hop = headerNameSet(['te', 'connection', 'keep-alive', 'proxy-authorization']);
    for (const name of ['TE', 'te', 'Connection', 'KEEP-ALIVE', 'Proxy-Authorization', 'proxy-authorization'])
      expect(hop(name)).toBe(true);
    for (const name of ['', 't', 'tea', 'Connections', 'X-Connection', 'host', 'proxy-authorizatio'])
      expect(hop(name)).toBe(false);
  });

  it('checks tokens byte by byte as the RFC 9110 grammar does', () => {
    const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const regex = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
    for (let c = 0; c < 256; c++) {
      const ch = String.fromCharCode(c);
      expect(isToken(`a${ch}b`)).toBe(regex.test(`a${ch}b`));
      expect(isToken(ch)).toBe(tchar.includes(ch));
    }
    expect(isToken('')).toBe(false);
    expect(isToken('\u0100')).toBe(false);
  });

  it('trims only spaces and tabs around a field value', () => {
    expect(trimmedSlice('X: \t a b \t', 2, 10)).toBe('a b');
    expect(trimmedSlice('X:', 2, 2)).toBe('');
    expect(trimmedSlice('X:   ', 2, 5)).toBe('');
    expect(trimmedSlice('X: \u00a0v\u00a0', 2, 6)).toBe('\u00a0v\u00a0'); // NBSP is not whitespace in HTTP
  });

  it('reads a plain decimal number of bounded length', () => {
    expect(decimal('0', 15)).toBe(0);
    expect(decimal('1234', 15)).toBe(1234);
    expect(decimal('999999999999999', 15)).toBe(999999999999999);
    for (const bad of ['', '1000000000000000', '+1', '-1', ' 1', '1 ', '1e3', '0x10', '١'])
      expect(decimal(bad, 15)).toBe(-1);
    expect(decimal('200', 3)).toBe(200);
    expect(decimal('2000', 3)).toBe(-1);
  });
});

describe('FieldLines', () => {
  const walk = (text: string, firstLineEnd: number) => {
    const fields = new FieldLines((message) => new Error(message));
    fields.reset(text, firstLineEnd);
    const out: string[] = [];
    while (fields.next()) out.push(`${fields.name}=${fields.value}`);
    return out;
  };

  it('reads each field line after the first line, values trimmed of spaces and tabs', () => {
    const head = 'HTTP/1.1 200 OK\r\nA: 1\r\nB-b:\t two words \r\nC:\r\nD:x:y';
    expect(walk(head, head.indexOf('\r\n'))).toEqual(['A=1', 'B-b=two words', 'C=', 'D=x:y']);
    expect(walk('GET / HTTP/1.1', 14)).toEqual([]);
  });

  it.each([
    ['a line without a colon', 'X\r\nA: 1\r\nno colon', 'invalid header line'],
    ['a line without a name', 'X\r\n: empty', 'invalid header line'],
    ['a space in the name', 'X\r\nSp ace: 1', 'invalid header name'],
    ['obsolete line folding', 'X\r\nA: 1\r\n folded: 2', 'invalid header name'],
  ])("throws the parser's error for %s", (_name, head, message) => {
    expect(() => walk(head, 1)).toThrow(message);
  });
});
