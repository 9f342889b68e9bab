/**
 * The observability surfaces under hostile clients: the status port (`/status`, `/status/ready`,
 * `/metrics`, unauthenticated and on 0.0.0.0 by default), the Prometheus labels and exposition, the
 * access log, and the admin API's read-only and audit surfaces as a low role sees them. Real parts
 * only (an in-process gateway, real upstreams, and one built-CLI gateway with a low open-file limit),
 * on 127.0.0.1, every loop bounded in count and time.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { parseMetrics, scrape, type Scrape } from '../helpers/metrics.js';
import { TestCa, type TestCertificate } from '../helpers/certs.js';
import { H2_HOST } from '../helpers/h2-gateway.js';
import { h2Request, h2Session } from '../helpers/h2-client.js';
import { ACCESS_LOG_FLUSH_MS, AccessLog } from '../../src/gateway/access-log.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { IsogateProcesses, type IsogateProcess } from '../helpers/cluster.js';
import { adminClient, requestOnce } from '../helpers/processes.js';

let t: TestGateway;
let ups: TestUpstream[];
let statusUpstream: Server;
let cert: TestCertificate;
let ca: TestCa;
const sockets: Socket[] = [];
/** Every line the gateway's logger wrote (access lines among them). */
const logLines: string[] = [];
const accessLines = () => logLines.filter((l) => l.includes('"component":"access"'));

/** Secrets the tests write into the config; none may come out of the status port, the metrics or the log. */
const SECRETS = {
  key: 'KEYSECRET-0123456789abcdefghijklmnop',
  password: 'PWSECRET-0123456789',
  jwt: 'JWTSECRET-0123456789abcdefghijklmnopqrstuvwxyz',
  selector: 'SELECTOR_CODE_MARKER_7781',
  admin: 'test-token-0123456789abcdef',
};
let namedTokenSecret = '';
let keyedApi = '';
let hostileApi = '';
let hostileNode = '';
const HOSTILE_API_NAME = 'we"ird\\ {api="x"} 1 # api';
const HOSTILE_NODE_NAME = 'n"o\\de} 9 # ,node_id="forged"';

beforeAll(async () => {
  const out = new Writable({
    write(chunk, _enc, done) {
      // Bounded: a runaway test must not hold the machine's memory.
      if (logLines.length < 200_000) logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  t = await startTestGateway(
    ['--client-header-timeout-ms', '1000', '--gateway-tls-port', '0', '--trust-proxy', '127.0.0.1'],
    {},
    pino({ level: 'info' }, out),
  );
  ups = await startUpstreams(['a', 'b']);
  // An upstream that answers the status its request asks for (x-status), for status-class labels.
  statusUpstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(Number(req.headers['x-status'] ?? 200), { 'x-node': 'st' });
      res.end('st');
    });
  });
  await new Promise<void>((r) => statusUpstream.listen(0, '127.0.0.1', () => r()));
  ca = new TestCa();
  cert = ca.issue([H2_HOST]);
  expect(
    (await t.admin('POST', '/admin/certificates', { certificate: cert.certificate, privateKey: cert.privateKey }))
      .status,
  ).toBe(201);

  const lbl = await createApi(t, { name: 'lbl', path: '/lbl/*', algorithm: 'round_robin' });
  await addNode(t, lbl, { name: 'st', url: `http://127.0.0.1:${(statusUpstream.address() as AddressInfo).port}` });
  keyedApi = await createApi(t, {
    name: 'keyed',
    path: '/keyed/*',
    algorithm: 'round_robin',
    access: { auth: { methods: [{ kind: 'key', header: 'x-api-key', query: 'apikey' }, { kind: 'basic' }] } },
  });
  await addNode(t, keyedApi, ups[0]!);
  const consumer = await t.admin('POST', '/admin/consumers', {
    name: 'acme',
    tags: ['paying'],
    credentials: [
      { kind: 'key', key: SECRETS.key },
      { kind: 'basic', username: 'acme-user', password: SECRETS.password },
      { kind: 'jwt', subject: 'acme-sub', secret: SECRETS.jwt },
    ],
  });
  expect(consumer.status, JSON.stringify(consumer.body)).toBe(201);
  hostileApi = await createApi(t, { name: HOSTILE_API_NAME, path: '/hostile', algorithm: 'round_robin' });
  hostileNode = await addNode(t, hostileApi, { name: HOSTILE_NODE_NAME, url: ups[1]!.url });
  const sel = await t.admin('PUT', `/admin/apis/${hostileApi}/selector`, {
    code: `// ${SECRETS.selector}\nfunction select(request, env, nodes) { console.log('${SECRETS.selector}', request.path); return nodes; }`,
  });
  expect(sel.status, JSON.stringify(sel.body)).toBe(200);
  const token = await t.admin('POST', '/admin/tokens', { name: 'night-shift', role: 'viewer' });
  expect(token.status).toBe(201);
  namedTokenSecret = token.body.secret;
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  statusUpstream?.closeAllConnections();
  statusUpstream?.close();
  ca?.dispose();
});

