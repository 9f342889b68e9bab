import { describe, expect, it } from 'vitest';
import { VerifiedCache } from '../../src/access/auth/basic/verified-cache.js';
import { compileAccess } from '../../src/access/compile.js';
import { compileConsumers } from '../../src/access/consumers.js';
import { decideAccess, limitKey, type AccessDecision } from '../../src/access/decision.js';
import { LimitRegistry } from '../../src/access/limits/registry.js';
import { sha256Hex } from '../../src/access/secrets.js';
import { Api } from '../../src/model/api.js';
import { RateLimit } from '../../src/model/access.js';

// The access decision as data: an access config, consumers and requests → what it decided and why.

const consumers = compileConsumers([
  {
    id: 'c1',
    name: 'acme',
    tags: ['beta'],
    credentials: [{ id: 'k1', kind: 'key', hash: sha256Hex('acme-key-0123456789abcdef'), hint: 'cdef', createdAt: '' }],
    createdAt: '',
    updatedAt: '',
  },
  {
    id: 'c2',
    name: 'globex',
    tags: [],
    credentials: [{ id: 'k2', kind: 'key', hash: sha256Hex('globex-key-0123456789abcd'), hint: 'abcd', createdAt: '' }],
    createdAt: '',
    updatedAt: '',
  },
]);

function parsedApi(access: Record<string, unknown>): Api {
  return Api.parse({
    ...{
      id: 'api-1',
      name: 'orders',
      host: null,
      methods: ['GET'],
      path: '/o',
      stripPrefix: false,
      algorithm: 'round_robin',
      retries: 0,
      hashOn: null,
      maxBodyBytes: 1,
      selector: null,
    },
    timeouts: { connectMs: 1, headersMs: 1, bodyMs: 1, upgradeIdleMs: 1_000 },
    retry: { methods: [], timeouts: false, statuses: [], deadlineMs: null },
    health: { active: null, passive: null, panic: 'use-all' },
    httpsRedirect: false,
    access,
    createdAt: '',
    updatedAt: '',
  });
}

function api(access: Record<string, unknown>) {
  return compileAccess(parsedApi(access), new LimitRegistry(null))!;
}

const req = (headers: Record<string, string> = {}, clientIp = '192.0.2.1', method = 'GET') => ({
  method,
  headers,
  rawQuery: '',
  clientIp,
});

async function decide(
  access: ReturnType<typeof api>,
  input: ReturnType<typeof req>,
  mode: 'serve' | 'explain' = 'serve',
): Promise<AccessDecision> {
  return decideAccess(access, input, consumers, mode);
}

