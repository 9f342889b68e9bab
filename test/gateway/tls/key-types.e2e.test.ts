import { execFileSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyProblem } from '../../../src/tls/key-policy.js';
import { storedRecord } from '../../helpers/certs.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';
import { handshake } from '../../helpers/tls-client.js';

// Certificates of different key types side by side on one TLS port (--workers 0), with an RSA default:
// each client gets exactly the chosen certificate, with SNI or without (the no-SNI path relies on a
// node internal, src/gateway/tls/server-socket.ts, that these tests would catch breaking).
let t: TestGateway;
let tlsPort: number;
const dir = mkdtempSync(join(tmpdir(), 'isogate-key-types-'));
const logLines: string[] = [];
let serial = 0;

interface Made {
  certificate: string;
  privateKey: string;
  fingerprint: string;
}

function make(name: string, keyArgs: string[]): Made {
  const n = serial++;
  const key = join(dir, `k${n}.key`);
  const pem = join(dir, `k${n}.pem`);
  execFileSync(
    'openssl',
    ['req', '-x509', ...keyArgs, '-nodes', '-keyout', key, '-out', pem, '-days', '30', '-subj', `/CN=${name}`].concat([
      '-addext',
      `subjectAltName=DNS:${name}`,
    ]),
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const certificate = readFileSync(pem, 'utf8');
  return {
    certificate,
    privateKey: readFileSync(key, 'utf8'),
    fingerprint: new X509Certificate(certificate).fingerprint256,
  };
}

const rsa = () => ['-newkey', 'rsa:2048'];
const p256 = () => ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
let rsaDefault: Made;
let ecNamed: Made;

beforeAll(async () => {
  rsaDefault = make('default.test', rsa());
  ecNamed = make('ec.test', p256());
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  t = await startTestGateway(['--gateway-tls-port', '0'], {}, pino({ level: 'info' }, sink));
  tlsPort = t.app.gatewayTls!.port;
  for (const c of [rsaDefault, ecNamed]) {
    const res = await t.admin('POST', '/admin/certificates', { certificate: c.certificate, privateKey: c.privateKey });
    expect(res.status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('one certificate per connection, whatever the key types', () => {
  it('a client without SNI gets the RSA default even though it prefers ECDSA and an ECDSA certificate is stored', async () => {
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const h = await handshake(tlsPort, undefined, { maxVersion, ALPNProtocols: ['h2', 'http/1.1'] });
      expect(h.error).toBeNull();
      expect(h.fingerprint).toBe(rsaDefault.fingerprint);
      expect(h.alpn).toBe('h2');
    }
  });

  it('a client naming the ECDSA certificate gets it, an RSA-only client too fails rather than getting the default', async () => {
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const h = await handshake(tlsPort, 'ec.test', { maxVersion, ALPNProtocols: ['h2', 'http/1.1'] });
      expect(h.fingerprint).toBe(ecNamed.fingerprint);
      expect(h.alpn).toBe('h2');
    }
    // The connection holds only ec.test's certificate: nothing an RSA-only client could be given.
    const rsaOnly = await handshake(tlsPort, 'ec.test', { sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' });
    expect(rsaOnly.ok).toBe(false);
    // An unknown name gets the default, RSA, whichever the client prefers.
    expect((await handshake(tlsPort, 'unknown.test')).fingerprint).toBe(rsaDefault.fingerprint);
  });

  it('resumes sessions (tickets) on the SNI and the no-SNI paths', async () => {
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      for (const name of ['ec.test', undefined]) {
        const first = await handshake(tlsPort, name, { maxVersion });
        expect(first.session).not.toBeNull();
        const again = await handshake(tlsPort, name, { maxVersion, session: first.session! });
        expect({ maxVersion, name, reused: again.reused }).toEqual({ maxVersion, name, reused: true });
      }
    }
  });
});

describe('key policy', () => {
  it('refuses RSA over 8192 bits and keeps the accepted types (unit, with a made-up modulus)', () => {
    const modulus = (bits: number) => Buffer.concat([Buffer.from([0xc0]), Buffer.alloc(bits / 8 - 1, 0x11)]);
    const rsaKey = (bits: number) =>
      createPublicKey({ key: { kty: 'RSA', n: modulus(bits).toString('base64url'), e: 'AQAB' }, format: 'jwk' });
    expect(keyProblem(rsaKey(8192))).toBeNull();
    expect(keyProblem(rsaKey(8200))?.code).toBe('CERTIFICATE_KEY_UNSUPPORTED');
    expect(keyProblem(rsaKey(16384))?.message).toContain('16384-bit');
    expect(keyProblem(rsaKey(2040))?.code).toBe('CERTIFICATE_WEAK');
    expect(keyProblem(createPublicKey(ecNamed.certificate))).toBeNull();
  });

  it('accepts and serves ECDSA P-384; refuses secp256k1 (CERTIFICATE_KEY_UNSUPPORTED), naming the curve', async () => {
    const p384 = make('p384.test', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
    const ok = await t.admin('POST', '/admin/certificates', {
      certificate: p384.certificate,
      privateKey: p384.privateKey,
    });
    expect(ok.status).toBe(201);
    expect(ok.body.keyWarning).toBeNull();
    expect((await handshake(tlsPort, 'p384.test')).fingerprint).toBe(p384.fingerprint);
    expect((await t.admin('DELETE', `/admin/certificates/${ok.body.id}`)).status).toBe(204);
    const k1 = make('k1.test', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']);
    const res = await t.admin('POST', '/admin/certificates', {
      certificate: k1.certificate,
      privateKey: k1.privateKey,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('CERTIFICATE_KEY_UNSUPPORTED');
    expect(res.body.error.message).toContain('secp256k1');
  });

  it('keeps serving a stored certificate the new rules refuse (a 1024-bit RSA key), with a warning in the list and the log', async () => {
    const legacy = make('legacy.test', ['-newkey', 'rsa:1024']);
    // Written to the store directly, as an upload accepted before the key policy existed.
    const stored = await t.app.store.createCertificate(storedRecord(['legacy.test'], legacy));
    let h = await handshake(tlsPort, 'legacy.test');
    for (let i = 0; i < 20 && h.fingerprint !== legacy.fingerprint; i++) {
      await new Promise((r) => setTimeout(r, 100));
      h = await handshake(tlsPort, 'legacy.test');
    }
    expect(h.fingerprint).toBe(legacy.fingerprint);
    const view = (await t.admin('GET', `/admin/certificates/${stored.id}`)).body;
    expect(view.keyWarning).toContain('1024-bit RSA key is too weak');
    const listed = (await t.admin('GET', '/admin/certificates')).body as { id: string; keyWarning: string | null }[];
    expect(listed.find((c) => c.id === stored.id)?.keyWarning).toContain('1024-bit');
    expect(listed.filter((c) => c.keyWarning !== null)).toHaveLength(1);
    const warned = logLines.filter((l) => l.includes('would be refused today') && l.includes(stored.id));
    expect(warned).toHaveLength(1);
    expect((await t.admin('DELETE', `/admin/certificates/${stored.id}`)).status).toBe(204);
  }, 30_000);
});
