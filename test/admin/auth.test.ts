import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerToken, tokenMatches } from '../../src/admin/auth.js';
import { AuthThrottle } from '../../src/admin/auth-throttle.js';
import { startAdmin, TOKEN, type AdminHarness } from './harness.js';

describe('admin auth', () => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdmin();
  });
  afterAll(() => h.close());

  const unauthorized = { error: { code: 'UNAUTHORIZED', message: expect.any(String) } };

  it('answers 401 without an Authorization header', async () => {
    const res = await h.call('GET', '/admin/apis', undefined, { token: null });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized);
  });

  it.each([
    ['a wrong token', `Bearer wrong-token-0123456789`],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['the token with extra characters', `Bearer ${TOKEN}x`],
    ['another scheme', `Basic ${TOKEN}`],
    ['no scheme', TOKEN],
  ])('answers 401 for %s', async (_label, header) => {
    const res = await h.call('GET', '/admin/apis', undefined, { token: null, headers: { authorization: header } });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(unauthorized);
  });

  it('answers 401 before looking at the body or the method', async () => {
    const write = await h.call(
      'POST',
      '/admin/apis',
      { name: 'x', path: '/x', algorithm: 'weighted' },
      { token: 'nope' },
    );
    expect(write.status).toBe(401);
    const badBody = await h.call('POST', '/admin/apis', undefined, { token: null, raw: '{not json' });
    expect(badBody.status).toBe(401);
    expect(await h.store.version()).toBe(0);
    expect(h.runtime.appliedCalls).toBe(0);
  });

  it('protects routes reached through a percent-encoded path', async () => {
    const res = await h.call('GET', '/%61dmin/apis', undefined, { token: null });
    expect(res.status).toBe(401);
    expect((await h.call('GET', '/%61dmin/apis')).status).toBe(200);
  });

  it('answers 401 on unknown admin routes too, so they reveal nothing without the token', async () => {
    const res = await h.call('GET', '/admin/secret-route', undefined, { token: null });
    expect(res.status).toBe(401);
  });

  it('lets the right token through, with any case of the scheme', async () => {
    expect((await h.call('GET', '/admin/apis')).status).toBe(200);
    const res = await h.call('GET', '/admin/config/version', undefined, {
      token: null,
      headers: { authorization: `bearer ${TOKEN}` },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ version: 0 });
  });

  it('answers unknown admin routes with 404 NOT_FOUND in the admin error shape', async () => {
    const res = await h.call('GET', '/admin/nope');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
  });
});

describe('tokenMatches and bearerToken', () => {
  it('compares tokens exactly, whatever their lengths', () => {
    expect(tokenMatches('abc', 'abc')).toBe(true);
    expect(tokenMatches('abc', 'abd')).toBe(false);
    expect(tokenMatches('abc', 'abcd')).toBe(false);
    expect(tokenMatches('abc', '')).toBe(false);
  });

  it('extracts the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('BEARER   abc ')).toBe('abc');
    expect(bearerToken('Bearer')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken('Token abc')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
});

describe('guessing admin tokens', () => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdmin();
  });
  afterAll(() => h.close());

  it('is throttled per client after 10 wrong tokens: 429 AUTH_THROTTLED whatever token comes next', async () => {
    // Requests without a token spend nothing.
    for (let i = 0; i < 12; i++)
      expect((await h.call('GET', '/admin/apis', undefined, { token: null })).status).toBe(401);
    expect((await h.call('GET', '/admin/apis')).status).toBe(200);
    for (let i = 0; i < 10; i++) {
      const wrong = await h.call('GET', '/admin/apis', undefined, { token: `wrong-${i}-0123456789` });
      expect(wrong.status).toBe(401);
    }
    const throttled = await h.call('GET', '/admin/apis', undefined, { token: 'wrong-again-0123456789' });
    expect(throttled.status).toBe(429);
    expect(throttled.body.error.code).toBe('AUTH_THROTTLED');
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The right token is not even looked at while throttled: a guess tells nothing.
    const right = await h.call('GET', '/admin/apis');
    expect(right.status).toBe(429);
    // A write is refused the same way, and nothing is written.
    const write = await h.call('POST', '/admin/apis', { name: 'x', path: '/x', algorithm: 'weighted' });
    expect(write.status).toBe(429);
    expect(await h.store.listApis()).toEqual([]);
  });
});

describe('AuthThrottle', () => {
  it('gives one wrong token back per refill period, per client, IPv6 by /64', () => {
    let now = 0;
    const t = new AuthThrottle(3, 1000, 100, () => now);
    for (let i = 0; i < 3; i++) {
      expect(t.waitMs('192.0.2.1')).toBe(0);
      t.failed('192.0.2.1');
    }
    expect(t.waitMs('192.0.2.1')).toBe(1000);
    expect(t.waitMs('192.0.2.2')).toBe(0);
    now = 400;
    expect(t.waitMs('192.0.2.1')).toBe(600);
    now = 1000;
    expect(t.waitMs('192.0.2.1')).toBe(0);
    t.failed('192.0.2.1');
    expect(t.waitMs('192.0.2.1')).toBe(1000);
    // Another address of the same IPv6 /64 shares the allowance; IPv4-mapped is the IPv4 address.
    for (let i = 1; i <= 3; i++) t.failed(`2001:db8:0:1::${i}`);
    expect(t.waitMs('2001:db8:0:1:ffff::9')).toBe(1000);
    expect(t.waitMs('2001:db8:0:2::1')).toBe(0);
    expect(t.waitMs('::ffff:192.0.2.1')).toBe(1000);
  });

  it('tracks a bounded number of clients', () => {
    let now = 0;
    const t = new AuthThrottle(3, 1000, 80, () => now);
    for (let i = 0; i < 1000; i++) {
      now += 1;
      t.failed(`198.51.${i >> 8}.${i & 255}`);
      expect(t.size).toBeLessThanOrEqual(80);
    }
    // The most recent clients are still counted.
    t.failed('198.51.3.231');
    t.failed('198.51.3.231');
    expect(t.waitMs('198.51.3.231')).toBeGreaterThan(0);
  });
});
