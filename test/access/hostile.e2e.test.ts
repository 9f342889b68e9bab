import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalLimiter } from '../../src/access/limits/local.js';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// The access stage against a hostile client and a bad night in production: forged and oversized
// tokens, a JWKS endpoint that fails, hangs, redirects or floods, malformed Basic credentials,
// credentials in two places, spoofed X-Forwarded-For, limit keys chosen by the client, and Redis
// that is slow or goes away under load (through a TCP proxy this file starts; the real Redis stays up).
// A comment starting `Fixed:` tells the bug a test was written against (each is fixed; the test guards it).

const REDIS = { host: '127.0.0.1', port: Number(process.env.ISOGATE_TEST_REDIS_PORT ?? 6379) };
const HS_SECRET = 'hostile-hs256-secret-of-at-least-32-characters';
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let t: TestGateway;
let ups: TestUpstream[];
let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
let ec: Awaited<ReturnType<typeof generateKeyPair>>;
let apiKey = '';

/** A JWKS endpoint whose behaviour a test switches, counting requests and bytes written. */
interface HostileJwks {
  url: string;
  fetches: number;
  bytesSent: number;
  mode: 'good' | 'error' | 'garbage' | 'hang' | 'redirect' | 'huge';
  server: Server;
}
const jwksServers: HostileJwks[] = [];
let goodJwk: JWK;

async function startJwks(mode: HostileJwks['mode']): Promise<HostileJwks> {
  const j: HostileJwks = { url: '', fetches: 0, bytesSent: 0, mode, server: null as unknown as Server };
  j.server = createServer((req, res) => {
    if (req.url === '/elsewhere') {
      // The redirect target: serves the good key set (a gateway that follows redirects would accept it).
      j.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [goodJwk] }));
      return;
    }
    j.fetches++;
    switch (j.mode) {
      case 'good':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [goodJwk] }));
        return;
      case 'error':
        res.writeHead(500);
        res.end('down');
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"keys": [ {"kty": "EC", "crv": ');
        return;
      case 'hang':
        return; // never answers
      case 'redirect':
        res.writeHead(302, { location: '/elsewhere' });
        res.end();
        return;
      case 'huge': {
        // A valid JSON document made huge by whitespace, streamed as fast as the client reads it.
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1 << 20, 0x20);
        const total = 256;
        let sent = 0;
        res.write('{"keys": [' + JSON.stringify(goodJwk) + ']');
        const pump = (): void => {
          while (sent < total) {
            sent++;
            j.bytesSent += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end('}');
        };
        res.on('close', () => (sent = total + 1));
        pump();
        return;
      }
    }
  });
  await new Promise<void>((r) => j.server.listen(0, '127.0.0.1', r));
  j.url = `http://127.0.0.1:${(j.server.address() as AddressInfo).port}/jwks.json`;
  jwksServers.push(j);
  return j;
}

async function sign(
  key: Parameters<SignJWT['sign']>[0],
  alg: string,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const jwt = new SignJWT({ aud: 'orders', ...claims }).setProtectedHeader({ alg, ...header }).setIssuedAt();
  if (claims.exp === undefined) jwt.setExpirationTime(now() + 300);
  return jwt.sign(key);
}
const hs = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  sign(new TextEncoder().encode(HS_SECRET), 'HS256', { sub: 'acme', ...claims }, header);

/** One raw HTTP/1.1 request with headers exactly as given (repeats allowed); resolves with status and head. */
function rawRequest(
  port: number,
  path: string,
  headers: [string, string][],
): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer in 5 s'));
    }, 5_000);
    socket.on('connect', () => {
      const lines = [
        `GET ${path} HTTP/1.1`,
        'Host: 127.0.0.1',
        'Connection: close',
        ...headers.map(([n, v]) => `${n}: ${v}`),
      ];
      socket.write(lines.join('\r\n') + '\r\n\r\n');
    });
    socket.on('data', (c) => (data += c.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      const head = data.split('\r\n\r\n')[0] ?? '';
      resolve({ status: Number(head.split(' ')[1]), head });
    });
  });
}

async function code(path: string, init?: RequestInit): Promise<string> {
  const res = await t.get(path, init);
  await res.arrayBuffer();
  return res.headers.get('x-isogate-error') ?? String(res.status);
}

