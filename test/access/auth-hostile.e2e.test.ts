import { createServer, type IncomingMessage, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// Authentication as an attacker probes it, through the real gateway and real upstreams on 127.0.0.1:
// keys a token names for itself (jwk/jku/x5u), algorithm confusion against a JWKS, one consumer's
// token naming another, claims an API requires but a token lacks, scheme spelling, tokens in the
// query, consumer identity headers a client forges, rotated credentials, per-consumer limits across
// credential kinds, WebSocket upgrades, header names that are Object.prototype properties, and
// secrets in the log. A comment starting `BUG:` marks a test that fails against the current code.

const HS_ACME = 'acme-hs256-secret-of-at-least-32-characters!';
const HS_BOB = 'bob-hs256-secret-of-at-least-32-characters!!';
const ACME_PASSWORD = 'correct horse battery staple';
const BOB_KEY = 'bob-key-0123456789abcdefghijkl';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const enc = (s: string) => new TextEncoder().encode(s);

let t: TestGateway;
let ups: TestUpstream[];
let apiKey = '';
let ec: Awaited<ReturnType<typeof generateKeyPair>>;
let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
let attackerEc: Awaited<ReturnType<typeof generateKeyPair>>;
let attackerRsa: Awaited<ReturnType<typeof generateKeyPair>>;
let goodJwk: JWK;
let jwks: Server;
let jwksUrl = '';
/** A server a token may point at (jku, x5u): the gateway must never call it. */
let lure: Server;
let lureUrl = '';
let lureHits = 0;
/** An upstream that accepts WebSocket upgrades, recording what it was sent. */
let wsNode: Server;
let wsLast: IncomingMessage | null = null;
/** Every line the gateway logged (debug level and up). */
const logLines: string[] = [];
/** Every secret the tests sent, grepped for in the log at the end. */
const secretsSent = new Set<string>();

async function sign(
  key: Parameters<SignJWT['sign']>[0],
  alg: string,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const token = await new SignJWT({ aud: 'orders', iss: 'https://idp.test', exp: now() + 300, ...claims })
    .setProtectedHeader({ alg, ...header })
    .setIssuedAt()
    .sign(key);
  secretsSent.add(token);
  return token;
}

async function code(path: string, init?: RequestInit): Promise<string> {
  const res = await t.get(path, init);
  await res.arrayBuffer();
  return res.headers.get('x-isogate-error') ?? String(res.status);
}

/** The consumer the access log recorded for the last request to `path` (the log is flushed every 100 ms). */
async function loggedConsumer(path: string): Promise<string | null | undefined> {
  for (let i = 0; i < 20; i++) {
    await sleep(60);
    for (let j = logLines.length - 1; j >= 0; j--) {
      const line = logLines[j]!;
      if (!line.includes('"component":"access"')) continue;
      const rec = JSON.parse(line) as { path: string; consumer: string | null };
      if (rec.path === path) return rec.consumer;
    }
  }
  return undefined;
}

/** One raw HTTP/1.1 request (headers exactly as given); resolves with the status line's code and the head. */
function raw(head: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(t.app.gateway!.port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ status: Number(data.split(' ')[1]), text: data });
    }, 3_000);
    socket.on('connect', () => socket.write(head));
    socket.on('data', (c) => {
      data += c.toString('latin1');
      // Only the head is needed (an upgrade or a kept-alive answer leaves the socket open).
      if (data.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      if (data !== '') resolve({ status: Number(data.split(' ')[1]), text: data });
      else reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ status: Number(data.split(' ')[1]), text: data });
    });
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  t = await startTestGateway([], {}, pino({ level: 'debug' }, sink));
  ups = await startUpstreams(['stable']);
  ec = await generateKeyPair('ES256', { extractable: true });
  rsa = await generateKeyPair('RS256', { extractable: true });
  attackerEc = await generateKeyPair('ES256', { extractable: true });
  attackerRsa = await generateKeyPair('RS256', { extractable: true });
  goodJwk = { ...(await exportJWK(ec.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };

  jwks = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [goodJwk] }));
  });
  jwksUrl = `${await listen(jwks)}/jwks.json`;
  lure = createServer(async (_req, res) => {
    lureHits++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [{ ...(await exportJWK(attackerEc.publicKey)), kid: 'k1', alg: 'ES256' }] }));
  });
  lureUrl = `${await listen(lure)}/evil-jwks.json`;
  wsNode = createServer((_req, res) => {
    res.writeHead(426);
    res.end();
  });
  wsNode.on('upgrade', (req, socket) => {
    wsLast = req;
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    socket.end();
  });
  const wsUrl = await listen(wsNode);

  const acme = await t.admin('POST', '/admin/consumers', {
    name: 'acme',
    tags: ['beta'],
    credentials: [
      { kind: 'key' },
      { kind: 'basic', username: 'acme', password: ACME_PASSWORD },
      { kind: 'jwt', subject: 'acme', secret: HS_ACME },
    ],
  });
  expect(acme.status).toBe(201);
  apiKey = acme.body.credentials[0].secret;
  secretsSent.add(apiKey);
  secretsSent.add(ACME_PASSWORD);
  secretsSent.add(HS_ACME);
  secretsSent.add(HS_BOB);
  secretsSent.add(BOB_KEY);
  const mkConsumer = async (body: Record<string, unknown>) => {
    const res = await t.admin('POST', '/admin/consumers', body);
    if (res.status !== 201) throw new Error(`consumer: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  await mkConsumer({
    name: 'bob',
    credentials: [
      { kind: 'key', key: BOB_KEY },
      { kind: 'jwt', subject: 'bob', secret: HS_BOB },
    ],
  });
  await mkConsumer({
    name: 'rsa-user',
    credentials: [{ kind: 'jwt', subject: 'rsa-user', publicKey: await exportSPKI(rsa.publicKey) }],
  });
  await mkConsumer({ name: 'jwks-user', credentials: [{ kind: 'jwt', subject: 'jwks-user' }] });

  const mk = async (
    name: string,
    path: string,
    access: Record<string, unknown>,
    node: TestUpstream | { name: string; url: string } = ups[0]!,
  ) => {
    const id = await createApi(t, { name, path, algorithm: 'round_robin', access });
    await addNode(t, id, node);
    return id;
  };
  await mk('key', '/key/*', { auth: { methods: [{ kind: 'key', header: 'x-api-key', query: 'apikey' }] } });
  await mk('hs', '/hs/*', {
    auth: { methods: [{ kind: 'jwt', algorithms: ['HS256'], issuer: 'https://idp.test', audience: 'orders' }] },
  });
  await mk('rs', '/rs/*', { auth: { methods: [{ kind: 'jwt', algorithms: ['RS256', 'HS256'] }] } });
  await mk('es', '/es/*', {
    auth: { methods: [{ kind: 'jwt', algorithms: ['ES256', 'HS256'], jwksUrl, audience: 'orders' }] },
  });
  await mk('anon', '/anon/*', {
    auth: { methods: [{ kind: 'key' }, { kind: 'jwt', algorithms: ['HS256'] }, { kind: 'anonymous' }] },
  });
  await mk('multi', '/multi/*', {
    auth: { methods: [{ kind: 'key' }, { kind: 'basic' }, { kind: 'jwt', algorithms: ['HS256'] }] },
  });
  await mk('acl', '/acl/*', {
    auth: { methods: [{ kind: 'key', query: 'apikey' }], consumers: ['bob'] },
  });
  await mk('lim', '/lim/*', {
    auth: { methods: [{ kind: 'key' }, { kind: 'jwt', algorithms: ['HS256'] }] },
    limits: [{ by: 'consumer', rate: 2, per: 'hour', burst: 2 }],
  });
  await mk('ws', '/ws/*', { auth: { methods: [{ kind: 'key' }] } }, { name: 'ws', url: wsUrl });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  for (const s of [jwks, lure, wsNode]) {
    s?.closeAllConnections();
    s?.close();
  }
});

describe('keys a token brings along', () => {
  it('ignores an embedded jwk and never fetches a jku or x5u the token names', async () => {
    const attackerJwk = { ...(await exportJWK(attackerEc.publicKey)), kid: 'k1', alg: 'ES256' };
    const header = { kid: 'k1', jwk: attackerJwk, jku: lureUrl, x5u: lureUrl };
    // JWKS API: the attacker's key, with a kid the JWKS has, and pointers to its own key set.
    expect(
      await code('/es/x', {
        headers: {
          authorization: `Bearer ${await sign(attackerEc.privateKey, 'ES256', { sub: 'jwks-user' }, header)}`,
        },
      }),
    ).toBe('AUTH_FAILED');
    // A kid the JWKS does not have: the gateway may refetch its own JWKS, never the token's URL.
    expect(
      await code('/es/x', {
        headers: {
          authorization: `Bearer ${await sign(attackerEc.privateKey, 'ES256', { sub: 'jwks-user' }, { ...header, kid: 'evil' })}`,
        },
      }),
    ).toBe('AUTH_FAILED');
    // Consumer-key API: an RS256 token by the attacker's key carrying its public JWK.
    const rsJwk = await exportJWK(attackerRsa.publicKey);
    expect(
      await code('/rs/x', {
        headers: {
          authorization: `Bearer ${await sign(attackerRsa.privateKey, 'RS256', { sub: 'rsa-user' }, { jwk: rsJwk, jku: lureUrl })}`,
        },
      }),
    ).toBe('AUTH_FAILED');
    expect(lureHits).toBe(0);
    // The real key still works (the attempts above broke nothing).
    expect(
      await code('/es/x', {
        headers: { authorization: `Bearer ${await sign(ec.privateKey, 'ES256', { sub: 'jwks-user' }, { kid: 'k1' })}` },
      }),
    ).toBe('200');
  });

  it('refuses HS256 keyed with the JWKS public key (PEM, JWK JSON or raw coordinates) where HS256 and ES256 are both allowed', async () => {
    const pem = await exportSPKI(ec.publicKey);
    for (const secret of [pem, JSON.stringify(goodJwk), JSON.stringify({ keys: [goodJwk] }), goodJwk.x!]) {
      const token = await sign(enc(secret), 'HS256', { sub: 'jwks-user' }, { kid: 'k1' });
      expect(await code('/es/x', { headers: { authorization: `Bearer ${token}` } })).toBe('AUTH_FAILED');
    }
    // The consumer-key variant (RS256 public key PEM as HMAC secret) with HS256 allowed too.
    const rsaPem = await exportSPKI(rsa.publicKey);
    for (const secret of [rsaPem, rsaPem.trim(), rsaPem.replace(/\n/g, '\r\n')]) {
      const token = await sign(enc(secret), 'HS256', { sub: 'rsa-user' });
      expect(await code('/rs/x', { headers: { authorization: `Bearer ${token}` } })).toBe('AUTH_FAILED');
    }
    expect(
      await code('/rs/x', {
        headers: { authorization: `Bearer ${await sign(rsa.privateKey, 'RS256', { sub: 'rsa-user' })}` },
      }),
    ).toBe('200');
  });
});

describe('one consumer’s token naming another', () => {
  it('a token bob signs with his own secret but naming acme fails; named as himself it is bob', async () => {
    const forged = await sign(enc(HS_BOB), 'HS256', { sub: 'acme' });
    expect(await code('/hs/forged', { headers: { authorization: `Bearer ${forged}` } })).toBe('AUTH_FAILED');
    const own = await sign(enc(HS_BOB), 'HS256', { sub: 'bob' });
    expect(await code('/hs/own', { headers: { authorization: `Bearer ${own}` } })).toBe('200');
    expect(await loggedConsumer('/hs/own')).toBe('bob');
  });

  it('an identity-provider token whose sub differs from a consumer’s subject only in case or whitespace names nobody', async () => {
    for (const sub of ['JWKS-USER', 'Jwks-User', ' jwks-user', 'jwks-user ', 'jwks-user\u0000']) {
      const token = await sign(ec.privateKey, 'ES256', { sub }, { kid: 'k1' });
      expect(await code('/es/x', { headers: { authorization: `Bearer ${token}` } }), JSON.stringify(sub)).toBe(
        'AUTH_FAILED',
      );
    }
  });
});

describe('claims and schemes', () => {
  it('with issuer and audience configured, a token that lacks iss or aud fails', async () => {
    const noAud = await new SignJWT({ sub: 'acme', iss: 'https://idp.test', exp: now() + 300 })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(enc(HS_ACME));
    const noIss = await new SignJWT({ sub: 'acme', aud: 'orders', exp: now() + 300 })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(enc(HS_ACME));
    const audList = await sign(enc(HS_ACME), 'HS256', { sub: 'acme', aud: ['billing', 'orders'] });
    const audEmpty = await sign(enc(HS_ACME), 'HS256', { sub: 'acme', aud: [] });
    secretsSent.add(noAud).add(noIss);
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${noAud}` } })).toBe('AUTH_FAILED');
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${noIss}` } })).toBe('AUTH_FAILED');
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${audEmpty}` } })).toBe('AUTH_FAILED');
    // One of several audiences is enough (RFC 7519 §4.1.3).
    expect(await code('/hs/x', { headers: { authorization: `Bearer ${audList}` } })).toBe('200');
  });

  it('reads the Bearer scheme case-insensitively (RFC 9110 §11.1), and a token in the query is no credential', async () => {
    const token = await sign(enc(HS_ACME), 'HS256', { sub: 'acme' });
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      expect(await code('/hs/x', { headers: { authorization: `${scheme} ${token}` } }), scheme).toBe('200');
    }
    for (const q of ['access_token', 'jwt', 'token']) {
      expect(await code(`/hs/x?${q}=${token}`), q).toBe('AUTH_REQUIRED');
    }
  });

  it('two Authorization headers of different schemes are no credential of either', async () => {
    const good = await sign(enc(HS_ACME), 'HS256', { sub: 'acme' });
    const hits = ups[0]!.hits;
    for (const pair of [
      [`Bearer ${good}`, basic('acme', ACME_PASSWORD)],
      [basic('acme', ACME_PASSWORD), `Bearer ${good}`],
    ]) {
      const r = await raw(
        `GET /multi/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: ${pair[0]}\r\nAuthorization: ${pair[1]}\r\n\r\n`,
      );
      expect(r.status).toBe(401);
    }
    expect(ups[0]!.hits).toBe(hits);
  });
});

