import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi, setSelector } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// Every credential kind through real sockets: a good credential reaches the node (stripped), the
// others get the gateway's 401/403 with WWW-Authenticate; the selector sees the consumer.

let t: TestGateway;
let ups: TestUpstream[];
let jwks: Server;
let jwksUrl: string;
/** Requests the JWKS server has answered. */
let jwksFetches = 0;
const HS_SECRET = 'a-very-long-hs256-secret-of-at-least-32-chars';
let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
let ec: Awaited<ReturnType<typeof generateKeyPair>>;
let otherEc: Awaited<ReturnType<typeof generateKeyPair>>;
let apiKey = '';

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

async function sign(
  key: Parameters<SignJWT['sign']>[0],
  alg: string,
  claims: Record<string, unknown>,
  kid?: string,
): Promise<string> {
  return new SignJWT({ aud: 'orders', iss: 'https://idp.test', ...claims })
    .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
    .setIssuedAt()
    .setExpirationTime(typeof claims.exp === 'number' ? (claims.exp as number) : now() + 300)
    .sign(key);
}

beforeAll(async () => {
  t = await startTestGateway();
  ups = await startUpstreams(['stable', 'canary']);
  rsa = await generateKeyPair('RS256');
  ec = await generateKeyPair('ES256', { extractable: true });
  otherEc = await generateKeyPair('ES256');
  const jwk: JWK = { ...(await exportJWK(ec.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwks = createServer((_req, res) => {
    jwksFetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;

  const acme = await t.admin('POST', '/admin/consumers', {
    name: 'acme',
    tags: ['beta'],
    credentials: [
      { kind: 'key' },
      { kind: 'basic', username: 'acme', password: 'correct horse battery' },
      { kind: 'jwt', subject: 'acme', secret: HS_SECRET },
    ],
  });
  expect(acme.status).toBe(201);
  apiKey = acme.body.credentials[0].secret;
  expect(apiKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const rsaPem = await exportSPKI(rsa.publicKey);
  expect(
    (
      await t.admin('POST', '/admin/consumers', {
        name: 'rsa-user',
        credentials: [{ kind: 'jwt', subject: 'rsa-user', publicKey: rsaPem }],
      })
    ).status,
  ).toBe(201);
  expect(
    (
      await t.admin('POST', '/admin/consumers', {
        name: 'jwks-user',
        tags: ['gold'],
        credentials: [{ kind: 'jwt', subject: 'jwks-user' }],
      })
    ).status,
  ).toBe(201);
  expect(
    (
      await t.admin('POST', '/admin/consumers', {
        name: 'outsider',
        credentials: [{ kind: 'key', key: 'outsider-key-0123456789abcdef' }],
      })
    ).status,
  ).toBe(201);

  const mk = async (name: string, path: string, auth: Record<string, unknown>) => {
    const id = await createApi(t, { name, path, algorithm: 'round_robin', access: { auth } });
    await addNode(t, id, ups[0]!);
    return id;
  };
  await mk('key', '/key/*', { methods: [{ kind: 'key', header: 'x-api-key', query: 'apikey' }] });
  await mk('basic', '/basic/*', { methods: [{ kind: 'basic' }] });
  await mk('hs', '/hs/*', {
    methods: [{ kind: 'jwt', algorithms: ['HS256'], issuer: 'https://idp.test', audience: 'orders' }],
  });
  await mk('rs', '/rs/*', { methods: [{ kind: 'jwt', algorithms: ['RS256'], audience: 'orders' }] });
  await mk('es', '/es/*', { methods: [{ kind: 'jwt', algorithms: ['ES256'], jwksUrl, audience: 'orders' }] });
  // Tokens must carry exp, at most an hour ahead (clock tolerance 0, so the bound is exact).
  await mk('life', '/life/*', {
    methods: [{ kind: 'jwt', algorithms: ['HS256'], maxLifetimeSec: 3600, clockToleranceSec: 0 }],
  });
  await mk('es-life', '/es-life/*', {
    methods: [{ kind: 'jwt', algorithms: ['ES256'], jwksUrl, audience: 'orders', maxLifetimeSec: 3600 }],
  });
  await mk('fwd', '/fwd/*', { methods: [{ kind: 'key' }], forwardCredentials: true });
  await mk('acl', '/acl/*', { methods: [{ kind: 'key' }], tags: ['beta'] });
  await mk('anon', '/anon/*', { methods: [{ kind: 'key' }, { kind: 'anonymous' }] });
  await mk('multi', '/multi/*', {
    methods: [{ kind: 'key' }, { kind: 'basic' }, { kind: 'jwt', algorithms: ['HS256'] }],
  });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  jwks?.close();
});

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

type Case = [
  name: string,
  path: string,
  headers: () => Promise<Record<string, string>> | Record<string, string>,
  expected: number | string,
];

const hs = () => new TextEncoder().encode(HS_SECRET);
/** An HS256 token for acme without `exp` (the `sign` helper always sets one). */
const noExp = () => new SignJWT({ sub: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().sign(hs());

describe('credential kinds', () => {
  const cases: Case[] = [
    [
      'jwt without exp, no maxLifetimeSec: passes (it never expires)',
      '/hs/x',
      async () => ({
        authorization: `Bearer ${await new SignJWT({ sub: 'acme', aud: 'orders', iss: 'https://idp.test' }).setProtectedHeader({ alg: 'HS256' }).sign(hs())}`,
      }),
      'stable',
    ],
    [
      'maxLifetimeSec: exp within it',
      '/life/x',
      async () => ({ authorization: `Bearer ${await sign(hs(), 'HS256', { sub: 'acme', exp: now() + 3500 })}` }),
      'stable',
    ],
    [
      'maxLifetimeSec: exp past it',
      '/life/x',
      async () => ({ authorization: `Bearer ${await sign(hs(), 'HS256', { sub: 'acme', exp: now() + 3700 })}` }),
      'AUTH_FAILED',
    ],
    ['maxLifetimeSec: no exp', '/life/x', async () => ({ authorization: `Bearer ${await noExp()}` }), 'AUTH_FAILED'],
    [
      'maxLifetimeSec with a JWKS: exp within it',
      '/es-life/x',
      async () => ({ authorization: `Bearer ${await sign(ec.privateKey, 'ES256', { sub: 'jwks-user' }, 'k1')}` }),
      'stable',
    ],
    [
      'maxLifetimeSec with a JWKS: a day-long token',
      '/es-life/x',
      async () => ({
        authorization: `Bearer ${await sign(ec.privateKey, 'ES256', { sub: 'jwks-user', exp: now() + 86_400 }, 'k1')}`,
      }),
      'AUTH_FAILED',
    ],
    ['key: good (header)', '/key/x', () => ({ 'x-api-key': apiKey }), 'stable'],
    ['key: missing', '/key/x', () => ({}), 'AUTH_REQUIRED'],
    [
      'key: wrong',
      '/key/x',
      () => ({ 'x-api-key': apiKey.slice(0, -1) + (apiKey.endsWith('A') ? 'B' : 'A') }),
      'AUTH_FAILED',
    ],
    ['basic: good', '/basic/x', () => ({ authorization: basic('acme', 'correct horse battery') }), 'stable'],
    [
      'basic: good again (verified cache)',
      '/basic/x',
      () => ({ authorization: basic('acme', 'correct horse battery') }),
      'stable',
    ],
    ['basic: missing', '/basic/x', () => ({}), 'AUTH_REQUIRED'],
    ['basic: wrong password', '/basic/x', () => ({ authorization: basic('acme', 'wrong horse') }), 'AUTH_FAILED'],
    [
      'basic: unknown user',
      '/basic/x',
      () => ({ authorization: basic('nobody', 'correct horse battery') }),
      'AUTH_FAILED',
    ],
    ['basic: malformed', '/basic/x', () => ({ authorization: 'Basic !!!' }), 'AUTH_FAILED'],
    [
      'hs256: good',
      '/hs/x',
      async () => ({
        authorization: `Bearer ${await sign(new TextEncoder().encode(HS_SECRET), 'HS256', { sub: 'acme' })}`,
      }),
      'stable',
    ],
    ['hs256: missing', '/hs/x', () => ({}), 'AUTH_REQUIRED'],
    [
      'hs256: wrong secret',
      '/hs/x',
      async () => ({
        authorization: `Bearer ${await sign(new TextEncoder().encode(HS_SECRET + 'x'), 'HS256', { sub: 'acme' })}`,
      }),
      'AUTH_FAILED',
    ],
    [
      'hs256: expired',
      '/hs/x',
      async () => ({
        authorization: `Bearer ${await sign(new TextEncoder().encode(HS_SECRET), 'HS256', { sub: 'acme', exp: now() - 120 })}`,
      }),
      'AUTH_FAILED',
    ],
    [
      'hs256: wrong audience',
      '/hs/x',
      async () => ({
        authorization: `Bearer ${await sign(new TextEncoder().encode(HS_SECRET), 'HS256', { sub: 'acme', aud: 'billing' })}`,
      }),
      'AUTH_FAILED',
    ],
    [
      'hs256: wrong issuer',
      '/hs/x',
      async () => ({
        authorization: `Bearer ${await sign(new TextEncoder().encode(HS_SECRET), 'HS256', { sub: 'acme', iss: 'https://evil.test' })}`,
      }),
      'AUTH_FAILED',
    ],
    [
      'hs256: not yet valid',
      '/hs/x',
      async () => ({
        authorization: `Bearer ${await sign(new TextEncoder().encode(HS_SECRET), 'HS256', { sub: 'acme', nbf: now() + 600 })}`,
      }),
      'AUTH_FAILED',
    ],
    [
      'hs256: wrong algorithm (HS384)',
      '/hs/x',
      async () => ({
        authorization: `Bearer ${await sign(new TextEncoder().encode(HS_SECRET), 'HS384', { sub: 'acme' })}`,
      }),
      'AUTH_FAILED',
    ],
    [
      'hs256: alg none',
      '/hs/x',
      () => ({
        authorization: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'acme', aud: 'orders', iss: 'https://idp.test', exp: now() + 300 })}.`,
      }),
      'AUTH_FAILED',
    ],
    [
      'hs256: unknown subject',
      '/hs/x',
      async () => ({
        authorization: `Bearer ${await sign(new TextEncoder().encode(HS_SECRET), 'HS256', { sub: 'nobody' })}`,
      }),
      'AUTH_FAILED',
    ],
    ['hs256: garbage', '/hs/x', () => ({ authorization: 'Bearer not.a.jwt' }), 'AUTH_FAILED'],
    [
      'rs256: good (consumer public key)',
      '/rs/x',
      async () => ({ authorization: `Bearer ${await sign(rsa.privateKey, 'RS256', { sub: 'rsa-user' })}` }),
      'stable',
    ],
    [
      'rs256: HS256 token signed with the public key text (algorithm confusion)',
      '/rs/x',
      async () => ({
        authorization: `Bearer ${await sign(new TextEncoder().encode(await exportSPKI(rsa.publicKey)), 'HS256', { sub: 'rsa-user' })}`,
      }),
      'AUTH_FAILED',
    ],
    [
      'rs256: expired',
      '/rs/x',
      async () => ({
        authorization: `Bearer ${await sign(rsa.privateKey, 'RS256', { sub: 'rsa-user', exp: now() - 120 })}`,
      }),
      'AUTH_FAILED',
    ],
    [
      'es256: good (JWKS)',
      '/es/x',
      async () => ({ authorization: `Bearer ${await sign(ec.privateKey, 'ES256', { sub: 'jwks-user' }, 'k1')}` }),
      'stable',
    ],
    [
      'es256: key not in the JWKS',
      '/es/x',
      async () => ({ authorization: `Bearer ${await sign(otherEc.privateKey, 'ES256', { sub: 'jwks-user' }, 'k1')}` }),
      'AUTH_FAILED',
    ],
    [
      'es256: wrong audience',
      '/es/x',
      async () => ({
        authorization: `Bearer ${await sign(ec.privateKey, 'ES256', { sub: 'jwks-user', aud: 'billing' }, 'k1')}`,
      }),
      'AUTH_FAILED',
    ],
    [
      'es256: wrong algorithm (RS256)',
      '/es/x',
      async () => ({ authorization: `Bearer ${await sign(rsa.privateKey, 'RS256', { sub: 'jwks-user' }, 'k1')}` }),
      'AUTH_FAILED',
    ],
    [
      'es256: alg none',
      '/es/x',
      () => ({
        authorization: `Bearer ${b64({ alg: 'none' })}.${b64({ sub: 'jwks-user', aud: 'orders', exp: now() + 300 })}.`,
      }),
      'AUTH_FAILED',
    ],
    [
      'consumer not allowed (ACL by tag)',
      '/acl/x',
      () => ({ 'x-api-key': 'outsider-key-0123456789abcdef' }),
      'CONSUMER_FORBIDDEN',
    ],
    ['consumer allowed by tag', '/acl/x', () => ({ 'x-api-key': apiKey }), 'stable'],
    ['anonymous: no credential passes', '/anon/x', () => ({}), 'stable'],
    [
      'anonymous: a wrong key still fails',
      '/anon/x',
      () => ({ 'x-api-key': 'wrong-key-0123456789abcdefgh' }),
      'AUTH_FAILED',
    ],
  ];

  it.each(cases)('%s', async (_name, path, headers, expected) => {
    const res = await t.get(path, { headers: await headers() });
    const body = await res.text();
    if (typeof expected === 'string' && expected === expected.toUpperCase()) {
      expect(res.headers.get('x-isogate-error'), body).toBe(expected);
      expect(res.status).toBe(expected === 'CONSUMER_FORBIDDEN' ? 403 : 401);
      if (res.status === 401) expect(res.headers.get('www-authenticate')).toMatch(/realm="/);
    } else {
      expect(res.status, body).toBe(200);
      expect(res.headers.get('x-node')).toBe(expected);
    }
  });
});

describe('what the node and the selector see', () => {
  it('strips the credential before proxying (header and query), unless the API forwards it', async () => {
    const up = ups[0]!;
    expect(
      (await t.get('/key/a', { headers: { 'x-api-key': apiKey, authorization: 'Bearer for-the-node' } })).status,
    ).toBe(200);
    expect(up.last!.headers['x-api-key']).toBeUndefined();
    expect(up.last!.headers['authorization']).toBe('Bearer for-the-node');
    expect((await t.get(`/key/b?apikey=${encodeURIComponent(apiKey)}&keep=1`)).status).toBe(200);
    expect(up.last!.url).toBe('/key/b?keep=1');
    expect(
      (await t.get('/basic/c', { headers: { authorization: basic('acme', 'correct horse battery') } })).status,
    ).toBe(200);
    expect(up.last!.headers['authorization']).toBeUndefined();
    expect((await t.get('/fwd/d', { headers: { 'x-api-key': apiKey } })).status).toBe(200);
    expect(up.last!.headers['x-api-key']).toBe(apiKey);
  });

  it('lists every method in WWW-Authenticate, in the configured order', async () => {
    const res = await t.get('/key/x');
    expect(res.headers.get('www-authenticate')).toBe('ApiKey realm="key", header="x-api-key", query="apikey"');
    const multi = await t.get('/multi/x');
    expect(multi.status).toBe(401);
    expect(multi.headers.get('www-authenticate')).toMatch(
      /^ApiKey realm="multi"[^,]*(, [a-z]+="[^"]*")*, Basic realm="multi", charset="UTF-8", Bearer realm="multi"$/,
    );
  });

  it('fetches a JWKS once and checks later tokens against its cached keys', async () => {
    const before = jwksFetches;
    for (let i = 0; i < 5; i++) {
      const token = await sign(ec.privateKey, 'ES256', { sub: 'jwks-user', jti: `t${i}` }, 'k1');
      expect((await t.get('/es/x', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    }
    expect(jwksFetches - before).toBeLessThanOrEqual(1);
  });

  it('passes the consumer to the selector as request.consumer (canary by tag)', async () => {
    const id = await createApi(t, {
      name: 'canary',
      path: '/canary/*',
      algorithm: 'round_robin',
      access: { auth: { methods: [{ kind: 'key' }, { kind: 'anonymous' }] } },
    });
    await addNode(t, id, ups[0]!);
    await addNode(t, id, ups[1]!, { tags: ['canary'] });
    await setSelector(t, id, {
      code: `function select(request, env, nodes) {
        const beta = request.consumer !== null && request.consumer.tags.indexOf('beta') >= 0;
        return nodes.filter((n) => (n.tags.indexOf('canary') >= 0) === beta);
      }`,
    });
    expect(await t.nodeOf('/canary/x', { headers: { 'x-api-key': apiKey } })).toBe('canary');
    expect(await t.nodeOf('/canary/x', { headers: { 'x-api-key': 'outsider-key-0123456789abcdef' } })).toBe('stable');
    expect(await t.nodeOf('/canary/x')).toBe('stable');
  });

  it('costs an API without access config nothing it did not cost before', async () => {
    const id = await createApi(t, { name: 'open', path: '/open/*', algorithm: 'round_robin' });
    await addNode(t, id, ups[0]!);
    const res = await t.get('/open/x', { headers: { 'x-api-key': 'anything' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBeNull();
    expect(ups[0]!.last!.headers['x-api-key']).toBe('anything');
  });
});