let jwksDown: HostileJwks;
let jwksGarbage: HostileJwks;
let jwksHang: HostileJwks;
let jwksRedirect: HostileJwks;
let jwksHuge: HostileJwks;
let jwksGood: HostileJwks;

beforeAll(async () => {
  t = await startTestGateway();
  ups = await startUpstreams(['u', 'v']);
  rsa = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256', { extractable: true });
  goodJwk = { ...(await exportJWK(ec.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  [jwksGood, jwksDown, jwksGarbage, jwksHang, jwksRedirect, jwksHuge] = await Promise.all([
    startJwks('good'),
    startJwks('error'),
    startJwks('garbage'),
    startJwks('hang'),
    startJwks('redirect'),
    startJwks('huge'),
  ]);
  const acme = await t.admin('POST', '/admin/consumers', {
    name: 'acme',
    credentials: [
      { kind: 'key' },
      { kind: 'basic', username: 'acme', password: 'correct horse battery' },
      { kind: 'jwt', subject: 'acme', secret: HS_SECRET },
    ],
  });
  expect(acme.status).toBe(201);
  apiKey = acme.body.credentials[0].secret;
  expect(
    (
      await t.admin('POST', '/admin/consumers', {
        name: 'rsa-user',
        credentials: [{ kind: 'jwt', subject: 'rsa-user', publicKey: await exportSPKI(rsa.publicKey) }],
      })
    ).status,
  ).toBe(201);
  expect(
    (
      await t.admin('POST', '/admin/consumers', {
        name: 'jwks-user',
        credentials: [{ kind: 'jwt', subject: 'jwks-user' }],
      })
    ).status,
  ).toBe(201);
  const mk = async (name: string, access: Record<string, unknown>) => {
    const id = await createApi(t, { name, path: `/${name}/*`, algorithm: 'round_robin', access });
    await addNode(t, id, ups[0]!);
    return id;
  };
  await mk('hs', { auth: { methods: [{ kind: 'jwt', algorithms: ['HS256'], audience: 'orders' }] } });
  await mk('mixed', { auth: { methods: [{ kind: 'jwt', algorithms: ['RS256', 'HS256'], audience: 'orders' }] } });
  await mk('basic', { auth: { methods: [{ kind: 'basic' }] } });
  await mk('basicfwd', { auth: { methods: [{ kind: 'basic' }], forwardCredentials: true } });
  await mk('key', { auth: { methods: [{ kind: 'key', header: 'x-api-key', query: 'apikey' }] } });
  const jwksApi = (name: string, url: string) =>
    mk(name, { auth: { methods: [{ kind: 'jwt', algorithms: ['ES256'], jwksUrl: url, audience: 'orders' }] } });
  await jwksApi('jgood', jwksGood.url);
  await jwksApi('jdown', jwksDown.url);
  await jwksApi('jgarbage', jwksGarbage.url);
  await jwksApi('jhang', jwksHang.url);
  await jwksApi('jredirect', jwksRedirect.url);
  await jwksApi('jhuge', jwksHuge.url);
  await mk('ips', { ip: { allow: ['10.0.0.0/8'] } });
  await mk('cors', {
    cors: { origins: ['https://app.example.com'] },
  });
  await mk('tenant', { limits: [{ by: 'header', header: 'x-tenant', rate: 1, per: 'hour', burst: 2 }] });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  for (const j of jwksServers) {
    j.server.closeAllConnections();
    j.server.close();
  }
});

describe('hostile JWTs', () => {
  it('refuses alg none in any spelling, and an empty signature', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const token = `${b64({ alg, typ: 'JWT' })}.${b64({ sub: 'acme', aud: 'orders', exp: now() + 300 })}.`;
      expect(await code('/hs/x', { headers: { authorization: `Bearer ${token}` } })).toBe('AUTH_FAILED');
    }
    const good = await hs({});
    const unsigned = good.slice(0, good.lastIndexOf('.') + 1);
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${unsigned}` } })).toBe('AUTH_FAILED');
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${good}` } })).toBe('200');
  });

  it('refuses HS256 signed with the consumer’s RSA public key even where both RS256 and HS256 are allowed', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    for (const secret of [new TextEncoder().encode(pem), new Uint8Array(der)]) {
      const token = await sign(secret, 'HS256', { sub: 'rsa-user' });
      expect(await code('/mixed/x', { headers: { authorization: `Bearer ${token}` } })).toBe('AUTH_FAILED');
    }
    const real = await sign(rsa.privateKey, 'RS256', { sub: 'rsa-user' });
    expect(await code('/mixed/x', { headers: { authorization: `Bearer ${real}` } })).toBe('200');
  });

  it('refuses an unknown crit extension, and a header that is not JSON', async () => {
    // Signed by hand: jose itself refuses to sign with an extension it does not know.
    const signingInput = `${b64({ alg: 'HS256', crit: ['x-evil'], 'x-evil': true })}.${b64({ sub: 'acme', aud: 'orders', exp: now() + 300 })}`;
    const crit = `${signingInput}.${createHmac('sha256', HS_SECRET).update(signingInput).digest('base64url')}`;
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${crit}` } })).toBe('AUTH_FAILED');
    const bad = `${Buffer.from('{"alg":"HS256"').toString('base64url')}.${b64({ sub: 'acme' })}.AAAA`;
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${bad}` } })).toBe('AUTH_FAILED');
  });

  it('answers a huge token or a deeply nested claim with 401, quickly, and keeps serving', async () => {
    const started = performance.now();
    const huge = 'a'.repeat(5_000);
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${huge}.${huge}.sig` } })).toBe('AUTH_FAILED');
    let nested: unknown = 'x';
    for (let i = 0; i < 1_500; i++) nested = [nested];
    const deep = await hs({ deep: nested });
    expect(deep.length).toBeLessThan(8192);
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${deep}` } })).toBe('200');
    // Nested JSON in the header: the unverified decode must not blow the stack either.
    let hdr = '1';
    for (let i = 0; i < 2_500; i++) hdr = `[${hdr}]`;
    const nestedHeader = `${Buffer.from(`{"alg":"HS256","x":${hdr}}`).toString('base64url')}.${b64({ sub: 'acme' })}.AAAA`;
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${nestedHeader}` } })).toBe('AUTH_FAILED');
    // A head over 16 KiB is the transport's to refuse, not a crash.
    expect(['HEADERS_TOO_LARGE', '431']).toContain(
      await code('/hs/x', { headers: { authorization: `Bearer ${'a'.repeat(20_000)}` } }),
    );
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${await hs({})}` } })).toBe('200');
  });

  it('applies exp and nbf with the 30 s tolerance, and refuses claims of the wrong type', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ exp: now() - 10 }, '200'],
      [{ exp: now() - 90 }, 'AUTH_FAILED'],
      [{ nbf: now() + 10 }, '200'],
      [{ nbf: now() + 90 }, 'AUTH_FAILED'],
      [{ exp: String(now() + 300) }, 'AUTH_FAILED'],
      [{ nbf: 'soon' }, 'AUTH_FAILED'],
      [{ sub: 12345 }, 'AUTH_FAILED'],
      [{ sub: ['acme'] }, 'AUTH_FAILED'],
      [{ aud: ['billing', 'orders'] }, '200'],
      [{ aud: 'orders-evil' }, 'AUTH_FAILED'],
    ];
    for (const [claims, expected] of cases) {
      const token = await hs(claims);
      expect(await code('/hs/x', { headers: { authorization: `Bearer ${token}` } }), JSON.stringify(claims)).toBe(
        expected,
      );
    }
  });

  it('refuses two Bearer tokens in two Authorization headers', async () => {
    const good = await hs({});
    const r = await rawRequest(t.app.gateway!.port, '/hs/x', [
      ['Authorization', `Bearer ${good}`],
      ['Authorization', `Bearer ${good}`],
    ]);
    expect(r.status).toBe(401);
  });

  it('treats a kid with path or SQL-ish content as an unknown key, without refetching the JWKS per request', async () => {
    const ok = await sign(ec.privateKey, 'ES256', { sub: 'jwks-user' }, { kid: 'k1' });
    expect(await code('/jgood/x', { headers: { authorization: `Bearer ${ok}` } })).toBe('200');
    const before = jwksGood.fetches;
    for (const kid of ['../../../../etc/passwd', "k1' OR '1'='1", 'k1\u0000', '%2e%2e%2f', 'x'.repeat(2000)]) {
      for (let i = 0; i < 4; i++) {
        const token = await sign(ec.privateKey, 'ES256', { sub: 'jwks-user', jti: `${i}` }, { kid });
        expect(await code('/jgood/x', { headers: { authorization: `Bearer ${token}` } })).toBe('AUTH_FAILED');
      }
    }
    // Within the 30 s cooldown after the fetch: no unknown kid makes the gateway fetch again.
    expect(jwksGood.fetches - before).toBe(0);
  });
});