/** Opens a TCP connection that sends nothing; resolves once connected with a promise of its close. */
function silent(port: number): Promise<{ socket: Socket; closed: Promise<void>; isClosed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    let closedFlag = false;
    const closed = new Promise<void>((r) => socket.once('close', () => ((closedFlag = true), r())));
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, closed, isClosed: () => closedFlag }));
    socket.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('status port under hostile clients', () => {
  // Fixed: the status port never closed a connection that sent nothing; now it does after --client-header-timeout-ms.
  it('closes a connection that sends nothing, as the gateway port does', async () => {
    const statusPort = t.app.status!.port;
    const gatewayPort = t.app.gateway!.port;
    const onGateway = await silent(gatewayPort);
    const onStatus = await Promise.all(Array.from({ length: 20 }, () => silent(statusPort)));
    await sleep(3_000);
    // The gateway port closes a silent connection after --client-header-timeout-ms (1 s here).
    expect(onGateway.isClosed()).toBe(true);
    expect(onStatus.filter((c) => c.isClosed())).toHaveLength(20);
  }, 15_000);
});

/** Sends raw bytes on a fresh connection and resolves with everything the server sent until it closed (5 s at most). */
function raw(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(bytes));
    sockets.push(socket);
    let answer = '';
    const timer = setTimeout(() => socket.destroy(), 5_000);
    socket.on('data', (c: Buffer) => {
      answer += c.toString('latin1');
      // One answer is enough: close once its body (JSON or the exposition) has arrived.
      if (/\r\n\r\n[\s\S]*\n$/.test(answer)) socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

describe('status port: what it answers to anyone', () => {
  it('answers hostile requests in its own error shape, or 4xx, and keeps answering', async () => {
    const port = t.app.status!.port;
    const url = t.statusUrl;
    const answers: Array<[string, number]> = [];
    const get = async (path: string, init?: RequestInit) => {
      const res = await fetch(url + path, { ...init, signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      answers.push([path.slice(0, 40), res.status]);
      return res.status;
    };
    expect(await get('/metrics?' + 'x=1&'.repeat(3_000))).toBe(200);
    expect(await get('/status?' + 'a'.repeat(12_000))).toBe(200);
    expect(await raw(port, 'GET /status/../metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(
      /^HTTP\/1\.1 404 /,
    );
    expect(await get('/metrics', { method: 'POST', body: 'x'.repeat(100_000) })).toBe(404);
    expect(await get('/metrics', { method: 'DELETE' })).toBe(404);
    // A head past node's 16 KiB limit is 431, not a crash.
    expect(await raw(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).toMatch(
      /^HTTP\/1\.1 431 /,
    );
    expect(await raw(port, 'GARBAGE\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    const notFound = await fetch(`${url}/admin/apis`);
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String) } });
    // Forty requests at once on their own connections are all answered.
    const many = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${url}/${i % 2 ? 'metrics' : 'status'}`, { signal: AbortSignal.timeout(10_000) }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        }),
      ),
    );
    expect(many.every((s) => s === 200)).toBe(true);
    expect(await get('/status/ready')).toBe(200);
  }, 30_000);

  // Fixed: an undecodable URL got fastify's own error body; now the status port's error shape.
  it('answers a URL that cannot be percent-decoded in its own error shape', async () => {
    for (const path of ['/%', '/metrics%zz', '/status/%E0%A4%A']) {
      const res = await fetch(t.statusUrl + path);
      expect(res.status).toBe(400);
      expect(await res.text()).toBe(
        '{"error":{"code":"BAD_REQUEST","message":"The request is not one the status port accepts."}}\n',
      );
    }
  });

  it('holds no secret, token, credential, private key or selector code in /status, /status/ready or /metrics', async () => {
    // Traffic that carries every credential, so nothing is left out for want of a request.
    await t.get('/keyed/x', { headers: { 'x-api-key': SECRETS.key } }).then((r) => r.arrayBuffer());
    await t.get(`/keyed/x?apikey=${SECRETS.key}`).then((r) => r.arrayBuffer());
    const basic = Buffer.from(`acme-user:${SECRETS.password}`).toString('base64');
    await t.get('/keyed/x', { headers: { authorization: `Basic ${basic}` } }).then((r) => r.arrayBuffer());
    await t.get('/hostile').then((r) => r.arrayBuffer());
    const bodies = await Promise.all(
      ['/status', '/status/ready', '/metrics', '/nothing'].map((p) => fetch(t.statusUrl + p).then((r) => r.text())),
    );
    const all = bodies.join('\n');
    const keyBody = cert.privateKey.split('\n').find((l) => l.length > 40)!;
    for (const secret of [
      SECRETS.key,
      SECRETS.password,
      SECRETS.jwt,
      SECRETS.selector,
      SECRETS.admin,
      namedTokenSecret,
      keyBody,
      'PRIVATE KEY',
      basic,
      'acme-user',
    ])
      expect(all.includes(secret), secret).toBe(false);
    // The consumer does not appear as a label either (labels are API and node names only).
    expect((await scrape(`${t.statusUrl}/metrics`)).samples.some((s) => Object.values(s.labels).includes('acme'))).toBe(
      false,
    );
  });
});

/** Series of isogate's own metrics, as `name{sorted labels}` strings. */
function series(m: Scrape): Set<string> {
  return new Set(
    m.samples
      .filter((s) => s.name.startsWith('isogate_'))
      .map(
        (s) =>
          `${s.name}{${Object.entries(s.labels)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            .join(',')}}`,
      ),
  );
}

describe('metric labels under hostile requests', () => {
  /** One round of requests whose every client-chosen field is new (`tag` makes them distinct). */
  async function flood(tag: string): Promise<void> {
    const statuses = [200, 201, 299, 302, 404, 418, 500, 503, 599];
    const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
    for (let i = 0; i < 45; i++) {
      const id = `zq${tag}${i}`;
      const headers = {
        'x-status': String(statuses[i % statuses.length]),
        'user-agent': `agent-${id}`,
        'x-forwarded-for': `10.${i}.${tag.length}.${i % 250}`,
        'x-anything': `"${id}"\\`,
      };
      const method = methods[i % methods.length]!;
      const body = method === 'GET' || method === 'OPTIONS' ? undefined : id;
      await t.get(`/lbl/${id}/"q"\\?${id}=${id}`, { method, headers, body }).then((r) => r.arrayBuffer());
      await t.get(`/${id}`, { headers: { host: `${id}.example` } }).then((r) => r.arrayBuffer());
      await t
        .get(`/keyed/${id}`, { headers: { 'x-api-key': `${id}-guess-${'k'.repeat(30)}` } })
        .then((r) => r.arrayBuffer());
      await t.get(`/keyed/${id}`).then((r) => r.arrayBuffer());
    }
  }

  it('adds no series for distinct paths, hosts, methods, headers, queries, key guesses and upstream statuses', async () => {
    await flood('one');
    const first = await scrape(`${t.statusUrl}/metrics`);
    await flood('two');
    const second = await scrape(`${t.statusUrl}/metrics`);
    // The counts moved, the set of series did not.
    expect(second.sum('isogate_requests_total', { api: 'lbl' })).toBe(
      2 * first.sum('isogate_requests_total', { api: 'lbl' }),
    );
    expect(first.sum('isogate_gateway_errors_total', { api: 'keyed', code: 'AUTH_FAILED' })).toBe(45);
    expect(first.sum('isogate_gateway_errors_total', { api: 'keyed', code: 'AUTH_REQUIRED' })).toBe(45);
    expect([...series(second)].filter((k) => !series(first).has(k))).toEqual([]);
    for (const s of second.samples) for (const v of Object.values(s.labels)) expect(v).not.toMatch(/zq|agent|example/);
    // Every status class an upstream can answer maps to one of the four classes.
    const classes = new Set(
      second.samples.filter((s) => s.name === 'isogate_requests_total').map((s) => s.labels.class),
    );
    expect([...classes].every((c) => ['2xx', '3xx', '4xx', '5xx'].includes(c!))).toBe(true);
  }, 60_000);

  it('writes API and node names with quotes, backslashes, braces and # as escaped label values that parse back exactly', async () => {
    const labels = { api: HOSTILE_API_NAME, node: HOSTILE_NODE_NAME, node_id: hostileNode };
    const before = (await scrape(`${t.statusUrl}/metrics`)).sum('isogate_requests_total', labels);
    for (let i = 0; i < 3; i++) await t.get('/hostile').then((r) => r.arrayBuffer());
    const res = await fetch(`${t.statusUrl}/metrics`);
    const text = await res.text();
    // Every line is a comment or one sample (the helper's parser throws on anything else).
    const m = parseMetrics(text);
    expect(m.sum('isogate_requests_total', labels) - before).toBe(3);
    expect(
      m.has('isogate_node_healthy', { api: HOSTILE_API_NAME, node: HOSTILE_NODE_NAME, node_id: hostileNode }),
    ).toBe(true);
    expect(m.has('isogate_selector_quarantined', { api: HOSTILE_API_NAME })).toBe(true);
    // No sample was forged out of a name: no api "x", no node_id "forged", no sample named from a name.
    expect(m.samples.some((s) => s.labels.api === 'x' || s.labels.node_id === 'forged')).toBe(false);
    const names = new Set(m.samples.map((s) => s.name));
    expect([...names].every((n) => /^(isogate|process|nodejs)_/.test(n))).toBe(true);
    // Each sample line holds exactly the labels its metric has.
    for (const line of text.split('\n').filter((l) => l.startsWith('isogate_requests_total{')))
      expect(Object.keys(parseMetrics(line).samples[0]!.labels).sort()).toEqual(['api', 'class', 'node', 'node_id']);
  });
});

describe('access log under hostile requests', () => {
  const settle = () => sleep(ACCESS_LOG_FLUSH_MS * 3);
  const parsed = () => accessLines().map((l) => JSON.parse(l) as Record<string, unknown>);

  it('writes one valid JSON line per request whatever the path holds, and no field can be forged through it', async () => {
    await settle();
    const before = accessLines().length;
    const port = t.app.gateway!.port;
    const forged = '/lbl/q"uo\\te%0d%0a","status":200,"consumer":"root","x":"{}';
    // Just under the 8 KiB request line the gateway takes (a longer one is 414 at the HTTP layer).
    const long = '/lbl/' + 'L'.repeat(8_000);
    const paths = [forged, long, '/lbl/%00%ff%c3%28/\u00e9'.replace('\u00e9', '%C3%A9'), '/nope/"}\\'];
    for (const path of paths)
      expect(await raw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Status: 418\r\nConnection: close\r\n\r\n`)).toMatch(
        /^HTTP\/1\.1 (418|404) /,
      );
    await settle();
    const lines = accessLines().slice(before);
    expect(lines).toHaveLength(paths.length);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.path)).toEqual(paths);
    const f = records[0]!;
    expect(f.status).toBe(418);
    expect(f.consumer).toBeNull();
    expect(f.x).toBeUndefined();
    expect(f.component).toBe('access');
    // The longest line is bounded by the request line limit (8 KiB) plus the fixed fields.
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(8 * 1024 + 1024);
  });

  it('logs no credential: keys in a header or the query, Basic passwords and JWTs stay out of every log line', async () => {
    const basic = Buffer.from(`acme-user:${SECRETS.password}`).toString('base64');
    const wrongBasic = Buffer.from(`acme-user:${SECRETS.password}x`).toString('base64');
    const sends: Array<[string, Record<string, string>]> = [
      ['/keyed/a', { 'x-api-key': SECRETS.key }],
      [`/keyed/b?apikey=${SECRETS.key}&z=1`, {}],
      [`/keyed/c?apikey=${SECRETS.key}x`, {}],
      ['/keyed/d', { authorization: `Basic ${basic}` }],
      ['/keyed/e', { authorization: `Basic ${wrongBasic}` }],
      ['/keyed/f', { authorization: `Bearer ${SECRETS.jwt}` }],
    ];
    await settle();
    const before = accessLines().length;
    const statuses: number[] = [];
    for (const [path, headers] of sends) {
      const res = await t.get(path, { headers });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 401, 200, 401, 401]);
    await settle();
    const records = accessLines()
      .slice(before)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.consumer)).toEqual(['acme', 'acme', null, 'acme', null, null]);
    const everything = logLines.join('\n');
    for (const secret of [
      SECRETS.key,
      SECRETS.password,
      SECRETS.jwt,
      basic,
      wrongBasic,
      SECRETS.admin,
      namedTokenSecret,
    ])
      expect(everything.includes(secret), secret).toBe(false);
  });

  it('takes the client address from X-Forwarded-For only when it is an IP address', async () => {
    await settle();
    const before = accessLines().length;
    const xffs = ['203.0.113.9', '"}, {"evil":1', '203.0.113.10, not-an-ip', '1.2.3.4.5', `1.1.1.1${' '.repeat(3000)}`];
    for (const xff of xffs)
      await t.get('/lbl/xff', { headers: { 'x-forwarded-for': xff } }).then((r) => r.arrayBuffer());
    await settle();
    const ips = parsed()
      .slice(before)
      .map((r) => r.clientIp);
    expect(ips).toEqual(['203.0.113.9', '127.0.0.1', '127.0.0.1', '127.0.0.1', '1.1.1.1']);
  });

  it('HTTP/2 lets a client choose any token as the method, and it reaches the access log', async () => {
    const session = await h2Session(t.app.gatewayTls!.port, H2_HOST, cert.ca);
    try {
      await settle();
      const before = accessLines().length;
      const method = `ZQ${'M'.repeat(8_000)}`;
      const answer = await h2Request(session, { ':method': method, ':path': '/lbl/h2', ':authority': H2_HOST });
      expect(answer.error).toBeNull();
      await settle();
      const records = parsed().slice(before);
      expect(records.map((r) => r.method)).toEqual([method]);
    } finally {
      session.close();
    }
  });

  // Fixed: the access log kept every distinct (HTTP/2) method in its cache; values over 128 characters are no longer kept.
  it('keeps no unbounded memory for methods clients choose', async () => {
    const lines: string[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({ write: (c, _e, done) => (lines.push(String(c).slice(0, 10)), done()) }),
    );
    const access = AccessLog.of(log)!;
    const base = {
      path: '/p',
      clientIp: '127.0.0.1',
      consumer: null,
      api: null,
      node: null,
      status: 404,
      code: 'ROUTE_NOT_FOUND',
      tries: 0,
      upstreamError: null,
      ms: 1,
      upstreamMs: 0,
      selector: 'none',
      selectorUs: 0,
      version: 1,
      tls: true,
      proto: 'h2',
    };
    const filler = 'M'.repeat(8 * 1024);
    for (let i = 0; i < 4_000; i++) access.write({ ...base, method: `${filler}${i}` });
    access.flush();
    // What the access log holds on to once every line was handed over.
    const known = (access as unknown as { names: { known: Map<string, string> } }).names.known;
    let chars = 0;
    for (const [k, v] of known) chars += k.length + v.length;
    expect(chars).toBeLessThan(1024 * 1024);
  });
});