describe('consumer identity the node is told', () => {
  it('a client cannot tell the node which consumer is calling (X-Consumer-* headers it writes do not reach the node)', async () => {
    const forged = {
      'x-consumer-username': 'admin',
      'x-consumer-id': '00000000-0000-0000-0000-000000000000',
      'x-consumer-custom-id': 'admin',
      'x-credential-identifier': 'admin',
      'x-anonymous-consumer': 'false',
    };
    // Fixed (was): isogate neither set nor stripped the consumer identity headers a Kong/APISIX-style node reads
    // (X-Consumer-Username, -ID, -Custom-ID, X-Credential-Identifier, X-Anonymous-Consumer): whatever the
    // client writes reaches the node verbatim, on an authenticated request (acme's key claiming to be
    // "admin") as on an anonymous one. The node has no way to learn the consumer except from these
    // client-forgeable headers. It should drop client-sent X-Consumer-*/X-Credential-*/X-Anonymous-Consumer
    // on APIs with authentication and set them from the decision (as Kong and APISIX do).
    const up = ups[0]!;
    expect(await code('/key/x', { headers: { 'x-api-key': apiKey, ...forged } })).toBe('200');
    const authed = up.last!.headers;
    expect(authed['x-consumer-username'] ?? null).not.toBe('admin');
    expect(authed['x-consumer-custom-id'] ?? null).not.toBe('admin');
    expect(authed['x-credential-identifier'] ?? null).not.toBe('admin');
    expect(await code('/anon/x', { headers: forged })).toBe('200');
    const anon = up.last!.headers;
    expect(anon['x-consumer-username'] ?? null).not.toBe('admin');
    expect(anon['x-anonymous-consumer'] ?? null).not.toBe('false');
    // What the gateway tells the node instead, from the access decision.
    expect([authed['x-consumer-username'], typeof authed['x-consumer-id']]).toEqual(['acme', 'string']);
    expect([anon['x-anonymous-consumer'], anon['x-consumer-id']]).toEqual(['true', undefined]);
  });
});

