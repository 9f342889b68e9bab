import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedRecord, TestCa, type TestCertificate } from '../../helpers/certs.js';
import { addNode, createApi } from '../../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';
import { handshake } from '../../helpers/tls-client.js';
import { startUpstreams, type TestUpstream } from '../../helpers/upstreams.js';

// The TLS port and its certificates against hostile clients and odd certificates, in one process
// (--workers 0), certificates made at test time with the openssl CLI.
let ca: TestCa;
let ups: TestUpstream[];
const dir = mkdtempSync(join(tmpdir(), 'isogate-tls-hostile-'));
const certs: Record<string, TestCertificate> = {};

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed leaf for `name` with a new key made by `keyArgs`. */
function selfSigned(name: string, keyArgs: string[]): TestCertificate {
  const key = join(dir, `${name}.key`);
  const pem = join(dir, `${name}.pem`);
  openssl(
    'req',
    '-x509',
    ...keyArgs,
    '-nodes',
    '-keyout',
    key,
    '-out',
    pem,
    '-days',
    '30',
    '-sha256',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name}`,
  );
  const leaf = readFileSync(pem, 'utf8');
  return { certificate: leaf, leaf, privateKey: readFileSync(key, 'utf8'), ca: leaf };
}

/** A leaf signed with SHA-1 by an RSA CA of its own (a legacy internal CA); chain leaf then CA. */
function sha1Signed(name: string): TestCertificate {
  const caKey = join(dir, 'sha1-ca.key');
  const caPem = join(dir, 'sha1-ca.pem');
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    caPem,
    '-days',
    '30',
    '-subj',
    '/CN=legacy CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  );
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const pem = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=DNS:${name}\nbasicConstraints=CA:FALSE\n`);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`);
  openssl(
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caPem,
    '-CAkey',
    caKey,
    '-set_serial',
    '7',
    '-days',
    '30',
    '-sha1',
    '-extfile',
    ext,
    '-out',
    pem,
  );
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

/** A plain HTTP/1.1 request with exactly this Host header. */
function plainRequest(port: number, path: string, host: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Sends `bytes` raw; resolves with how long until the server closed (null: still open after 5 s). */
function rawExchange(port: number, bytes: Buffer | string): Promise<number | null> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = netConnect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(null);
    }, 5_000);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
  });
}

/** A TLS 1.2 connection (ALPN http/1.1) to the port, once its handshake is done. */
function tls12(port: number, servername: string, ca: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername,
      ca,
      maxVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => socket.destroy(new Error('handshake took over 5 s')), 5_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** One keep-alive GET on an open socket: the status line, or null when the connection is gone (bounded to 5 s). */
function getOn(socket: TLSSocket, host: string, path: string): Promise<string | null> {
  return new Promise((resolve) => {
    if (socket.destroyed) {
      resolve(null);
      return;
    }
    let text = '';
    const done = (line: string | null) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(line);
    };
    const onData = (c: Buffer) => {
      text += c.toString('latin1');
      const m = /^HTTP\/1\.1 \d{3}[^\r]*\r\n[\s\S]*?\r\n\r\n/.exec(text);
      const len = /content-length: *(\d+)/i.exec(text);
      if (m && len && text.length >= m[0].length + Number(len[1])) done(text.split('\r\n')[0]!);
    };
    const onClose = () => done(null);
    const timer = setTimeout(() => done(null), 5_000);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

describe('certificates that pass the upload checks but that OpenSSL will not load', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway(['--gateway-tls-port', '0']);
    expect((await t.admin('POST', '/admin/certificates', body(certs.shop!))).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('refuses at upload (400, nothing stored) a leaf with a 512-bit RSA key ("ee key too small" in OpenSSL)', async () => {
    const res = await t.admin('POST', '/admin/certificates', body(certs.weakRsa!));
    expect(res.status).toBe(400);
    expect((await t.admin('GET', '/admin/certificates')).body).toHaveLength(1);
  });

  it('refuses at upload (400, nothing stored) a leaf its CA signed with SHA-1 ("ca md too weak" in OpenSSL)', async () => {
    const res = await t.admin('POST', '/admin/certificates', body(certs.sha1!));
    expect(res.status).toBe(400);
    expect(
      (await t.admin('GET', '/admin/certificates')).body.map((c: { names: string[] }) => c.names[0]),
    ).not.toContain('legacy.test');
  });

  it('after such an upload was tried, later config writes still serve (a new API routes)', async () => {
    await t.admin('POST', '/admin/certificates', body(certs.weakRsa!));
    const id = await createApi(t, { name: 'after-weak', path: '/after/*', algorithm: 'round_robin' });
    await addNode(t, id, ups[0]!);
    const res = await t.get('/after/x');
    await res.arrayBuffer();
    expect(res.headers.get('x-isogate-error')).toBeNull();
    expect(res.status).toBe(200);
  });
});

describe('a stored certificate OpenSSL will not load (stored before a stricter OpenSSL, or through any path)', () => {
  it('does not stop the gateway from starting: it serves its other certificates and its routes', async () => {
    const first = await startTestGateway(['--gateway-tls-port', '0']);
    const dataDir = first.dataDir;
    try {
      expect((await first.admin('POST', '/admin/certificates', body(certs.shop!))).status).toBe(201);
      // Written to the store directly, as an upload checked by a more lenient OpenSSL would have been.
      await first.app.store.createCertificate(
        storedRecord(['weak.test'], { certificate: certs.weakRsa!.leaf, privateKey: certs.weakRsa!.privateKey }),
      );
    } finally {
      await first.app.close();
    }
    let again: TestGateway | null = null;
    try {
      again = await startTestGateway(['--gateway-tls-port', '0', '--data-dir', dataDir]);
      const h = await handshake(again.app.gatewayTls!.port, 'shop.test');
      expect(h.ok).toBe(true);
      expect(h.san).toBe('DNS:shop.test, DNS:*.shop.test');
    } finally {
      await again?.app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('the TLS port at its edges', () => {
  let t: TestGateway;
  let tlsPort: number;
  let plainPort: number;
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
    plainPort = Number(new URL(t.gatewayUrl).port);
    expect((await t.admin('POST', '/admin/certificates', body(certs.shop!))).status).toBe(201);
    expect((await t.admin('POST', '/admin/certificates', { ...body(certs.other!), isDefault: true })).status).toBe(201);
    const shop = await createApi(t, {
      name: 'shop',
      host: '*.shop.test',
      path: '/r/*',
      algorithm: 'round_robin',
      httpsRedirect: true,
    });
    await addNode(t, shop, ups[0]!);
    const any = await createApi(t, { name: 'anyhost', path: '/any/*', algorithm: 'round_robin' });
    await addNode(t, any, ups[0]!);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('matches SNI with a trailing dot and upper case, and gives a 264-byte SNI name the default without failing', async () => {
    expect((await handshake(tlsPort, 'A.SHOP.TEST.')).san).toBe('DNS:shop.test, DNS:*.shop.test');
    expect((await handshake(tlsPort, 'a.b.shop.test')).san).toBe('DNS:other.test');
    const long = ['a', 'b', 'c', 'd'].map((c) => c.repeat(60)).join('.') + '.' + 'e'.repeat(20) + '.shop.test';
    expect((await handshake(tlsPort, long)).san).toBe('DNS:other.test');
  });

  it('closes garbage and plain HTTP sent to the TLS port at once, and gives their admission back (per-IP limit 4)', async () => {
    for (let i = 0; i < 12; i++) {
      const bytes = i % 2 === 0 ? Buffer.alloc(600, 0x41) : 'GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n';
      const closedAfter = await rawExchange(tlsPort, bytes);
      expect(closedAfter).not.toBeNull();
      expect(closedAfter!).toBeLessThan(900); // well before the 1 s handshake timeout
    }
    expect((await handshake(tlsPort, 'shop.test')).ok).toBe(true);
  });

  it("ends a TLS 1.2 connection that keeps renegotiating (at most 3 renegotiations, node's CLIENT_RENEG_LIMIT)", async () => {
    const socket = await tls12(tlsPort, 'a.shop.test', certs.shop!.ca);
    socket.on('error', () => {});
    try {
      expect(await getOn(socket, 'a.shop.test', '/r/x')).toBe('HTTP/1.1 200 OK');
      let renegotiated = 0;
      for (let i = 0; i < 8 && !socket.destroyed; i++) {
        const ok = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 2_000);
          const started = socket.renegotiate({ rejectUnauthorized: false }, (err) => {
            clearTimeout(timer);
            resolve(err === null || err === undefined);
          });
          if (!started) {
            clearTimeout(timer);
            resolve(false);
          }
        });
        if (!ok) break;
        renegotiated++;
      }
      // A request after the flood must not be served on that connection.
      const after = await getOn(socket, 'a.shop.test', '/r/x');
      expect(renegotiated).toBeLessThanOrEqual(3);
      expect(after).toBeNull();
    } finally {
      socket.destroy();
    }
  }, 30_000);

  it('keeps an open connection serving when every certificate is deleted; new handshakes are refused', async () => {
    const socket = await tls12(tlsPort, 'a.shop.test', certs.shop!.ca);
    socket.on('error', () => {});
    try {
      expect(await getOn(socket, 'a.shop.test', '/r/x')).toBe('HTTP/1.1 200 OK');
      const list = (await t.admin('GET', '/admin/certificates')).body as Array<{ id: string }>;
      for (const c of list) expect((await t.admin('DELETE', `/admin/certificates/${c.id}`)).status).toBe(204);
      expect((await handshake(tlsPort, 'a.shop.test')).ok).toBe(false);
      expect((await handshake(tlsPort, undefined)).ok).toBe(false);
      expect(await getOn(socket, 'a.shop.test', '/r/y')).toBe('HTTP/1.1 200 OK');
    } finally {
      socket.destroy();
      await t.admin('POST', '/admin/certificates', body(certs.shop!));
    }
  });

  it('keeps path and query in the HTTPS redirect', async () => {
    const res = await plainRequest(plainPort, '/r/a/b?c=%2F&d=1', 'A.Shop.Test:8080');
    expect(res.status).toBe(301);
    expect(res.location).toBe(`https://a.shop.test:${tlsPort}/r/a/b?c=%2F&d=1`);
  });

  it("never redirects to another host than the API's: a Host that is no host name (with /, ?, #, @) is refused, not put in Location", async () => {
    for (const host of [
      'evil.test/.shop.test',
      'evil.test?.shop.test',
      'evil.test#.shop.test',
      'x@evil.test/.shop.test',
    ]) {
      const res = await plainRequest(plainPort, '/r/a', host);
      // Either refused (400) or sent to a host the API serves; never to evil.test.
      if (res.status === 301) expect(new URL(res.location!).hostname, host).toMatch(/\.shop\.test$/);
      else expect(res.status, host).toBe(400);
    }
  });
});