describe('a hostile or broken JWKS endpoint', () => {
  const token = () =>
    sign(ec.privateKey, 'ES256', { sub: 'jwks-user', jti: randomBytes(4).toString('hex') }, { kid: 'k1' });

  // Fixed: with a jwksUrl any consumer whose JWT credential has the token's subject is accepted,
  // including one whose credential carries its own HS secret or public key (JwtCredential.key is
  // documented as "null when tokens for this subject are verified by the API's JWKS"). So an identity
  // provider trusted by one API can name consumers that prove themselves with their own keys
  // elsewhere: an IdP user called "acme" becomes isogate's consumer acme. src/access/auth/jwt/index.ts
  // (the jwks branch) should require credential.key === null.
  it('does not let a JWKS token name a consumer whose JWT credential has its own key', async () => {
    const asAcme = await sign(ec.privateKey, 'ES256', { sub: 'acme' }, { kid: 'k1' });
    expect(await code('/jgood/x', { headers: { authorization: `Bearer ${asAcme}` } })).toBe('AUTH_FAILED');
    const own = await sign(ec.privateKey, 'ES256', { sub: 'jwks-user' }, { kid: 'k1' });
    expect(await code('/jgood/x', { headers: { authorization: `Bearer ${own}` } })).toBe('200');
  });

  it('answers 401 while the JWKS returns garbage', async () => {
    expect(await code('/jgarbage/x', { headers: { authorization: `Bearer ${await token()}` } })).toBe('AUTH_FAILED');
  });

  // Fixed: after a failed JWKS fetch nothing is remembered (jose sets no timestamp on failure, and
  // src/access/auth/jwt/jwks.ts adds no negative cache), so every request carrying any well-formed
  // token makes the gateway fetch the JWKS again: a client can turn each of its requests into a
  // request to the identity provider exactly when it is struggling. The cooldown (30 s) should
  // apply to failed fetches too.
  it('does not fetch a failing JWKS once per request (failures are cooled down too)', async () => {
    const before = jwksDown.fetches;
    for (let i = 0; i < 20; i++)
      expect(await code('/jdown/x', { headers: { authorization: `Bearer ${await token()}` } })).toBe('AUTH_FAILED');
    expect(jwksDown.fetches - before).toBeLessThanOrEqual(2);
  });

  it('answers every request waiting on a JWKS that never answers within the 3 s timeout, with one fetch', async () => {
    const before = jwksHang.fetches;
    const started = performance.now();
    const codes = await Promise.all(
      Array.from({ length: 10 }, async () =>
        code('/jhang/x', { headers: { authorization: `Bearer ${await token()}` } }),
      ),
    );
    expect(codes.every((c) => c === 'AUTH_FAILED')).toBe(true);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(jwksHang.fetches - before).toBe(1);
  });

  it('does not follow a JWKS redirect', async () => {
    expect(await code('/jredirect/x', { headers: { authorization: `Bearer ${await token()}` } })).toBe('AUTH_FAILED');
    // Only the redirecting URL was asked, never /elsewhere (which would have served a good key set).
    expect(jwksRedirect.fetches).toBeGreaterThanOrEqual(1);
    const viaRedirect = await fetch(jwksRedirect.url, { redirect: 'manual' });
    expect(viaRedirect.status).toBe(302);
  });

  // Fixed: the JWKS fetch is bounded in time (3 s) but not in size: jose's fetchJwks reads the whole
  // body with response.json(), so an endpoint (or anything answering for it) that streams a huge
  // document gets it buffered into the gateway's heap (hundreds of MB within the timeout over a fast
  // link). src/access/auth/jwt/jwks.ts should pass a customFetch that stops reading past a cap
  // (a key set is a few KB; 1 MB is plenty) and fails the fetch.
  it('stops reading a JWKS document that is far larger than any key set', async () => {
    await code('/jhuge/x', { headers: { authorization: `Bearer ${await token()}` } });
    await sleep(200);
    expect(jwksHuge.bytesSent).toBeLessThanOrEqual(16 << 20);
  }, 20_000);
});

