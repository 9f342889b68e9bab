import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa, type TestCertificate } from '../../helpers/certs.js';
import { addNode, createApi, setSelector } from '../../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';
import { handshake, httpsGet } from '../../helpers/tls-client.js';
import { startUpstreams, type TestUpstream } from '../../helpers/upstreams.js';
import { startWsUpstream } from '../../helpers/ws-upstreams.js';
import WebSocket from 'ws';

// The TLS port end to end, in one process (--workers 0): certificates made at test time by a private
// CA, uploaded through the admin API, picked per handshake by SNI.
let t: TestGateway;
let ups: TestUpstream[];
let ca: TestCa;
let tlsPort: number;
const logLines: string[] = [];
const certs: Record<string, TestCertificate> = {};

beforeAll(async () => {
  ca = new TestCa();
  certs.exact = ca.issue(['a.test', '*.b.test']);
  certs.other = ca.issue(['fallback.test']);
  certs.replacement = ca.issue(['a.test', '*.b.test']);
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  t = await startTestGateway(['--gateway-tls-port', '0'], {}, pino({ level: 'info' }, sink));
  tlsPort = t.app.gatewayTls!.port;
  ups = await startUpstreams(['plain', 'secure']);
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  ca?.dispose();
});

async function upload(cert: TestCertificate, isDefault?: boolean): Promise<{ status: number; body: any }> {
  return t.admin('POST', '/admin/certificates', {
    certificate: cert.certificate,
    privateKey: cert.privateKey,
    ...(isDefault === undefined ? {} : { isDefault }),
  });
}