describe('access decision', () => {
  it('an API without an access config compiles to nothing', () => {
    expect(
      compileAccess(parsedApi({ auth: null, limits: [], ip: null, cors: null }), new LimitRegistry(null)),
    ).toBeNull();
  });

  const keyed = api({ auth: { methods: [{ kind: 'key' }], tags: ['beta'] }, ip: { deny: ['203.0.113.0/24'] } });
  it.each([
    [
      'denied IP, before anything else',
      req({ 'x-api-key': 'acme-key-0123456789abcdef' }, '203.0.113.5'),
      { ok: false, step: 'ip', code: 'IP_FORBIDDEN' },
    ],
    ['no credential', req(), { ok: false, step: 'auth', code: 'AUTH_REQUIRED' }],
    ['wrong key', req({ 'x-api-key': 'nope-0123456789abcdefghij' }), { ok: false, step: 'auth', code: 'AUTH_FAILED' }],
    [
      'a consumer without the tag',
      req({ 'x-api-key': 'globex-key-0123456789abcd' }),
      { ok: false, step: 'consumer', code: 'CONSUMER_FORBIDDEN' },
    ],
    [
      'a consumer with the tag',
      req({ 'x-api-key': 'acme-key-0123456789abcdef' }),
      { ok: true, step: null, code: null },
    ],
    [
      'a method the API does not accept',
      req({ 'x-api-key': 'acme-key-0123456789abcdef' }, '192.0.2.1', 'POST'),
      { ok: false, step: 'method', code: 'METHOD_NOT_ALLOWED' },
    ],
  ])('%s', async (_name, input, expected) => {
    expect(await decide(keyed, input)).toMatchObject(expected);
  });

  it('names the consumer and the challenge', async () => {
    expect((await decide(keyed, req({ 'x-api-key': 'acme-key-0123456789abcdef' }))).consumer?.view).toEqual({
      name: 'acme',
      tags: ['beta'],
    });
    expect((await decide(keyed, req())).headers).toEqual([
      'www-authenticate',
      'ApiKey realm="orders", header="x-api-key"',
    ]);
  });

  it('explaining looks at the buckets; serving spends them', async () => {
    const limited = api({ limits: [{ by: 'ip', rate: 1, per: 'hour', burst: 1 }] });
    expect((await decide(limited, req(), 'explain')).ok).toBe(true);
    expect((await decide(limited, req(), 'explain')).ok).toBe(true);
    expect((await decide(limited, req())).ok).toBe(true);
    const refused = await decide(limited, req());
    expect(refused).toMatchObject({ ok: false, step: 'limit', code: 'RATE_LIMITED' });
    expect(refused.headers).toContain('retry-after');
  });

  it.each([
    ['api', null, null, ''],
    ['ip', null, null, '192.0.2.1'],
    ['consumer', null, null, 'ip:192.0.2.1'],
    ['consumer', null, 'acme', 'c:acme'],
    ['header', 'x-tenant', null, 't1'],
    ['header', 'x-missing', null, ''],
  ] as const)('limit key by %s', (by, header, consumer, key) => {
    const c = consumer === null ? null : consumers.byName.get(consumer)!;
    const limit = RateLimit.parse({ by, header, rate: 1, per: 'second' });
    expect(limitKey(limit, c, req({ 'x-tenant': 't1' }))).toBe(key);
  });

  it.each([
    ['2001:db8:0:1:aaaa:bbbb:cccc:dddd', 64, '2001:db8:0:1::/64'],
    ['2001:DB8:0:1:0:0:0:7', 64, '2001:db8:0:1::/64'],
    ['2001:db8::1:0:0:0:1', 48, '2001:db8::/48'],
    ['2001:db8::1', 128, '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', 128, '2001:db8::1'],
    ['::ffff:192.0.2.9', 64, '192.0.2.9'],
    ['::FFFF:c000:0209', 64, '192.0.2.9'],
    ['fe80::1%eth0', 64, 'fe80::/64'],
  ] as const)('an IPv6 client %s counts by its /%d network', (clientIp, ipv6Prefix, key) => {
    const limit = RateLimit.parse({ by: 'ip', rate: 1, per: 'second', ipv6Prefix });
    expect(limitKey(limit, null, req({}, clientIp))).toBe(key);
    const anonymous = RateLimit.parse({ by: 'consumer', rate: 1, per: 'second', ipv6Prefix });
    expect(limitKey(anonymous, null, req({}, clientIp))).toBe(`ip:${key}`);
  });

  it('one IPv6 client rotating addresses inside its /64 shares one bucket', async () => {
    const limited = api({ limits: [{ by: 'ip', rate: 2, per: 'hour', burst: 2 }] });
    const from = (suffix: string) => req({}, `2001:db8:1:2::${suffix}`);
    expect((await decide(limited, from('1'))).ok).toBe(true);
    expect((await decide(limited, from('2'))).ok).toBe(true);
    expect(await decide(limited, from('3'))).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
    // Another network has its own bucket.
    expect((await decide(limited, req({}, '2001:db8:1:3::1'))).ok).toBe(true);
  });
});

describe('verified Basic credentials', () => {
  it('are remembered by a digest, bounded in number and age', async () => {
    const cache = new VerifiedCache(2, 50);
    const k = (p: string) => VerifiedCache.keyOf('scrypt$stored', p);
    expect(k('secret')).not.toContain('secret');
    cache.add(k('a'));
    cache.add(k('b'));
    cache.add(k('c'));
    expect([cache.has(k('a')), cache.has(k('b')), cache.has(k('c'))]).toEqual([false, true, true]);
    await new Promise((r) => setTimeout(r, 60));
    expect(cache.has(k('c'))).toBe(false);
    expect(VerifiedCache.keyOf('scrypt$other', 'a')).not.toBe(k('a'));
  });
});