describe('hostile Basic credentials', () => {
  it('answers 401 AUTH_FAILED to colon-less, empty, non-base64 and huge credentials', async () => {
    const cases = [
      'Basic ',
      'Basic ' + Buffer.from('acme').toString('base64'),
      'Basic ' + Buffer.from(':correct horse battery').toString('base64'),
      'Basic !!!!',
      'Basic ' + Buffer.from('acme:' + 'p'.repeat(10_000)).toString('base64'),
      'Basic ' + Buffer.from('\u0000\u0001:\uffff').toString('base64'),
    ];
    for (const value of cases)
      expect(await code('/basic/x', { headers: { authorization: value } }), value.slice(0, 40)).toMatch(
        /^AUTH_(FAILED|REQUIRED)$/,
      );
    expect(await code('/basic/x', { headers: { authorization: basic('acme', 'correct horse battery') } })).toBe('200');
  });

  // Fixed: the Basic decoder is Buffer.from(…, 'base64'), which skips characters outside the alphabet
  // and stops at the first '=': "Basic <good>, Basic <other>" (two Authorization headers, joined
  // by the parser) or "<good>==garbage" authenticate as the good credential. With forwardCredentials
  // the node then gets both Authorization lines and may read the other one. RFC 7617 credentials are
  // one token68: src/access/auth/basic/index.ts should refuse anything but strict base64
  // (/^[A-Za-z0-9+/]+={0,2}$/, length % 4 === 0) and a repeated Authorization header.
  it('refuses a Basic credential with trailing garbage or a second Authorization header', async () => {
    const good = Buffer.from('acme:correct horse battery').toString('base64');
    expect(good.endsWith('=')).toBe(true);
    expect(await code('/basic/x', { headers: { authorization: `Basic ${good}Zm9vOmJhcg` } })).toBe('AUTH_FAILED');
    expect(await code('/basic/x', { headers: { authorization: `Basic !!${good}` } })).toBe('AUTH_FAILED');
    const hits = ups[0]!.hits;
    const r = await rawRequest(t.app.gateway!.port, '/basicfwd/x', [
      ['Authorization', `Basic ${good}`],
      ['Authorization', basic('admin', 'whatever')],
    ]);
    expect(r.status).toBe(401);
    expect(ups[0]!.hits).toBe(hits);
  });
});

