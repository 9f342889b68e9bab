import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa, type TestCertificate } from '../../helpers/certs.js';
import { addNode, createApi } from '../../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';
import { handshake, httpsGet } from '../../helpers/tls-client.js';
import { startUpstreams, type TestUpstream } from '../../helpers/upstreams.js';

// An attacker's and a bad night's review of the TLS port and its certificates (--workers 0).
let ca: TestCa;
let ups: TestUpstream[];
const dir = mkdtempSync(join(tmpdir(), 'isogate-attack-'));
const certs: Record<string, TestCertificate> = {};

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed leaf for `name` made with the given key and digest options. */
function selfSigned(name: string, keyArgs: string[], digest = '-sha256'): TestCertificate {
  const key = join(dir, `${name}.key`);
  const pem = join(dir, `${name}.pem`);
  openssl('req', '-x509', ...keyArgs, '-nodes', '-keyout', key, '-out', pem, '-days', '30', digest,
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`);
  const leaf = readFileSync(pem, 'utf8');
  return { certificate: leaf, leaf, privateKey: readFileSync(key, 'utf8'), ca: leaf };
}

/** A leaf signed by its own RSA CA with SHA-1 (a legacy internal CA), chain leaf then CA. */
function sha1Signed(name: string): TestCertificate {
  const caKey = join(dir, 'sha1-ca.key');
  const caPem = join(dir, 'sha1-ca.pem');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', caPem, '-days', '30',
    '-subj', '/CN=legacy CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const pem = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=DNS:${name}\nbasicConstraints=CA:FALSE\n`);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', csr, '-CA', caPem, '-CAkey', caKey, '-set_serial', '7', '-days', '30', '-sha1',
    '-extfile', ext, '-out', pem);
  const leaf = readFileSync(pem, 'utf8');
  const caText = readFileSync(caPem, 'utf8');
  return { certificate: leaf + caText, leaf, privateKey: readFileSync(key, 'utf8'), ca: caText };
}

beforeAll(async () => {
  ca = new TestCa();
  certs.shop = ca.issue(['shop.test', '*.shop.test']);
  certs.other = ca.issue(['other.test']);
  certs.weakRsa = selfSigned('weak.test', ['-newkey', 'rsa:512']);
  certs.sha1 = sha1Signed('legacy.test');
  ups = await startUpstreams(['a']);
}, 60_000);

afterAll(async () => {
  await Promise.all((ups ?? []).map((u) => u.close()));
  ca?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const body = (c: TestCertificate) => ({ certificate: c.certificate, privateKey: c.privateKey });

/** A plain HTTP/1.1 request with exactly these headers and request target. */
function plainRequest(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Sends `bytes` raw to the port; resolves with what came back and how long until the server closed (bounded to 5 s). */
function rawExchange(port: number, bytes: Buffer | string): Promise<{ reply: Buffer; closedAfterMs: number | null }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    const socket = netConnect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks), closedAfterMs: null });
    }, 5_000);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks), closedAfterMs: performance.now() - started });
    });
  });
}

describe('certificates the TLS stack cannot load', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway(['--gateway-tls-port', '0']);
    expect((await t.admin('POST', '/admin/certificates', body(certs.shop!))).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('probe: what happens on upload of a 512-bit RSA and a SHA-1 signed leaf', async () => {
    const weak = await t.admin('POST', '/admin/certificates', body(certs.weakRsa!));
    console.log('weak', weak.status, JSON.stringify(weak.body));
    const sha1 = await t.admin('POST', '/admin/certificates', body(certs.sha1!));
    console.log('sha1', sha1.status, JSON.stringify(sha1.body));
    const id = await createApi(t, { name: 'after', path: '/after/*', algorithm: 'round_robin' });
    await addNode(t, id, ups[0]!);
    const res = await t.get('/after/x');
    console.log('after', res.status, res.headers.get('x-isogate-error'));
    console.log('hs shop', (await handshake(t.app.gatewayTls!.port, 'shop.test')).ok);
    console.log('hs weak', JSON.stringify(await handshake(t.app.gatewayTls!.port, 'weak.test')));
  });
});

