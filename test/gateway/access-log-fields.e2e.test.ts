/**
 * `--access-log-fields query,host,user-agent,referer` end to end: a real `isogate start` (one gateway
 * worker, the TLS port on), a real upstream on 127.0.0.1, an API with key auth reading its key from a
 * query parameter, requests over HTTP/1.1 and HTTP/2, and the access log read from the process's
 * stdout. The key and the fixed-list credentials show as `[redacted]` and nowhere else in the output,
 * a long User-Agent is cut to 512 characters, hostile bytes leave one parseable line per request, and
 * without the flag the line has none of the new keys.
 */
import type { ClientHttp2Session } from 'node:http2';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa, type TestCertificate } from '../helpers/certs.js';
import { IsogateProcesses, type IsogateProcess } from '../helpers/cluster.js';
import { h2Request, h2Session } from '../helpers/h2-client.js';
import { adminClient, freePort, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const TOKEN = 'access-log-fields-token-0123456789';
const H2_HOST = 'h2.test';
const FIELDS = ['query', 'host', 'userAgent', 'referer', 'truncated'];
/** The keys of a line without the flag, in order: today's line, unchanged. */
const PLAIN_KEYS = [
  'level',
  'time',
  'pid',
  'component',
  'method',
  'path',
  'clientIp',
  'consumer',
  'api',
  'node',
  'status',
  'code',
  'tries',
  'upstreamError',
  'ms',
  'upstreamMs',
  'selector',
  'selectorUs',
  'version',
  'tls',
  'proto',
];
const ACCESS_TOKEN = 'at-9f8e7d6c5b4a-s3cr3t';
const REFERER_TOKEN = 'ref-0a1b2c3d4e5f-s3cr3t';

const procs = new IsogateProcesses(TOKEN);
let ups: TestUpstream[] = [];
let ca: TestCa;
let cert: TestCertificate;
let gw: IsogateProcess;
let plain: IsogateProcess;
let tlsPort = 0;
const apiKey = 'tenant-key-0123456789abcdefghij';
let session: ClientHttp2Session | null = null;
/** What each process wrote to stdout, whole. */
const out = new Map<IsogateProcess, string>();

function collect(p: IsogateProcess): void {
  out.set(p, '');
  p.child.stdout!.on('data', (chunk: Buffer) => out.set(p, out.get(p)! + chunk.toString('utf8')));
}

type Line = Record<string, unknown>;

/** Every access-log line of `p` whose path is `path`, once at least one was written (lines are flushed every 100 ms). */
async function linesFor(p: IsogateProcess, path: string): Promise<Line[]> {
  const find = async () =>
    out
      .get(p)!
      .split('\n')
      .filter((l) => l.includes('"component":"access"'))
      .map((l) => JSON.parse(l) as Line)
      .filter((l) => l.path === path);
  return until(find, (found) => found.length > 0, 100, 50);
}

/** One HTTP/1.1 GET on its own connection with `headers`; resolves with the status. */
function get(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One raw HTTP/1.1 request (`head` as bytes, exactly); resolves with the status. */
function raw(port: number, head: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    let data = '';
    socket.on('data', (c: Buffer) => {
      data += c.toString('latin1');
      if (data.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(data.split(' ')[1])));
  });
}

/** The target of a request that carries the key, an ordinary parameter, the canary's and a fixed-list credential. */
function target(path: string): string {
  return `${path}?select_code=temp_node&tenant-key=${apiKey}&Access%5FToken=${ACCESS_TOKEN}&page=2`;
}
const expectedQuery = 'select_code=temp_node&tenant-key=[redacted]&Access%5FToken=[redacted]&page=2';
const referer = `https://shop.test/cart?id=7&access_token=${REFERER_TOKEN}`;
const longAgent = `agent/${'x'.repeat(1994)}`;

beforeAll(async () => {
  ups = await startUpstreams(['a']);
  ca = new TestCa();
  cert = ca.issue([H2_HOST]);
  tlsPort = await freePort();
  gw = await procs.start(
    'start',
    [
      '--workers',
      '1',
      '--no-demo',
      '--gateway-tls-port',
      String(tlsPort),
      '--access-log-fields',
      'query,host,user-agent,referer',
    ],
    { stdout: 'pipe', accessLog: true },
  );
  collect(gw);
  plain = await procs.start('start', ['--workers', '0', '--no-demo'], { stdout: 'pipe', accessLog: true });
  collect(plain);
  for (const p of [gw, plain]) {
    const call = adminClient(() => p.admin, TOKEN);
    const consumer = await call('POST', '/admin/consumers', {
      name: 'acme',
      credentials: [{ kind: 'key', key: apiKey }],
    });
    expect(consumer.name).toBe('acme');
    const api = await call('POST', '/admin/apis', {
      name: 'k',
      path: '/k/*',
      algorithm: 'round_robin',
      access: { auth: { methods: [{ kind: 'key', header: null, query: 'tenant-key' }] } },
    });
    const node = await call('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'a',
      connector: { kind: 'simple-url', url: ups[0]!.url },
    });
    expect(node.id).toBeTypeOf('string');
  }
  const stored = await adminClient(() => gw.admin, TOKEN)('POST', '/admin/certificates', {
    certificate: cert.certificate,
    privateKey: cert.privateKey,
  });
  expect(stored.id).toBeTypeOf('string');
  session = await until(
    () => h2Session(tlsPort, H2_HOST, cert.ca),
    () => true,
  );
}, 60_000);

afterAll(async () => {
  session?.close();
  await procs.stopAll();
  await Promise.all(ups.map((u) => u.close()));
  ca?.dispose();
});