describe('API keys in two places', () => {
  it('the header decides over the query; both are stripped before the node', async () => {
    const up = ups[0]!;
    expect(await code(`/key/x?apikey=${apiKey}`, { headers: { 'x-api-key': 'wrong-key-0123456789abcdefgh' } })).toBe(
      'AUTH_FAILED',
    );
    expect(await code('/key/y?apikey=wrong&apikey=also-wrong&keep=1', { headers: { 'x-api-key': apiKey } })).toBe(
      '200',
    );
    expect(up.last!.url).toBe('/key/y?keep=1');
    expect(up.last!.headers['x-api-key']).toBeUndefined();
    // Two x-api-key lines are one joined value: no key, not "the first good one".
    const r = await rawRequest(t.app.gateway!.port, '/key/z', [
      ['X-Api-Key', apiKey],
      ['x-api-key', 'wrong-key-0123456789abcdefgh'],
    ]);
    expect(r.status).toBe(401);
    // An empty header falls through to the query.
    expect(await code(`/key/w?apikey=${encodeURIComponent(apiKey)}`, { headers: { 'x-api-key': '' } })).toBe('200');
    expect(up.last!.url).toBe('/key/w');
  });
});

describe('X-Forwarded-For without --trust-proxy', () => {
  it('ignores a client-written X-Forwarded-For against an allow list', async () => {
    expect(await code('/ips/x', { headers: { 'x-forwarded-for': '10.1.2.3' } })).toBe('IP_FORBIDDEN');
    const r = await rawRequest(t.app.gateway!.port, '/ips/x', [
      ['X-Forwarded-For', '10.1.2.3'],
      ['X-Real-IP', '10.1.2.3'],
      ['Forwarded', 'for=10.1.2.3'],
    ]);
    expect(r.status).toBe(403);
  });
});

