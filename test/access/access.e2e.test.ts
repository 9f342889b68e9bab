import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// Rate limits, IP lists and CORS through real sockets. The gateway trusts 127.0.0.1 as a proxy, so
// each test picks its client IP with X-Forwarded-For.

let t: TestGateway;
let up: TestUpstream;
let keyA = '';
let keyB = '';

beforeAll(async () => {
  t = await startTestGateway(['--trust-proxy', '127.0.0.1']);
  up = (await startUpstreams(['u']))[0]!;
  const a = await t.admin('POST', '/admin/consumers', { name: 'a', credentials: [{ kind: 'key' }] });
  const b = await t.admin('POST', '/admin/consumers', { name: 'b', credentials: [{ kind: 'key' }] });
  keyA = a.body.credentials[0].secret;
  keyB = b.body.credentials[0].secret;
  const mk = async (name: string, path: string, access: Record<string, unknown>) => {
    const id = await createApi(t, { name, path, algorithm: 'round_robin', access });
    await addNode(t, id, up!);
  };
  const anyKey = { methods: [{ kind: 'key' }, { kind: 'anonymous' }] };
  await mk('per-consumer', '/pc/*', { auth: anyKey, limits: [{ by: 'consumer', rate: 1, per: 'hour', burst: 2 }] });
  await mk('per-ip', '/pi/*', { auth: anyKey, limits: [{ by: 'ip', rate: 1, per: 'hour', burst: 2 }] });
  await mk('per-header', '/ph/*', { limits: [{ by: 'header', header: 'X-Tenant', rate: 1, per: 'hour', burst: 1 }] });
  await mk('two-limits', '/two/*', {
    limits: [
      { by: 'api', rate: 100, per: 'minute' },
      { by: 'ip', rate: 1, per: 'minute', burst: 3 },
    ],
  });
  await mk('ips', '/ips/*', { ip: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.6.6.0/24'] } });
  await mk('cors', '/cors/*', {
    auth: { methods: [{ kind: 'key' }] },
    cors: { origins: ['https://app.example.com'], headers: ['x-api-key'], exposeHeaders: ['x-node'], maxAgeSec: 60 },
  });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await up?.close();
});

const from = (ip: string, extra: Record<string, string> = {}) => ({ headers: { 'x-forwarded-for': ip, ...extra } });

async function statuses(path: string, init: RequestInit, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await t.get(path, init);
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}

describe('rate limits', () => {
  it('answers 429 RATE_LIMITED with Retry-After and RateLimit-* once the burst is spent', async () => {
    const ok = await t.get('/pi/x', from('192.0.2.1'));
    expect(ok.status).toBe(200);
    expect([ok.headers.get('ratelimit-limit'), ok.headers.get('ratelimit-remaining')]).toEqual(['2', '1']);
    expect(Number(ok.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    expect((await t.get('/pi/x', from('192.0.2.1'))).status).toBe(200);
    const refused = await t.get('/pi/x', from('192.0.2.1'));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-isogate-error')).toBe('RATE_LIMITED');
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    // 1 per hour: the next token is an hour away (less what passed).
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(3000);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(3600);
  });

  it('counts per consumer: two consumers from one IP each get their burst; anonymous callers count by IP', async () => {
    expect(await statuses('/pc/x', from('192.0.2.2', { 'x-api-key': keyA }), 3)).toEqual([200, 200, 429]);
    expect(await statuses('/pc/x', from('192.0.2.2', { 'x-api-key': keyB }), 3)).toEqual([200, 200, 429]);
    expect(await statuses('/pc/x', from('192.0.2.2'), 3)).toEqual([200, 200, 429]);
    expect(await statuses('/pc/x', from('192.0.2.3'), 1)).toEqual([200]);
  });

  it('counts per IP: one consumer from two IPs gets two bursts', async () => {
    expect(await statuses('/pi/x', from('198.51.100.1', { 'x-api-key': keyA }), 3)).toEqual([200, 200, 429]);
    expect(await statuses('/pi/x', from('198.51.100.2', { 'x-api-key': keyA }), 3)).toEqual([200, 200, 429]);
  });

  it('counts per header value', async () => {
    expect(await statuses('/ph/x', { headers: { 'x-tenant': 't1' } }, 2)).toEqual([200, 429]);
    expect(await statuses('/ph/x', { headers: { 'x-tenant': 't2' } }, 2)).toEqual([200, 429]);
  });

  it('the tightest of several limits decides and is the one in the headers', async () => {
    expect(await statuses('/two/x', from('192.0.2.9'), 4)).toEqual([200, 200, 200, 429]);
    const res = await t.get('/two/x', from('192.0.2.10'));
    expect(res.headers.get('ratelimit-limit')).toBe('3');
  });

  it('a config change elsewhere keeps the buckets', async () => {
    expect(await statuses('/ph/x', { headers: { 'x-tenant': 't3' } }, 1)).toEqual([200]);
    await t.admin('PUT', '/admin/variables/unrelated', { value: 'x' });
    expect(await statuses('/ph/x', { headers: { 'x-tenant': 't3' } }, 1)).toEqual([429]);
  });
});

describe('IP lists', () => {
  it.each([
    ['10.1.2.3', 200],
    ['10.6.6.6', 403],
    ['192.0.2.1', 403],
    ['2001:db8::5', 200],
    ['2001:db9::5', 403],
  ])('%s → %i', async (ip, status) => {
    const res = await t.get('/ips/x', from(ip));
    expect(res.status).toBe(status);
    if (status === 403) expect(res.headers.get('x-isogate-error')).toBe('IP_FORBIDDEN');
  });
});

describe('CORS', () => {
  it('answers an allowed preflight itself, without the node and without credentials', async () => {
    const hits = up!.hits;
    const res = await t.get('/cors/x', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'x-api-key',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('access-control-allow-headers')).toBe('x-api-key');
    expect(res.headers.get('access-control-max-age')).toBe('60');
    expect(up!.hits).toBe(hits);
  });

  it('refuses a preflight from another origin with 403 CORS_FORBIDDEN', async () => {
    const res = await t.get('/cors/x', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.test', 'access-control-request-method': 'GET' },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-isogate-error')).toBe('CORS_FORBIDDEN');
  });

  it('adds CORS headers to the node’s answer and to the gateway’s own errors', async () => {
    const ok = await t.get('/cors/x', { headers: { origin: 'https://app.example.com', 'x-api-key': keyA } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ok.headers.get('access-control-expose-headers')).toBe('x-node');
    const unauthorized = await t.get('/cors/x', { headers: { origin: 'https://app.example.com' } });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const foreign = await t.get('/cors/x', { headers: { origin: 'https://evil.test', 'x-api-key': keyA } });
    expect(foreign.status).toBe(200);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a plain OPTIONS (no preflight) is still authenticated and proxied', async () => {
    const res = await t.get('/cors/x', { method: 'OPTIONS', headers: { 'x-api-key': keyA } });
    expect(res.status).toBe(200);
  });
});

describe('explain (POST /admin/apis/:id/selector/test)', () => {
  it('shows the access decision before the balance steps, with the consumer the credentials name', async () => {
    const id = await createApi(t, {
      name: 'explained',
      path: '/explained/*',
      algorithm: 'round_robin',
      access: {
        auth: { methods: [{ kind: 'key' }] },
        limits: [{ by: 'consumer', rate: 5, per: 'minute' }],
        ip: { deny: ['192.0.2.66'] },
      },
    });
    await addNode(t, id, up);
    await t.admin('PUT', `/admin/apis/${id}/selector`, {
      code: 'function select(request, env, nodes) { console.log(request.consumer && request.consumer.name, request.headers["x-api-key"] || "stripped"); return nodes; }',
    });
    const good = await t.admin('POST', `/admin/apis/${id}/selector/test`, {
      request: { headers: { 'X-Api-Key': keyA }, clientIp: '192.0.2.5' },
    });
    expect(good.status).toBe(200);
    expect(good.body.errorCode).toBeNull();
    expect(good.body.pick.name).toBe('u');
    expect(good.body.access).toMatchObject({
      errorCode: null,
      ip: { clientIp: '192.0.2.5', verdict: 'allowed', deny: [] },
      auth: { methods: ['key'], method: 'key', consumer: { name: 'a', tags: [] } },
      limits: [{ by: 'consumer', key: 'c:a', remaining: 4, wouldRefuse: false, known: true, policy: 'local' }],
      headers: { 'ratelimit-limit': '5', 'ratelimit-remaining': '4' },
    });
    // The selector saw the consumer, and not the key (stripped as serving strips it).
    expect(good.body.selector.console).toEqual(['a stripped']);
    // Explaining spends no tokens.
    const again = await t.admin('POST', `/admin/apis/${id}/selector/test`, {
      request: { headers: { 'x-api-key': keyA } },
    });
    expect(again.body.access.limits[0].remaining).toBe(4);

    const none = await t.admin('POST', `/admin/apis/${id}/selector/test`, { request: {} });
    expect(none.body).toMatchObject({
      errorCode: 'AUTH_REQUIRED',
      pick: null,
      access: { step: 'auth', auth: { method: null, consumer: null } },
    });
    expect(none.body.access.headers['www-authenticate']).toContain('ApiKey');
    const denied = await t.admin('POST', `/admin/apis/${id}/selector/test`, {
      request: { clientIp: '192.0.2.66', headers: { 'x-api-key': keyA } },
    });
    expect(denied.body).toMatchObject({
      errorCode: 'IP_FORBIDDEN',
      access: { step: 'ip', ip: { verdict: 'denied', deny: ['192.0.2.66'] } },
    });
  });
});