describe('the TLS port at its edges', () => {
  let t: TestGateway;
  let tlsPort: number;
  beforeAll(async () => {
    t = await startTestGateway([
      '--gateway-tls-port',
      '0',
      '--max-client-connections-per-ip',
      '4',
      '--client-handshake-timeout-ms',
      '1000',
    ]);
    tlsPort = t.app.gatewayTls!.port;
    expect((await t.admin('POST', '/admin/certificates', body(certs.shop!))).status).toBe(201);
    expect((await t.admin('POST', '/admin/certificates', body(certs.other!))).status).toBe(201);
    const id = await createApi(t, { name: 'shop', host: '*.shop.test', path: '/r/*', algorithm: 'round_robin', httpsRedirect: true });
    await addNode(t, id, ups[0]!);
    const any = await createApi(t, { name: 'anyhost', path: '/any/*', algorithm: 'round_robin', httpsRedirect: true });
    await addNode(t, any, ups[0]!);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('probe SNI edges', async () => {
    for (const sni of ['a.shop.test.', 'A.SHOP.TEST', 'x'.repeat(63) + '.shop.test', 'a.b.shop.test', '*.shop.test', 'a'.repeat(60) + '.' + 'b'.repeat(60) + '.' + 'c'.repeat(60) + '.' + 'd'.repeat(60) + '.' + 'e'.repeat(20)]) {
      const h = await handshake(tlsPort, sni);
      console.log('sni', sni.slice(0, 30), sni.length, h.ok, h.san, h.error);
    }
  });

  it('probe garbage and plain HTTP to the TLS port, then a real handshake (per-ip limit 4)', async () => {
    for (let i = 0; i < 12; i++) {
      const r = await rawExchange(tlsPort, i % 2 ? 'GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n' : Buffer.alloc(600, 0x41));
      if (i < 2) console.log('garbage', i, r.reply.toString('latin1').slice(0, 100), r.closedAfterMs);
    }
    const h = await handshake(tlsPort, 'shop.test');
    console.log('after garbage', h.ok, h.error);
    // silent ones wait for the handshake timeout
    const silent = await rawExchange(tlsPort, Buffer.alloc(0));
    console.log('silent closed after', silent.closedAfterMs);
  });

  it('probe renegotiation', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'shop.test', rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
    await new Promise((r) => socket.once('secureConnect', r));
    const results: string[] = [];
    for (let i = 0; i < 5; i++) {
      const err = await new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve('timeout'), 2000);
        const ok = socket.renegotiate({ rejectUnauthorized: false }, (e) => {
          clearTimeout(timer);
          resolve(e ? e.message : 'ok');
        });
        if (!ok) {
          clearTimeout(timer);
          resolve('not started');
        }
      });
      results.push(err);
    }
    console.log('reneg', results, socket.destroyed);
    socket.destroy();
  });

  it('probe redirects', async () => {
    const port = Number(new URL(t.gatewayUrl).port);
    for (const [target, host] of [
      ['/r/a?b=1&c=%2F', 'a.shop.test'],
      ['/r/a', 'evil.test/.shop.test'],
      ['/r/a', 'evil.test?.shop.test'],
      ['/r/a', 'evil.test#.shop.test'],
      ['/r/a', 'user@evil.test.shop.test'],
      ['/any/a', 'evil.test'],
      ['/any/a', 'evil.test/x'],
      ['//evil.test/r/a', 'a.shop.test'],
      ['/r/..//evil.test/a', 'a.shop.test'],
      ['/any/%2e%2e//evil.test', 'a.shop.test'],
      ['http://evil.test/any/a', 'a.shop.test'],
    ] as const) {
      try {
        const r = await plainRequest(port, 'GET', target, { host });
        console.log('redirect', target, host, '->', r.status, r.headers.location);
      } catch (e) {
        console.log('redirect', target, host, 'error', (e as Error).message);
      }
    }
  });

  it('probe deleting the default while a connection is open', async () => {
    const list = (await t.admin('GET', '/admin/certificates')).body as Array<{ id: string; names: string[] }>;
    const a = await httpsGet(tlsPort, 'shop.test', '/any/x', certs.shop!.ca);
    console.log('https', a.status);
  });
});