describe('a viewer token against the secret-revealing and write surfaces', () => {
  const asViewer = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(t.adminUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${namedTokenSecret}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  };
  const keyBody = () => cert.privateKey.split('\n').find((l) => l.length > 40)!;
  const secrets = () => [SECRETS.key, SECRETS.password, SECRETS.jwt, keyBody(), 'PRIVATE KEY', SECRETS.admin];

  it('never gets secrets from the export, whatever the query says, and reads everything else without them', async () => {
    for (const q of ['secrets=true', 'secrets=%74rue', 'format=yaml&secrets=true', 'secrets=true&format=json']) {
      const res = await asViewer('GET', `/admin/config/export?${q}`);
      expect(res.status, q).toBe(403);
      expect(res.text).toContain('FORBIDDEN');
    }
    for (const q of [
      'secrets=true&secrets=true',
      'secrets=TRUE',
      'secrets[]=true',
      'Secrets=true',
      'secrets=true%00',
    ]) {
      const res = await asViewer('GET', `/admin/config/export?${q}`);
      expect([400, 403], q).toContain(res.status);
      for (const secret of secrets()) expect(res.text.includes(secret), `${q}: ${secret}`).toBe(false);
    }
    expect((await asViewer('HEAD', '/admin/config/export?secrets=true')).status).toBe(403);
    for (const path of [
      '/admin/config/export',
      '/admin/config/export?format=yaml',
      '/admin/consumers',
      '/admin/certificates',
      `/admin/apis/${keyedApi}`,
      '/admin/audit?limit=500',
      '/admin/apis',
    ]) {
      const res = await asViewer('GET', path);
      expect(res.status, path).toBe(200);
      for (const secret of secrets()) expect(res.text.includes(secret), `${path}: ${secret}`).toBe(false);
    }
    // Token management and secrets stay an admin's.
    expect((await asViewer('GET', '/admin/tokens')).status).toBe(403);
  });

  it("explains a sample request with the consumer's key but hands the selector and the answer no credential", async () => {
    const basic = Buffer.from(`acme-user:${SECRETS.password}`).toString('base64');
    for (const headers of [{ 'x-api-key': SECRETS.key }, { authorization: `Basic ${basic}` }]) {
      // Testing code of one's own is an editor's (a viewer tests the saved selector): the admin token here.
      const res = await t.admin('POST', `/admin/apis/${keyedApi}/selector/test`, {
        request: { path: '/keyed/x', headers, query: { apikey: SECRETS.key } },
        selector: {
          code: 'function select(request, env, nodes) { console.log(JSON.stringify(request)); return nodes; }',
        },
      });
      const text = JSON.stringify(res.body);
      expect(res.status, text).toBe(200);
      const body = res.body;
      expect(body.access.auth.consumer).toEqual({ name: 'acme', tags: ['paying'] });
      expect(body.selector.console.join('\n')).toContain('"consumer"');
      for (const secret of [SECRETS.key, SECRETS.password, basic]) expect(text.includes(secret), secret).toBe(false);
    }
  });

  it('writes nothing and no audit entry for a write it is refused, and every admin write is audited without a secret', async () => {
    const auditTop = async () => (await t.admin('GET', '/admin/audit?limit=1')).body.entries[0]?.id ?? 0;
    const top = await auditTop();
    const refused = [
      await asViewer('POST', '/admin/tokens', { name: 'sneaky', role: 'admin' }),
      await asViewer('PATCH', `/admin/apis/${hostileApi}/nodes/${hostileNode}`, { enabled: false }),
      await asViewer('PUT', '/admin/variables/VIEWER_flag', { value: 'x' }),
      await asViewer('POST', '/admin/config/apply', { isogate: 1 }),
      await asViewer('POST', '/admin/audit/revert?dryRun=true', { version: 1 }),
      await asViewer('POST', `/admin/apis/${hostileApi}/selector/restart`),
    ];
    expect(refused.map((r) => r.status)).toEqual([403, 403, 403, 403, 403, 403]);
    expect(await auditTop()).toBe(top);

    // Writes an admin makes on kinds the other tests cover less: tokens, selector restart and delete, credentials.
    const made = await t.admin('POST', '/admin/tokens', { name: 'audit-probe', role: 'operator' });
    expect(made.status).toBe(201);
    expect((await t.admin('PATCH', `/admin/tokens/${made.body.id}`, { role: 'viewer' })).status).toBe(200);
    expect((await t.admin('DELETE', `/admin/tokens/${made.body.id}`)).status).toBe(204);
    expect((await t.admin('POST', `/admin/apis/${hostileApi}/selector/restart`)).status).toBe(200);
    const consumers = (await t.admin('GET', '/admin/consumers')).body as Array<{ id: string; name: string }>;
    const acme = consumers.find((c) => c.name === 'acme')!;
    const cred = await t.admin('POST', `/admin/consumers/${acme.id}/credentials`, { kind: 'key' });
    expect(cred.status).toBe(201);
    const generated: string = cred.body.secret;
    expect(generated.length).toBeGreaterThanOrEqual(24);
    const page = await t.admin('GET', `/admin/audit?limit=500`);
    const fresh = (page.body.entries as Array<Record<string, any>>).filter((e) => e.id > top);
    const seen = fresh.map((e) => `${e.op} ${e.kind}`).sort();
    // The restart is an update of its API; a new credential an update of its consumer.
    expect(seen).toEqual(['create token', 'delete token', 'update api', 'update consumer', 'update token']);
    const text = JSON.stringify(fresh);
    for (const secret of [made.body.secret, generated, SECRETS.key, SECRETS.jwt])
      expect(text.includes(secret), secret).toBe(false);
    expect(fresh.every((e) => e.actor.name === 'admin-token')).toBe(true);
  });
});

