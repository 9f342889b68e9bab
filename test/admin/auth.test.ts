import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerToken, tokenMatches } from '../../src/admin/auth.js';
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
