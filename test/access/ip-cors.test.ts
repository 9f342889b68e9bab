import { describe, expect, it } from 'vitest';
import { compileCors } from '../../src/access/cors.js';
import { compileIpRules } from '../../src/access/ip.js';
import { clientIpResolver } from '../../src/gateway/client-ip.js';
import { CorsConfig, IpRules } from '../../src/model/access.js';

describe('IP lists', () => {
  const rules = compileIpRules(
    IpRules.parse({ allow: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'], deny: ['10.9.0.0/16', '2001:db8:bad::/48'] }),
  );
  it.each([
    ['v4 in the allow list', '10.1.2.3', 'allowed'],
    ['v4 single address', '192.0.2.7', 'allowed'],
    ['v4 next to it', '192.0.2.8', 'not-allowed'],
    ['v4 denied inside an allowed block (deny wins)', '10.9.1.1', 'denied'],
    ['v4 elsewhere', '8.8.8.8', 'not-allowed'],
    ['v6 in the allow list', '2001:db8::1', 'allowed'],
    ['v6 denied', '2001:db8:bad::1', 'denied'],
    ['v6 elsewhere', '2001:db9::1', 'not-allowed'],
    ['v4-mapped v6, dotted', '::ffff:10.1.2.3', 'allowed'],
    ['v4-mapped v6, hex', '::ffff:a09:101', 'denied'],
    ['not an address', 'nonsense', 'not-allowed'],
  ])('%s: %s is %s', (_name, ip, verdict) => {
    expect(rules.check(ip)).toBe(verdict);
  });

  it('names the matching entries (for explain)', () => {
    expect(rules.matching('10.9.1.1', 'deny')).toEqual(['10.9.0.0/16']);
    expect(rules.matching('10.9.1.1', 'allow')).toEqual(['10.0.0.0/8']);
  });

  it('judges the client IP after --trust-proxy: the proxy’s X-Forwarded-For, never a client’s', () => {
    const trusted = clientIpResolver(['127.0.0.1']);
    const direct = clientIpResolver([]);
    const deny = compileIpRules(IpRules.parse({ deny: ['203.0.113.0/24'] }));
    expect(deny.check(trusted('127.0.0.1', '203.0.113.9'))).toBe('denied');
    expect(deny.check(trusted('198.51.100.1', '127.0.0.5'))).toBe('allowed');
    // Without trust, a client cannot pick its address by writing the header.
    expect(deny.check(direct('203.0.113.9', '10.0.0.1'))).toBe('denied');
  });

  it('refuses invalid entries', () => {
    expect(IpRules.safeParse({ allow: ['10.0.0.0/33'] }).success).toBe(false);
    expect(IpRules.safeParse({ deny: ['2001:db8::/129'] }).success).toBe(false);
    expect(IpRules.safeParse({ deny: ['example.com'] }).success).toBe(false);
  });
});

describe('CORS', () => {
  const cors = compileCors(
    CorsConfig.parse({
      origins: ['https://app.example.com', 'https://*.example.org'],
      headers: ['x-api-key', 'Content-Type'],
      exposeHeaders: ['x-node'],
      credentials: true,
      maxAgeSec: 120,
    }),
    ['GET', 'POST'],
  );
  const pre = (origin: string, method: string, headers?: string) =>
    cors.decide('OPTIONS', {
      origin,
      'access-control-request-method': method,
      ...(headers ? { 'access-control-request-headers': headers } : {}),
    });

  it.each([
    [
      'allowed origin, method and headers',
      pre('https://app.example.com', 'POST', 'x-api-key, content-type'),
      'preflight',
    ],
    ['a subdomain wildcard', pre('https://a.b.example.org', 'GET'), 'preflight'],
    ['the bare wildcard domain is not a subdomain', pre('https://example.org', 'GET'), 'preflight-refused'],
    ['another origin', pre('https://evil.example.net', 'GET'), 'preflight-refused'],
    ['http instead of https', pre('http://app.example.com', 'GET'), 'preflight-refused'],
    ['a method the API does not allow', pre('https://app.example.com', 'DELETE'), 'preflight-refused'],
    ['a header not allowed', pre('https://app.example.com', 'GET', 'x-secret'), 'preflight-refused'],
  ])('preflight: %s', (_name, result, verdict) => {
    expect(result.verdict).toBe(verdict);
  });

  it('answers a preflight with the allowed methods, headers, credentials, max age, and echoes the origin', () => {
    const { headers } = pre('https://app.example.com', 'POST', 'x-api-key');
    const h = Object.fromEntries(
      headers.reduce<string[][]>((acc, v, i) => (i % 2 ? (acc.at(-1)!.push(v), acc) : [...acc, [v]]), []),
    );
    expect(h).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      vary: 'Origin',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, POST',
      'access-control-max-age': '120',
      'access-control-allow-headers': 'x-api-key, content-type',
    });
  });

  it('adds headers to actual requests from allowed origins only', () => {
    expect(cors.decide('GET', { origin: 'https://app.example.com' }).verdict).toBe('allowed');
    expect(cors.decide('GET', { origin: 'https://app.example.com' }).headers).toContain(
      'access-control-expose-headers',
    );
    // The answer depends on Origin (a list of origins): every answer says so, for caches.
    expect(cors.decide('GET', { origin: 'https://evil.test' })).toEqual({
      verdict: 'origin-not-allowed',
      headers: ['vary', 'Origin'],
    });
    expect(cors.decide('GET', {})).toEqual({ verdict: 'none', headers: ['vary', 'Origin'] });
  });

  it('uses * without credentials, and refuses * with them', () => {
    const open = compileCors(CorsConfig.parse({ origins: ['*'] }), ['GET']);
    expect(open.decide('GET', { origin: 'https://x.test' }).headers).toEqual(['access-control-allow-origin', '*']);
    expect(open.decide('GET', {}).headers).toEqual([]); // the same answer for every origin: no Vary
    expect(CorsConfig.safeParse({ origins: ['*'], credentials: true }).success).toBe(false);
  });
});