describe('a flood of idle connections on the status port (built CLI, ulimit -n 1024)', () => {
  const TOKEN = 'status-flood-token-0123456789';
  const FILES = 1024;
  const procs = new IsogateProcesses(TOKEN);
  const flood: Socket[] = [];
  let gw: IsogateProcess;

  afterAll(async () => {
    for (const s of flood) s.destroy();
    await procs.stopAll();
  });

  /** Opens `n` connections, 100 at a time (each wait bounded to 5 s); resolves with how many connected. */
  async function openFlood(port: number, n: number): Promise<number> {
    let connected = 0;
    for (let at = 0; at < n; at += 100) {
      await Promise.all(
        Array.from(
          { length: Math.min(100, n - at) },
          () =>
            new Promise<void>((resolve) => {
              const s = connect({ host: '127.0.0.1', port });
              flood.push(s);
              const timer = setTimeout(resolve, 5_000);
              s.on('error', () => (clearTimeout(timer), resolve()));
              s.once('connect', () => {
                connected++;
                clearTimeout(timer);
                resolve();
              });
            }),
        ),
      );
    }
    return connected;
  }

  // Fixed: the status port held any number of connections (a flood used up the process's files); now 64, the oldest idle one making room.
  it('leaves the gateway port serving other clients', async () => {
    const { execSync } = await import('node:child_process');
    const own = Number(execSync('sh -c "ulimit -n"').toString().trim());
    expect(own, 'the test needs room for its own end of the flood').toBeGreaterThan(FILES + 200 + 512);
    const ups = await startUpstreams(['a']);
    try {
      gw = await procs.start('start', ['--workers', '0', '--no-demo'], { openFiles: FILES });
      const call = adminClient(() => gw.admin, TOKEN);
      const api = await call('POST', '/admin/apis', { name: 'f', path: '/f', algorithm: 'round_robin' });
      await call('POST', `/admin/apis/${api.id}/nodes`, {
        name: 'a',
        connector: { kind: 'simple-url', url: ups[0]!.url },
      });
      expect(await requestOnce(gw.gateway, '/f')).toBe('a');

      const connected = await openFlood(gw.status, FILES + 200);
      expect(connected).toBeGreaterThan(0);
      await sleep(500);
      const outcomes: string[] = [];
      for (let i = 0; i < 5; i++)
        outcomes.push(await requestOnce(gw.gateway, '/f').catch((e: Error) => `error:${e.message}`));
      expect(outcomes).toEqual(['a', 'a', 'a', 'a', 'a']);
      // And the status port still answers a load balancer's probe.
      const ready = await fetch(`http://127.0.0.1:${gw.status}/status/ready`, { signal: AbortSignal.timeout(3_000) })
        .then((r) => r.status)
        .catch((e: Error) => `error:${e.message}`);
      expect(ready).toBe(200);
    } finally {
      for (const s of flood) s.destroy();
      await Promise.all(ups.map((u) => u.close()));
    }
  }, 90_000);
});