/** A plain request with the given headers (fetch would not send its own Host). */
function plainRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${t.gatewayUrl}${path}`, { method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the TLS port', () => {
  it('refuses handshakes while no certificate exists', async () => {
    const h = await handshake(tlsPort, 'a.test');
    expect(h.ok).toBe(false);
    expect((await handshake(tlsPort, undefined)).ok).toBe(false);
  });

  it('picks the certificate by SNI: exact name, then wildcard one label up, then the default', async () => {
    const a = await upload(certs.exact!);
    expect(a.status).toBe(201);
    // The only certificate is the default until another is marked.
    expect(a.body.servesAsDefault).toBe(true);
    const fallback = await upload(certs.other!, true);
    expect(fallback.status).toBe(201);
    expect((await t.admin('GET', `/admin/certificates/${a.body.id}`)).body.servesAsDefault).toBe(false);

    const exact = await handshake(tlsPort, 'a.test');
    expect(exact.san).toBe('DNS:a.test, DNS:*.b.test');
    expect((await handshake(tlsPort, 'x.b.test')).san).toBe('DNS:a.test, DNS:*.b.test');
    expect((await handshake(tlsPort, 'A.TEST')).san).toBe('DNS:a.test, DNS:*.b.test');
    // A wildcard covers one label only (RFC 6125 §6.4.3).
    expect((await handshake(tlsPort, 'y.x.b.test')).san).toBe('DNS:fallback.test');
    expect((await handshake(tlsPort, 'b.test')).san).toBe('DNS:fallback.test');
    expect((await handshake(tlsPort, 'unknown.test')).san).toBe('DNS:fallback.test');
    // No SNI at all (a client that dials an IP address).
    expect((await handshake(tlsPort, undefined)).san).toBe('DNS:fallback.test');
  });

  it('speaks TLS 1.2 and 1.3, not older, with forward-secret suites', async () => {
    const v13 = await handshake(tlsPort, 'a.test');
    expect(v13.protocol).toBe('TLSv1.3');
    const v12 = await handshake(tlsPort, 'a.test', { maxVersion: 'TLSv1.2' });
    expect(v12.protocol).toBe('TLSv1.2');
    const v11 = await handshake(tlsPort, 'a.test', {
      maxVersion: 'TLSv1.1',
      minVersion: 'TLSv1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    expect(v11.ok).toBe(false);
    const rsaKx = await handshake(tlsPort, 'a.test', { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' });
    expect(rsaKx.ok).toBe(false);
  });

  it('resumes sessions with tickets (TLS 1.2 and 1.3)', async () => {
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const first = await handshake(tlsPort, 'a.test', { maxVersion });
      expect(first.session, maxVersion).not.toBeNull();
      const again = await handshake(tlsPort, 'a.test', { maxVersion, session: first.session! });
      expect(again.reused, maxVersion).toBe(true);
    }
  });

  it('serves HTTPS through the lifecycle: X-Forwarded-Proto https, request.tls for the selector, tls in the access log', async () => {
    const id = await createApi(t, { name: 'secure', path: '/secure/*', algorithm: 'round_robin', retries: 0 });
    await addNode(t, id, ups[0]!, { tags: ['plain'] });
    await addNode(t, id, ups[1]!, { tags: ['tls'] });
    await setSelector(t, id, {
      code: 'function select(request, env, nodes) { return nodes.filter((n) => n.tags.includes(request.tls ? "tls" : "plain")); }',
    });
    const res = await httpsGet(tlsPort, 'a.test', '/secure/x?y=1', certs.exact!.ca);
    expect(res.status).toBe(200);
    expect(res.headers['x-node']).toBe('secure');
    expect(ups[1]!.last?.headers['x-forwarded-proto']).toBe('https');
    expect(ups[1]!.last?.url).toBe('/secure/x?y=1');
    const plain = await fetch(`${t.gatewayUrl}/secure/x`);
    expect(plain.headers.get('x-node')).toBe('plain');
    expect(ups[0]!.last?.headers['x-forwarded-proto']).toBe('http');
    await new Promise((r) => setTimeout(r, 250)); // the access log flushes within 100 ms
    const lines = logLines.map((l) => JSON.parse(l)).filter((l) => l.component === 'access' && l.api === 'secure');
    expect(lines.map((l) => [l.node, l.tls, l.proto])).toEqual([
      ['secure', true, 'http/1.1'],
      ['plain', false, 'http/1.1'],
    ]);
  });

  it('carries WebSockets over TLS (wss), the node told X-Forwarded-Proto https', async () => {
    const node = await startWsUpstream('wss-node');
    try {
      const id = await createApi(t, { name: 'wss', path: '/wss', algorithm: 'round_robin' });
      await addNode(t, id, node);
      const ws = new WebSocket(`wss://127.0.0.1:${tlsPort}/wss`, {
        ca: certs.exact!.ca,
        servername: 'a.test',
        headers: { host: 'a.test' },
      } as WebSocket.ClientOptions);
      const hello = await new Promise<string>((resolve, reject) => {
        ws.once('message', (d) => resolve(String(d)));
        ws.once('error', reject);
      });
      expect(hello).toBe('hello wss-node');
      ws.send('over tls');
      expect(await new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))))).toBe('over tls');
      expect(node.seen.at(-1)!.headers['x-forwarded-proto']).toBe('https');
      ws.close();
    } finally {
      await node.close();
    }
  });

  it('redirects plain HTTP to HTTPS for an API that asks for it (301 for GET, 308 otherwise) and serves it over TLS', async () => {
    const id = await createApi(t, {
      name: 'redirect',
      path: '/only-tls/*',
      algorithm: 'round_robin',
      httpsRedirect: true,
    });
    await addNode(t, id, ups[0]!);
    const get = await plainRequest('GET', '/only-tls/a?b=1', { host: 'Shop.test:8080' });
    expect(get.status).toBe(301);
    expect(get.headers.location).toBe(`https://shop.test:${tlsPort}/only-tls/a?b=1`);
    const post = await fetch(`${t.gatewayUrl}/only-tls/a`, { method: 'POST', body: 'x', redirect: 'manual' });
    expect(post.status).toBe(308);
    expect((await httpsGet(tlsPort, 'a.test', '/only-tls/a', certs.exact!.ca)).status).toBe(200);
    expect((await t.admin('PATCH', `/admin/apis/${id}`, { httpsRedirect: 'yes' })).status).toBe(400);
  });

  it('a replaced certificate serves the next handshake; a deleted one falls back to the default', async () => {
    const list = (await t.admin('GET', '/admin/certificates')).body as Array<{ id: string; names: string[] }>;
    const exact = list.find((c) => c.names.includes('a.test'))!;
    const before = (await handshake(tlsPort, 'a.test')).fingerprint;
    const put = await t.admin('PUT', `/admin/certificates/${exact.id}`, {
      certificate: certs.replacement!.certificate,
      privateKey: certs.replacement!.privateKey,
    });
    expect(put.status).toBe(200);
    const after = (await handshake(tlsPort, 'a.test')).fingerprint;
    expect(after).not.toBe(before);
    expect(after).toBe(put.body.fingerprint);
    expect((await t.admin('DELETE', `/admin/certificates/${exact.id}`)).status).toBe(204);
    expect((await handshake(tlsPort, 'a.test')).san).toBe('DNS:fallback.test');
  });

  it('never writes a private key to the log', () => {
    for (const cert of Object.values(certs)) {
      const body = cert.privateKey.split('\n')[1]!;
      expect(logLines.some((l) => l.includes(body))).toBe(false);
    }
  });
});
