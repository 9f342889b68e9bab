import { describe, expect, it } from 'vitest';
import { isValidHost } from '../../src/http/host.js';

describe('isValidHost', () => {
  it.each([
    '',
    'shop.test',
    'SHOP.test:8443',
    '127.0.0.1',
    '127.0.0.1:80',
    '[::1]',
    '[::1]:8080',
    'a_b-c~d',
    'x%41y',
    'shop.test:',
  ])('takes %j', (host) => expect(isValidHost(host)).toBe(true));

  it.each([
    'evil.test/.shop.test',
    'evil.test?.shop.test',
    'evil.test#.shop.test',
    'user@shop.test',
    'shop test',
    'shop.test:80:80',
    'shop.test:123456',
    'shop.test:8a',
    '[::1',
    '[]',
    '[::1]x',
    'ünïcode.test',
    'tab\t.test',
  ])('refuses %j', (host) => expect(isValidHost(host)).toBe(false));
});
