import { describe, expect, it } from 'vitest';
import { hostOf, normalizePath } from '../../src/gateway/stages/route.js';
import { compileRouter } from '../../src/snapshot/router.js';
import type { CompiledApi } from '../../src/snapshot/snapshot.js';

function api(name: string, path: string, host: string | null = null, methods = ['GET']): CompiledApi {
  return { api: { name, path, host }, methods: new Set(methods) } as unknown as CompiledApi;
}

const router = compileRouter([
  api('exact', '/a/b'),
  api('prefix-a', '/a/*'),
  api('prefix-ab', '/a/b/*'),
  api('all', '/*'),
  api('post-only', '/post', null, ['POST']),
  api('host', '/a/b', 'api.example.com'),
  api('wild', '/w/*', '*.example.com'),
]);
const lookup = (path: string, host = '', method = 'GET') => {
  const m = router.lookup(host, path, method);
  return m.api ? m.api.api.name : m.allowed ? `405:${m.allowed.join(',')}` : '404';
};

describe('router', () => {
  it.each([
    ['/a/b', '', 'exact'],
    ['/a/b/c', '', 'prefix-ab'],
    ['/a', '', 'prefix-a'],
    ['/a/', '', 'prefix-a'],
    ['/a/x/y', '', 'prefix-a'],
    ['/ab', '', 'all'],
    ['/', '', 'all'],
    ['/a/b', 'api.example.com', 'host'],
    ['/a/b', 'other.com', 'exact'],
    ['/w/1', 'x.example.com', 'wild'],
    ['/w/1', 'example.com', 'all'],
  ])('%s on host %j → %s', (path, host, expected) => {
    expect(lookup(path, host)).toBe(expected);
  });

  it('method mismatch on the only matching API is 405 with the allowed methods', () => {
    const only = compileRouter([api('post-only', '/post', null, ['POST', 'PUT'])]);
    expect(only.lookup('', '/post', 'GET')).toEqual({ api: null, allowed: ['POST', 'PUT'] });
    expect(only.lookup('', '/nothing', 'GET')).toEqual({ api: null, allowed: null });
  });

  it('a method mismatch falls through to a broader route that accepts it', () => {
    expect(lookup('/post', '', 'GET')).toBe('all');
  });
});

describe('normalizePath', () => {
  it.each([
    ['/a/b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/public/../admin', '/admin'],
    ['/a/b/..', '/a/'],
    ['/..', null],
    ['/a/../../etc', null],
    ['/.well-known/x', '/.well-known/x'],
    // A percent-encoded dot is a dot.
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E./admin', '/admin'],
    ['/a/%2e/b', '/a/b'],
    ['/%2e%2e/etc', null],
    ['/v1.%2e/x', '/v1../x'],
    // A dot segment only an encoded slash or a backslash delimits: a node decoding them would climb.
    ['/public/..%2fadmin', null],
    ['/public/%2e%2e%2Fadmin', null],
    ['/public/..%5cadmin', null],
    ['/public\\..\\admin', null],
    ['/public/x%2f..', null],
    // Encoded slashes and backslashes elsewhere are left as they are.
    ['/files/a%2Fb', '/files/a%2Fb'],
    ['/files/a\\b', '/files/a\\b'],
    ['/files/%2F.hidden', '/files/%2F.hidden'],
  ])('%s → %s', (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });
});

describe('hostOf', () => {
  it.each([
    ['Example.COM:8080', 'example.com'],
    ['example.com', 'example.com'],
    ['[::1]:80', '[::1]'],
    [undefined, ''],
  ])('%s → %s', (input, expected) => {
    expect(hostOf(input)).toBe(expected);
  });
});