describe('CORS and caches', () => {
  // Fixed: Access-Control-Allow-Origin varies by Origin for an API with a list of origins, but
  // `Vary: Origin` is only sent when the origin is allowed (src/access/cors.ts, originHeaders). An
  // answer to a request without Origin (or from another origin) carries neither, so a shared cache
  // stores it and serves it to the allowed origin's browser, which then withholds it (Fetch
  // standard, "CORS protocol and HTTP caches": use Vary: Origin in all responses then).
  it('sends Vary: Origin also on answers without CORS headers', async () => {
    const plain = await t.get('/cors/x');
    expect(plain.status).toBe(200);
    expect(plain.headers.get('vary') ?? '').toMatch(/origin/i);
    const foreign = await t.get('/cors/x', { headers: { origin: 'https://evil.test' } });
    expect(foreign.headers.get('vary') ?? '').toMatch(/origin/i);
  });
});

describe('limit keys the client chooses', () => {
  // Fixed: a `by: "header"` limit keys its bucket with the header's raw value
  // (src/access/decision.ts, limitKey), so each distinct value of up to ~16 KB is kept verbatim as a
  // Map key (100,000 of them: ~1.6 GB per local limit; the key is even a slice of the whole request
  // head) and as a Redis key for cluster limits. The count is bounded, the bytes are not: long
  // values should be hashed (e.g. SHA-256 past 64 characters) before they become a key.
  it('does not keep a client-chosen header value of kilobytes as a bucket key', async () => {
    for (let i = 0; i < 20; i++) {
      const value = `${i}-${'t'.repeat(12_000)}`;
      expect(await code('/tenant/x', { headers: { 'x-tenant': value } })).toBe('200');
    }
    const registry = t.app.plane!.limits as unknown as { limiters: Map<string, unknown> };
    const keys: string[] = [];
    for (const limiter of registry.limiters.values()) {
      const buckets = (limiter as { buckets?: Map<string, unknown> }).buckets;
      if (buckets) keys.push(...buckets.keys());
    }
    expect(keys.length).toBeGreaterThanOrEqual(20);
    expect(Math.max(...keys.map((k) => k.length))).toBeLessThanOrEqual(256);
  });

  // A local limit full of spent buckets (any key that spent a token of a slow limit) used to scan all
  // 100,000 of them for every new key and free one: ~2 ms of event loop per request, so a client
  // rotating a header value capped a process at a few hundred requests a second. An eviction now frees
  // an eighth of the keys (oldest first), so the next 12,500 new keys pay no scan.
  it('frees an eighth of a full local limiter at once, oldest keys first, so new keys pay no scan each', () => {
    const limiter = new LocalLimiter(2, 1 / 3_600_000);
    for (let i = 0; i < 100_000; i++) limiter.take(`old-${i}`);
    expect(limiter.size).toBe(100_000);
    limiter.take('new-0');
    expect(limiter.size).toBe(87_501);
    // The oldest went: old-0 comes back as a full bucket (2 tokens), the newest old key is still spent.
    expect(limiter.peek('old-0').remaining).toBe(1);
    expect(limiter.peek('old-99999').remaining).toBe(0);
    for (let i = 1; i < 12_499; i++) limiter.take(`new-${i}`);
    expect(limiter.size).toBe(99_999);
  });

  // Fixed: LimitRegistry.retain drops the limiters of deleted APIs only; a limit whose settings change
  // gets a new limiter (its id includes rate, burst, …) and the old one, with all its buckets, stays
  // referenced for the life of the process (src/access/limits/registry.ts). retain should keep only
  // the limiter ids the serving config version uses.
  it('forgets the buckets of a limit whose settings changed', async () => {
    const id = await createApi(t, {
      name: 'churn',
      path: '/churn/*',
      algorithm: 'round_robin',
      access: { limits: [{ by: 'ip', rate: 1, per: 'minute' }] },
    });
    await addNode(t, id, ups[0]!);
    const registry = t.app.plane!.limits as unknown as { limiters: Map<string, unknown> };
    for (let rate = 2; rate <= 11; rate++) {
      const res = await t.admin('PATCH', `/admin/apis/${id}`, {
        access: { limits: [{ by: 'ip', rate, per: 'minute' }] },
      });
      expect(res.status).toBe(200);
      // Wait (bounded) until the new limit serves.
      for (let i = 0; i < 100; i++) {
        const r = await t.get('/churn/x');
        await r.arrayBuffer();
        if (r.headers.get('ratelimit-limit') === String(rate)) break;
        await sleep(20);
      }
    }
    const ofApi = [...registry.limiters.keys()].filter((k) => k.startsWith(`${id}:`));
    expect(ofApi.length).toBeLessThanOrEqual(2);
  });
});

