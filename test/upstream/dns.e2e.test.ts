import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa } from '../helpers/certs.js';
import { CLI } from '../helpers/cluster.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { adminClient, freePort, until } from '../helpers/processes.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';
import { startWsUpstream, type WsUpstream } from '../helpers/ws-upstreams.js';
import WebSocket from 'ws';

// Node names through the built gateway (`dist/src/cli.js start`), resolved by c-ares against a real
// DNS server on 127.0.0.1 (`--dns-server`): one query for a burst of first connections, the last
// addresses serving new connections while the DNS server is silent, a name it does not know failing
// as a connect failure whose reason names DNS, IP-literal nodes untouched, and the metrics.

const TOKEN = 'test-token-0123456789abcdef';
let dns: TestDnsServer;
let closing: { server: Server; port: number; connections: number };
let ipNode: TestUpstream;
let wsNode: WsUpstream;
let gateway: ChildProcess;
let ca: TestCa;
/** An https node whose certificate names `secure.test` only (issued by a CA the gateway is told to trust). */
let secure: { server: Server; port: number; servernames: string[] };
let dataDir: string;
let out = '';
const ports = { gateway: 0, admin: 0, status: 0 };
const admin = adminClient(() => ports.admin, TOKEN);

/** An upstream that closes every connection after its answer: each request needs a new connection. */
async function closingUpstream(): Promise<typeof closing> {
  const up = { server: null as unknown as Server, port: 0, connections: 0 };
  up.server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'x-node': 'svc', connection: 'close' });
    res.end('ok');
  });
  up.server.on('connection', () => up.connections++);
  await new Promise<void>((r) => up.server.listen(0, '127.0.0.1', r));
  up.port = (up.server.address() as AddressInfo).port;
  return up;
}

/** One GET on a new client connection: the answering node, else the gateway error code, else the status. */
function get(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: ports.gateway, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.headers['x-node'] ?? res.headers['x-isogate-error'] ?? res.statusCode)));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.end();
  });
}

/** Creates an API `/name/*` with one node at `nodeUrl`; returns the API's id. */
async function api(name: string, nodeUrl: string, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await admin('POST', '/admin/apis', { name, path: `/${name}/*`, algorithm: 'round_robin', ...extra });
  await admin('POST', `/admin/apis/${created.id}/nodes`, {
    name: `${name}-node`,
    connector: { kind: 'simple-url', url: nodeUrl },
  });
  return created.id;
}

/** The access log lines written so far for requests under `/name/`. */
function accessLines(name: string): Array<{ status: number; code: string | null; upstreamError: string | null }> {
  return out
    .split('\n')
    .filter((l) => l.includes(`"path":"/${name}/`))
    .map((l) => JSON.parse(l));
}