describe('credentials rotated while clients keep calling', () => {
  it('a deleted key, a deleted consumer and a changed Basic password stop working at once (the verified cache does not keep them)', async () => {
    const rot = await t.admin('POST', '/admin/consumers', {
      name: 'rot',
      credentials: [{ kind: 'key' }, { kind: 'basic', username: 'rot', password: 'first-password-1' }],
    });
    expect(rot.status).toBe(201);
    const rotKey: string = rot.body.credentials[0].secret;
    secretsSent.add(rotKey).add('first-password-1').add('second-password-2');
    const [keyCred, basicCred] = rot.body.credentials as { id: string }[];
    expect(await code('/multi/r', { headers: { 'x-api-key': rotKey } })).toBe('200');
    expect(await code('/multi/r', { headers: { authorization: basic('rot', 'first-password-1') } })).toBe('200');
    expect(await code('/multi/r', { headers: { authorization: basic('rot', 'first-password-1') } })).toBe('200'); // cached

    expect((await t.admin('DELETE', `/admin/consumers/${rot.body.id}/credentials/${keyCred!.id}`)).status).toBe(204);
    expect(await code('/multi/r', { headers: { 'x-api-key': rotKey } })).toBe('AUTH_FAILED');

    expect((await t.admin('DELETE', `/admin/consumers/${rot.body.id}/credentials/${basicCred!.id}`)).status).toBe(204);
    const re = await t.admin('POST', `/admin/consumers/${rot.body.id}/credentials`, {
      kind: 'basic',
      username: 'rot',
      password: 'second-password-2',
    });
    expect(re.status).toBe(201);
    expect(await code('/multi/r', { headers: { authorization: basic('rot', 'first-password-1') } })).toBe(
      'AUTH_FAILED',
    );
    expect(await code('/multi/r', { headers: { authorization: basic('rot', 'second-password-2') } })).toBe('200');

    expect((await t.admin('DELETE', `/admin/consumers/${rot.body.id}`)).status).toBe(204);
    expect(await code('/multi/r', { headers: { authorization: basic('rot', 'second-password-2') } })).toBe(
      'AUTH_FAILED',
    );
  });

  it('a key moved to another consumer names the new one', async () => {
    const key = 'movable-key-0123456789abcdefgh';
    secretsSent.add(key);
    const a = await t.admin('POST', '/admin/consumers', { name: 'mover-a', credentials: [{ kind: 'key', key }] });
    const b = await t.admin('POST', '/admin/consumers', { name: 'mover-b' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(await code('/multi/m1', { headers: { 'x-api-key': key } })).toBe('200');
    expect(await loggedConsumer('/multi/m1')).toBe('mover-a');
    expect((await t.admin('DELETE', `/admin/consumers/${a.body.id}`)).status).toBe(204);
    expect((await t.admin('POST', `/admin/consumers/${b.body.id}/credentials`, { kind: 'key', key })).status).toBe(201);
    expect(await code('/multi/m2', { headers: { 'x-api-key': key } })).toBe('200');
    expect(await loggedConsumer('/multi/m2')).toBe('mover-b');
    await t.admin('DELETE', `/admin/consumers/${b.body.id}`);
  });
});

describe('per-consumer limits', () => {
  it('count the consumer, whichever of its credentials it uses; another consumer has its own bucket', async () => {
    expect(await code('/lim/1', { headers: { 'x-api-key': apiKey } })).toBe('200');
    expect(await code('/lim/2', { headers: { 'x-api-key': apiKey } })).toBe('200');
    const token = await sign(enc(HS_ACME), 'HS256', { sub: 'acme' });
    expect(await code('/lim/3', { headers: { authorization: `Bearer ${token}` } })).toBe('RATE_LIMITED');
    expect(await code('/lim/4', { headers: { 'x-api-key': BOB_KEY } })).toBe('200');
    // A failed credential is not counted against the consumer it names.
    const forged = await sign(enc(HS_BOB + 'x'), 'HS256', { sub: 'bob' });
    expect(await code('/lim/5', { headers: { authorization: `Bearer ${forged}` } })).toBe('AUTH_FAILED');
    expect(await code('/lim/6', { headers: { authorization: `Bearer ${forged}` } })).toBe('AUTH_FAILED');
    expect(await code('/lim/7', { headers: { 'x-api-key': BOB_KEY } })).toBe('200');
  });
});

describe('consumer restrictions and anonymous callers', () => {
  it('an API open only to some consumers does not let a refused consumer in by dropping its credential', async () => {
    const res = await t.admin('POST', '/admin/apis', {
      name: 'vip',
      path: '/vip/*',
      algorithm: 'round_robin',
      access: { auth: { methods: [{ kind: 'key' }, { kind: 'anonymous' }], consumers: ['bob'] } },
    });
    if (res.status !== 201) {
      // Refusing the contradictory config (a consumer list with anonymous) is an acceptable answer too.
      expect(res.status).toBe(400);
      return;
    }
    await addNode(t, res.body.id, ups[0]!);
    expect(await code('/vip/x', { headers: { 'x-api-key': BOB_KEY } })).toBe('200');
    expect(await code('/vip/x', { headers: { 'x-api-key': apiKey } })).toBe('CONSUMER_FORBIDDEN');
    // Fixed (was): consumerAllowed() (src/access/decision.ts) returns true for a null consumer, so with
    // `consumers: ["bob"]` and anonymous last, acme is refused (403) with its key but gets in (200) by
    // simply not sending it, as does anyone. A Kong user expects the ACL to apply to the anonymous
    // consumer too (it is not in the list: 403 CONSUMER_FORBIDDEN), or the admin API to refuse a
    // consumer/tag list next to anonymous as contradictory.
    expect(await code('/vip/x')).toBe('CONSUMER_FORBIDDEN');
  });
});

describe('WebSocket upgrades', () => {
  const upgrade = (path: string, extra = '') =>
    raw(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`,
    );

  it('need the credential, and the node never sees it', async () => {
    wsLast = null;
    expect((await upgrade('/ws/chat')).status).toBe(401);
    expect((await upgrade('/ws/chat', 'X-Api-Key: wrong-key-0123456789abcdefghij\r\n')).status).toBe(401);
    expect(wsLast).toBeNull();
    const ok = await upgrade('/ws/chat', `X-Api-Key: ${apiKey}\r\n`);
    expect(ok.status, ok.text).toBe(101);
    expect(wsLast).not.toBeNull();
    expect(wsLast!.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(wsLast!.rawHeaders)).not.toContain(apiKey);
  });
});

describe('header names that are Object.prototype properties', () => {
  it('a key method reading a header named "constructor" treats a request without it as carrying no key', async () => {
    // HeaderName accepts any token, so "constructor" (and "__proto__") are valid header names.
    const res = await t.admin('POST', '/admin/apis', {
      name: 'ctor',
      path: '/ctor/*',
      algorithm: 'round_robin',
      access: { auth: { methods: [{ kind: 'key', header: 'constructor' }, { kind: 'anonymous' }] } },
    });
    if (res.status !== 201) {
      // Refusing such a header name at config time is an acceptable answer too.
      expect(res.status).toBe(400);
      return;
    }
    await addNode(t, res.body.id, ups[0]!);
    // Fixed (was): the parsed head is a plain object, so headers['constructor'] is Object.prototype.constructor
    // (a function) when the request has no such header; key find() returns it as the credential and
    // sha256Hex(fn) throws, so every request to the API fails (500) instead of passing as anonymous
    // (or 401 without anonymous). headerValue() in src/access/auth/kind.ts should read own properties only
    // (Object.hasOwn) and check typeof string — or HeaderName should refuse such names.
    expect(await code('/ctor/x')).toBe('200');
    expect(await code('/ctor/x', { headers: { constructor: apiKey } })).toBe('200');
  });
});

describe('refused requests and the log', () => {
  it('no key, token or password reaches the log, whatever the answer (good, wrong, 403, 429), at debug level', async () => {
    // A valid key in the query of a request refused after authentication (403: ACL) and a wrong one.
    expect(await code(`/acl/x?apikey=${encodeURIComponent(apiKey)}`)).toBe('CONSUMER_FORBIDDEN');
    expect(await code(`/acl/x?apikey=${encodeURIComponent(BOB_KEY)}&keep=1`)).toBe('200');
    expect(ups[0]!.last!.url).toBe('/acl/x?keep=1');
    expect(await code('/key/x?apikey=wrong-key-0123456789abcdefghij')).toBe('AUTH_FAILED');
    expect(await code(`/key/x?apikey=${encodeURIComponent(apiKey)}`)).toBe('200');
    expect(await code('/lim/8', { headers: { 'x-api-key': apiKey } })).toBe('RATE_LIMITED');
    await sleep(250); // the access log flushes every 100 ms
    expect(logLines.length).toBeGreaterThan(0);
    const all = logLines.join('\n');
    const b64Basic = Buffer.from(`acme:${ACME_PASSWORD}`).toString('base64');
    for (const secret of [...secretsSent, b64Basic, 'wrong-key-0123456789abcdefghij']) {
      expect(all.includes(secret), `log holds ${secret.slice(0, 12)}…`).toBe(false);
    }
  });
});

describe('alg none dressed up', () => {
  it('refuses an unsigned token for a consumer-key API whatever alg spelling, and an HS256 header with no signature', async () => {
    const payload = b64({ sub: 'acme', exp: now() + 300 });
    for (const alg of ['none', 'None', 'NONE', 'nOnE', '']) {
      expect(
        await code('/anon/x', { headers: { authorization: `Bearer ${b64({ alg, typ: 'JWT' })}.${payload}.` } }),
        alg,
      ).toBe('AUTH_FAILED');
    }
    expect(await code('/anon/x', { headers: { authorization: `Bearer ${b64({ alg: 'HS256' })}.${payload}.` } })).toBe(
      'AUTH_FAILED',
    );
  });
});