describe('X-Forwarded-For behind a trusted proxy', () => {
  let g: TestGateway;
  beforeAll(async () => {
    g = await startTestGateway(['--trust-proxy', '127.0.0.1']);
    const id = await createApi(g, {
      name: 'ips',
      path: '/ips/*',
      algorithm: 'round_robin',
      access: { ip: { allow: ['10.0.0.0/8'], deny: ['10.6.6.0/24'] } },
    });
    await addNode(g, id, ups[1]!);
  });
  afterAll(async () => {
    await g?.stop();
  });

  it('judges the nearest untrusted hop, so a client-written hop in front cannot pick the address', async () => {
    const c = async (xff: [string, string][]) => (await rawRequest(g.app.gateway!.port, '/ips/x', xff)).status;
    expect(await c([['X-Forwarded-For', '10.1.2.3']])).toBe(200);
    // The client wrote 10.1.2.3; the trusted proxy appended the real address.
    expect(await c([['X-Forwarded-For', '10.1.2.3, 192.0.2.7']])).toBe(403);
    // The same with the proxy adding a second header line instead of appending.
    expect(
      await c([
        ['X-Forwarded-For', '10.1.2.3'],
        ['X-Forwarded-For', '192.0.2.7'],
      ]),
    ).toBe(403);
    // A denied client cannot hide behind a made-up hop or garbage.
    expect(await c([['X-Forwarded-For', '10.1.2.3, 10.6.6.6']])).toBe(403);
    expect(await c([['X-Forwarded-For', '10.6.6.6, garbage']])).toBe(403);
    expect(await c([['X-Forwarded-For', '::ffff:10.6.6.6']])).toBe(403);
    expect(await c([['X-Forwarded-For', '[10.1.2.3]:80']])).toBe(403);
  });
});

/** A TCP proxy to the real Redis that a test can slow down, black-hole or cut; the real Redis is never touched. */
interface SlowProxy {
  port: number;
  delayMs: number;
  blackhole: boolean;
  cut(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

async function startSlowProxy(): Promise<SlowProxy> {
  const sockets = new Set<net.Socket>();
  const p: SlowProxy = {
    port: 0,
    delayMs: 0,
    blackhole: false,
    cut: async () => undefined,
    resume: async () => undefined,
    close: async () => undefined,
  };
  const forward = (from: net.Socket, to: net.Socket) =>
    from.on('data', (chunk: Buffer) => {
      if (p.blackhole) return;
      if (p.delayMs === 0) to.write(chunk);
      else setTimeout(() => to.destroyed || to.write(chunk), p.delayMs);
    });
  const server = net.createServer((down) => {
    const up = net.connect(REDIS.port, REDIS.host);
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    forward(down, up);
    forward(up, down);
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  });
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p.port, '127.0.0.1', () => {
        server.off('error', reject);
        p.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();
  p.cut = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  p.resume = listen;
  p.close = p.cut;
  return p;
}

describe('cluster limits on a bad Redis night', () => {
  const prefix = `isogate-hostile-${randomBytes(6).toString('hex')}:`;
  let g: TestGateway;
  let proxy: SlowProxy;
  let redis: Redis;

  const status = async () => (await (await fetch(`${g.statusUrl}/status`)).json()) as any;
  const waitFor = async (ok: (s: any) => boolean, what: string) => {
    for (let i = 0; i < 200; i++) {
      if (ok(await status())) return;
      await sleep(50);
    }
    throw new Error(`not reached: ${what}`);
  };
  /** Sends `n` requests, `concurrency` at a time; returns the codes and the slowest answer in ms. */
  const load = async (path: string, n: number, concurrency: number, init?: RequestInit) => {
    const codes: string[] = [];
    let slowest = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          next++;
          const started = performance.now();
          const res = await g.get(path, init);
          await res.arrayBuffer();
          slowest = Math.max(slowest, performance.now() - started);
          codes.push(res.headers.get('x-isogate-error') ?? String(res.status));
        }
      }),
    );
    return { codes, slowest };
  };