async function metric(line: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${ports.status}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

beforeAll(async () => {
  dns = await startDnsServer();
  closing = await closingUpstream();
  ipNode = await startUpstream('ip');
  wsNode = await startWsUpstream('ws');
  dns.set('svc.test', ['127.0.0.1'], 1);
  dns.set('burst.test', ['127.0.0.1'], 300);
  Object.assign(ports, { gateway: await freePort(), admin: await freePort(), status: await freePort() });
  dataDir = mkdtempSync(join(tmpdir(), 'isogate-dns-'));
  ca = new TestCa();
  const caFile = join(dataDir, 'test-ca.pem');
  writeFileSync(caFile, ca.cert);
  const leaf = ca.issue(['secure.test']);
  const servernames: string[] = [];
  const https = createHttpsServer({ cert: leaf.certificate, key: leaf.privateKey }, (req, res) => {
    servernames.push((req.socket as TLSSocket).servername || '');
    res.writeHead(200, { 'x-node': 'secure' });
    res.end('ok');
  });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  secure = { server: https as unknown as Server, port: (https.address() as AddressInfo).port, servernames };
  dns.set('secure.test', ['127.0.0.1']);
  // prettier-ignore
  const args = [
    '--no-node-snapshot', CLI, 'start', '--data-dir', dataDir, '--no-demo', '--workers', '0', '--poll-ms', '200',
    '--gateway-host', '127.0.0.1', '--gateway-port', String(ports.gateway), '--admin-port', String(ports.admin),
    '--status-host', '127.0.0.1', '--status-port', String(ports.status), '--log-level', 'info',
    '--dns-server', dns.address, '--dns-valid-ms', '1000', '--dns-stale-ms', '120000', '--dns-timeout-ms', '500',
  ];
  gateway = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, ISOGATE_ADMIN_TOKEN: TOKEN, NODE_EXTRA_CA_CERTS: caFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  gateway.stdout!.on('data', (c: Buffer) => {
    if (out.length < 5_000_000) out += c.toString();
  });
  gateway.stderr!.on('data', (c: Buffer) => {
    if (out.length < 5_000_000) out += c.toString();
  });
  await until(
    () => fetch(`http://127.0.0.1:${ports.status}/status/ready`).then((r) => r.status),
    (s) => s === 200,
    600,
    50,
  );
  await api('svc', `http://svc.test:${closing.port}`);
  await api('burst', `http://burst.test:${closing.port}`);
  await api('ip', ipNode.url);
  await api('missing', `http://missing.test:${closing.port}`);
  await until(
    () => get('/ip/x'),
    (who) => who === 'ip',
  );
});

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((r) => gateway.once('exit', r));
    gateway.kill('SIGTERM');
    await exited;
  }
  await dns?.close();
  closing?.server.close();
  closing?.server.closeAllConnections();
  await ipNode?.close();
  await wsNode?.close();
  secure?.server.close();
  ca?.dispose();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('node names through the gateway (--dns-server)', () => {
  // Names only the test DNS server knows: the system's getaddrinfo could not have found them.
  it('a WebSocket upgrade and active health probes reach a named node', async () => {
    dns.set('ws.test', ['127.0.0.1']);
    dns.set('probe.test', ['127.0.0.1']);
    await api('ws', `http://ws.test:${wsNode.port}`);
    const probed = await api('probed', `http://probe.test:${ipNode.port}`, {
      health: { active: { path: '/health', intervalMs: 200, timeoutMs: 200 } },
    });
    const hello = await until(
      () =>
        new Promise<string>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${ports.gateway}/ws/chat`);
          ws.once('message', (data: Buffer) => {
            resolve(data.toString());
            ws.close();
          });
          ws.once('error', reject);
        }),
      (text) => text === 'hello ws',
    );
    expect(hello).toBe('hello ws');
    expect(dns.queries('ws.test', 'A')).toBe(1);
    const health = await until(
      () => admin('GET', `/admin/apis/${probed}/health`),
      (h: any) => h.nodes?.[0]?.lastProbe?.ok === true || h[0]?.lastProbe?.ok === true,
    );
    expect(JSON.stringify(health)).toContain('"ok":true');
    expect(dns.queries('probe.test', 'A')).toBeGreaterThanOrEqual(1);
  });

  it('an https node reached by a name only the DNS server knows: connected by address, verified and sent SNI by name', async () => {
    await api('secure', `https://secure.test:${secure.port}`);
    expect(await get('/secure/x')).toBe('secure');
    expect(secure.servernames).toContain('secure.test');
    expect(dns.queries('secure.test', 'A')).toBeGreaterThanOrEqual(1);
  });

  it('a request to a named node reaches it', async () => {
    expect(await get('/svc/a')).toBe('svc');
    expect(dns.queries('svc.test', 'A')).toBeGreaterThanOrEqual(1);
  });

  it('concurrent first connections to a name cause one query', async () => {
    expect(dns.queries('burst.test')).toBe(0);
    const before = closing.connections;
    const resolved = await metric('isogate_dns_lookups_total{outcome="resolved"}');
    dns.delayMs = 100; // every connection of the burst is waiting when the answer comes
    try {
      const answers = await Promise.all(Array.from({ length: 16 }, () => get('/burst/x')));
      expect(answers).toEqual(Array(16).fill('svc'));
    } finally {
      dns.delayMs = 0;
    }
    expect(closing.connections - before).toBe(16); // each its own new connection to the node
    expect(dns.queries('burst.test', 'A')).toBe(1);
    expect((await metric('isogate_dns_lookups_total{outcome="resolved"}')) - resolved).toBe(16);
  });

  it('while the DNS server is silent, new connections to a name it answered before keep succeeding', async () => {
    expect(await get('/svc/b')).toBe('svc');
    dns.mode = 'silent';
    try {
      const before = closing.connections;
      const silentFrom = dns.queries('svc.test', 'A');
      // Past its validity (TTL 1 s here), for longer than a lookup may take: refreshes time out.
      await new Promise((r) => setTimeout(r, 1_200));
      const answers: string[] = [];
      for (let i = 0; i < 8; i++) {
        answers.push(await get('/svc/c'));
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(answers).toEqual(Array(8).fill('svc'));
      expect(closing.connections - before).toBe(8);
      expect(dns.queries('svc.test', 'A')).toBeGreaterThan(silentFrom); // it did try to refresh
      expect(await metric('isogate_dns_lookups_total{outcome="stale"}')).toBeGreaterThan(0);
      // An API on an IP literal answers meanwhile, and never asks the DNS server.
      const asked = dns.queries();
      for (let i = 0; i < 5; i++) expect(await get('/ip/y')).toBe('ip');
      expect(dns.queries()).toBe(asked);
      // A name never answered, with the server silent: a connect failure within the lookup bound.
      expect(await get('/missing/z')).toBe('UPSTREAM_CONNECT_FAILED');
    } finally {
      dns.mode = 'answer';
    }
  });

  it('a name the DNS server does not know is 502 UPSTREAM_CONNECT_FAILED, the access log naming DNS', async () => {
    // Just after the silent test's failure, the failure is answered again without a query (the
    // negative cache, for min(--dns-valid-ms, 5 s): 1 s here)…
    const asked = dns.queries('missing.test');
    expect(await get('/missing/v')).toBe('UPSTREAM_CONNECT_FAILED');
    expect(dns.queries('missing.test')).toBe(asked);
    // …then the next connection asks again, and the server says NXDOMAIN.
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await get('/missing/w')).toBe('UPSTREAM_CONNECT_FAILED');
    expect(dns.queries('missing.test')).toBeGreaterThan(asked);
    await until(
      async () => accessLines('missing'),
      (lines) => lines.length >= 3,
    );
    const lines = accessLines('missing');
    expect(lines.map((l) => [l.status, l.code, l.upstreamError])).toEqual([
      [502, 'UPSTREAM_CONNECT_FAILED', 'DNS_TIMEOUT'],
      [502, 'UPSTREAM_CONNECT_FAILED', 'DNS_TIMEOUT'],
      [502, 'UPSTREAM_CONNECT_FAILED', 'DNS_NOT_FOUND'],
    ]);
    expect(out).toContain('DNS lookup failed');
    expect(await metric('isogate_dns_lookups_total{outcome="failed"}')).toBe(3);
    expect(await metric('isogate_dns_queries_total{result="not_found"}')).toBeGreaterThanOrEqual(1);
  });
});
