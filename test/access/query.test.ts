import { describe, expect, it } from 'vitest';
import { queryValue } from '../../src/access/auth/kind.js';
import { stripCredentials } from '../../src/access/strip.js';
import type { Authenticator } from '../../src/access/auth/kind.js';

// Credentials in the query: found by name as sent, and stripped without touching any other pair.
const byQuery = (name: string) => [{ carriers: { headers: [], query: [name] } }] as unknown as Authenticator[];
const strip = (query: string) => stripCredentials({ headers: {}, rawHeaders: [] }, query, byQuery('apikey'));

describe('query credentials', () => {
  it.each([
    ['apikey=1', ''],
    ['a=1&apikey=2', 'a=1'],
    ['apikey=1&a=2', 'a=2'],
    ['a=1&&apikey=2&b', 'a=1&&b'],
    ['apikey', ''],
    ['apikeyx=1&apikey&xapikey=2', 'apikeyx=1&xapikey=2'],
    ['a=1&', 'a=1&'],
    ['&apikey=1&', '&'],
    ['x=apikey&apikey=3&y=4', 'x=apikey&y=4'],
    ['apikey=1&apikey=2&b=3', 'b=3'],
    ['b=2', 'b=2'],
  ])('strips apikey from %j, leaving %j', (query, left) => {
    expect(strip(query)).toBe(left);
  });

  it('reads the first value of a name, decoded only when it needs it', () => {
    expect(queryValue('a=1&apikey=k_1-2.3&apikey=other', 'apikey')).toBe('k_1-2.3');
    expect(queryValue('apikey=a%2Bb+c', 'apikey')).toBe('a+b c');
    expect(queryValue('apikey', 'apikey')).toBe('');
    expect(queryValue('xapikey=1&apikeyx=2', 'apikey')).toBeUndefined();
    expect(queryValue('apikey=%E0%A4%A', 'apikey')).toBeUndefined();
    expect(queryValue('', 'apikey')).toBeUndefined();
  });
});