  beforeAll(async () => {
    proxy = await startSlowProxy();
    redis = new Redis({ ...REDIS, keyPrefix: prefix, maxRetriesPerRequest: 1 });
    g = await startTestGateway([
      '--redis',
      `redis://127.0.0.1:${proxy.port}`,
      '--redis-prefix',
      prefix,
      '--redis-timeout-ms',
      '200',
    ]);
    const mk = async (name: string, limits: Record<string, unknown>[]) => {
      const id = await createApi(g, { name, path: `/${name}/*`, algorithm: 'round_robin', access: { limits } });
      await addNode(g, id, ups[1]!);
    };
    await mk('open', [{ by: 'api', rate: 100_000, per: 'second', policy: 'cluster' }]);
    await mk('closed', [{ by: 'api', rate: 100_000, per: 'second', policy: 'cluster', onRedisDown: 'closed' }]);
    await mk('tight', [{ by: 'api', rate: 1, per: 'hour', burst: 5, policy: 'cluster' }]);
    await mk('tenant', [{ by: 'header', header: 'x-tenant', rate: 1, per: 'hour', policy: 'cluster' }]);
    await waitFor((s) => s.redis?.connected === true, 'Redis connected');
  }, 60_000);

  afterAll(async () => {
    await g?.stop();
    if (redis) {
      const keys = await redis.keys('*');
      if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(prefix.length)));
      redis.disconnect();
    }
    await proxy?.close();
  });

  it('counts a tight cluster limit exactly while Redis is healthy', async () => {
    const { codes } = await load('/tight/x', 12, 4);
    expect(codes.filter((c) => c === '200').length).toBe(5);
    expect(codes.filter((c) => c !== '200').every((c) => c === 'RATE_LIMITED')).toBe(true);
  });

  it('slow Redis (replies later than the command timeout) under load: no request fails or waits long', async () => {
    proxy.delayMs = 400;
    try {
      const { codes, slowest } = await load('/open/x', 300, 20);
      expect(codes.filter((c) => c !== '200')).toEqual([]);
      expect(slowest).toBeLessThan(1_500);
      await waitFor((s) => s.redis?.connected === false && s.degraded === true, 'Redis marked down');
    } finally {
      proxy.delayMs = 0;
    }
    await waitFor((s) => s.redis?.connected === true, 'Redis back after the delay ends');
  }, 30_000);

  it('Redis black-holed, then cut, mid-load: open limits keep serving, closed limits answer 503 RATE_LIMIT_UNAVAILABLE', async () => {
    const run = load('/open/x', 400, 20);
    await sleep(30);
    proxy.blackhole = true;
    const { codes, slowest } = await run;
    expect(codes.filter((c) => c !== '200')).toEqual([]);
    expect(slowest).toBeLessThan(1_500);
    await waitFor((s) => s.redis?.connected === false, 'Redis marked down');
    const closed = await load('/closed/x', 5, 1);
    expect(closed.codes).toEqual(Array(5).fill('RATE_LIMIT_UNAVAILABLE'));
    await proxy.cut();
    proxy.blackhole = false;
    const during = await load('/open/x', 50, 5);
    expect(during.codes.filter((c) => c !== '200')).toEqual([]);
    await proxy.resume();
    await waitFor((s) => s.redis?.connected === true, 'Redis back');
    expect((await load('/closed/x', 5, 1)).codes).toEqual(Array(5).fill('200'));
  }, 40_000);

  // Fixed: the same unbounded key for cluster limits: the client's header value goes verbatim into the
  // Redis key (`<prefix>rl:<api>:<index>:<value>`), which lives until the bucket would be full again
  // (an hour here). Long values should be hashed before they become a key.
  it('does not write a client-chosen header value of kilobytes into a Redis key', async () => {
    const value = 'v'.repeat(10_000);
    expect((await load('/tenant/x', 1, 1, { headers: { 'x-tenant': value } })).codes).toEqual(['200']);
    const keys = await redis.keys('*');
    expect(keys.length).toBeGreaterThan(0);
    expect(Math.max(...keys.map((k) => k.length))).toBeLessThanOrEqual(prefix.length + 256);
  });
});
