import { describe, expect, it } from 'vitest';
import { readRequestFields } from '../../../src/gateway/h2/request-fields.js';

// A request's decoded header list read into what the lifecycle sees (RFC 9113 §8.1.1, §8.3.1).
const GET = [':method', 'GET', ':scheme', 'https', ':path', '/a', ':authority', 'shop.test'];

function read(...extra: string[]) {
  return readRequestFields([...GET, ...extra]);
}

describe('readRequestFields', () => {
  it('gives the host from :authority when there is no host field, once in rawHeaders', () => {
    const fields = read('x-a', '1');
    expect(fields).toMatchObject({ method: 'GET', path: '/a', authority: 'shop.test' });
    if (typeof fields === 'string') throw new Error(fields);
    expect(fields.headers['host']).toBe('shop.test');
    expect(fields.rawHeaders).toEqual(['x-a', '1', 'host', 'shop.test']);
  });

  it('keeps a host field equal to :authority (host names ignore case), once', () => {
    const fields = read('host', 'SHOP.test');
    if (typeof fields === 'string') throw new Error(fields);
    expect(fields.rawHeaders).toEqual(['host', 'SHOP.test']);
  });

  it.each([
    ['host differs from :authority', ['host', 'other.test']],
    ['repeated host', ['host', 'shop.test', 'host', 'shop.test']],
  ])('refuses %s', (why, extra) => {
    expect(read(...extra)).toBe(why);
  });

  it('refuses an https request with neither :authority nor host, and an :authority with userinfo', () => {
    expect(readRequestFields(GET.slice(0, 6))).toBe('neither :authority nor host');
    expect(readRequestFields([...GET.slice(0, 6), ':authority', 'u@shop.test'])).toMatch(/userinfo/);
    expect(readRequestFields([...GET.slice(0, 6), 'host', 'shop.test'])).toMatchObject({ authority: null });
  });

  it('keeps fields named like Object’s own properties as given, and __proto__ out of the record', () => {
    const fields = read('constructor', 'c', 'tostring', 't', '__proto__', 'p');
    if (typeof fields === 'string') throw new Error(fields);
    expect(fields.headers['constructor']).toBe('c');
    expect(fields.headers['tostring']).toBe('t');
    expect(Object.getPrototypeOf(fields.headers)).toBe(Object.prototype);
    expect(Object.hasOwn(fields.headers, '__proto__')).toBe(false);
  });

  it('joins split cookie fields into one with "; " (§8.2.3)', () => {
    const fields = read('cookie', 'a=1', 'cookie', 'b=2');
    if (typeof fields === 'string') throw new Error(fields);
    expect(fields.headers['cookie']).toBe('a=1; b=2');
    expect(fields.rawHeaders.filter((v) => v === 'cookie')).toHaveLength(1);
  });
});