/** The whole output of `p` (stdout and stderr), parsed line by line: every line must be JSON. */
function everyLine(p: IsogateProcess): Line[] {
  const text = out.get(p)!;
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

describe('--access-log-fields over HTTP/1.1', () => {
  it('logs the query with the key and a fixed-list name redacted, the host, a bounded user agent and a redacted referer', async () => {
    expect(await get(gw.gateway, target('/k/one'), { 'user-agent': longAgent, referer })).toBe(200);
    // The node got the query without the key (the gateway strips it), the fixed-list name as sent.
    expect(ups[0]!.last!.url).toBe(`/k/one?select_code=temp_node&Access%5FToken=${ACCESS_TOKEN}&page=2`);
    const [line, ...more] = await linesFor(gw, '/k/one');
    expect(more).toHaveLength(0);
    expect(line).toMatchObject({
      status: 200,
      consumer: 'acme',
      proto: 'http/1.1',
      query: expectedQuery,
      host: '127.0.0.1',
      referer: 'https://shop.test/cart?id=7&access_token=[redacted]',
      truncated: ['userAgent'],
    });
    const agent = line!.userAgent as string;
    expect(agent).toHaveLength(512);
    expect(agent).toBe(`${longAgent.slice(0, 511)}…`);
    expect(Object.keys(line!).slice(0, PLAIN_KEYS.length)).toEqual(PLAIN_KEYS);
  });

  it('logs a request without query, user agent or referer with those fields null and nothing truncated', async () => {
    expect(await raw(gw.gateway, Buffer.from('GET /k/bare HTTP/1.1\r\nHost: API.Test:8080\r\n\r\n'))).toBe(401);
    const [line] = await linesFor(gw, '/k/bare');
    expect(line).toMatchObject({ status: 401, query: null, host: 'api.test', userAgent: null, referer: null });
    expect(line).not.toHaveProperty('truncated');
  });

  it('keeps one parseable line per request whatever the query and headers hold (%0a, quotes, raw bytes)', async () => {
    const query = `q=%0a{"level":60}%0d%0a&r="x\\"&s=%22%7D%0A{"msg":"forged"}`;
    const head = Buffer.concat([
      Buffer.from(`GET /k/inject?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\n`, 'latin1'),
      // What the HTTP/1.1 parser lets through in a field value: tabs, quotes, backslashes, bytes past 0x7F (a C1 CSI among them).
      Buffer.from('User-Agent: a\t"b"\\c \x9b31m\xff\xe9}\r\nReferer: x"\r\n\r\n', 'latin1'),
    ]);
    expect(await raw(gw.gateway, head)).toBe(401);
    const lines = await linesFor(gw, '/k/inject');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ query, userAgent: 'a\t"b"\\c \x9b31m\xff\xe9}', referer: 'x"' });
    const text = out.get(gw)!;
    const rawLine = text.split('\n').find((l) => l.includes('"path":"/k/inject"'))!;
    // Printable ASCII only: the C1 control and the other bytes past 0x7F are written \u00XX.
    expect(rawLine).toMatch(/^[\x20-\x7e]+$/);
    expect(rawLine).toContain('\\u009b31m\\u00ff\\u00e9');
    expect(everyLine(gw).some((l) => l.level === 60 || l.msg === 'forged')).toBe(false);
  });
});

describe('--access-log-fields over HTTP/2', () => {
  it('logs the same fields for a stream, redacted and bounded', async () => {
    const answer = await h2Request(session!, {
      ':method': 'GET',
      ':path': target('/k/h2'),
      'user-agent': longAgent,
      referer,
    });
    expect(answer.error).toBeNull();
    expect(answer.status).toBe(200);
    const [line] = await linesFor(gw, '/k/h2');
    expect(line).toMatchObject({
      status: 200,
      consumer: 'acme',
      proto: 'h2',
      tls: true,
      query: expectedQuery,
      host: H2_HOST,
      referer: 'https://shop.test/cart?id=7&access_token=[redacted]',
      truncated: ['userAgent'],
    });
    expect(line!.userAgent).toBe(`${longAgent.slice(0, 511)}…`);
  });

  it('keeps one parseable line for a stream with %0a and quotes in its query and headers', async () => {
    const query = `q=%0a{"level":60}&r="x"`;
    const answer = await h2Request(session!, {
      ':method': 'GET',
      ':path': `/k/h2-inject?${query}`,
      'user-agent': 'a"b\\c\x01\x1b[31m',
    });
    expect(answer.status).toBe(401);
    const lines = await linesFor(gw, '/k/h2-inject');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ query, userAgent: 'a"b\\c\x01\x1b[31m' });
  });
});

describe('the whole output', () => {
  it('holds no credential anywhere, and every line of it is one JSON value', async () => {
    // Wait for the last line of the tests above, then read everything.
    await linesFor(gw, '/k/h2-inject');
    const lines = everyLine(gw);
    expect(lines.filter((l) => l.component === 'access').length).toBeGreaterThanOrEqual(5);
    const text = out.get(gw)! + gw.stderr();
    for (const secret of [apiKey, ACCESS_TOKEN, REFERER_TOKEN]) expect(text).not.toContain(secret);
  });
});

describe('without --access-log-fields', () => {
  it('writes the line as before: none of the new keys', async () => {
    expect(await get(plain.gateway, target('/k/plain'), { 'user-agent': longAgent, referer })).toBe(200);
    const [line] = await linesFor(plain, '/k/plain');
    expect(Object.keys(line!)).toEqual(PLAIN_KEYS);
    for (const key of FIELDS) expect(line).not.toHaveProperty(key);
    expect(out.get(plain)!).not.toContain('select_code');
  });
});
