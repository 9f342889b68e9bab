import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedRecord, TestCa, type TestCertificate } from '../../helpers/certs.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';
import { handshake } from '../../helpers/tls-client.js';

// Certificates as hostile (or merely odd) input to the admin API, and what the TLS port then serves,
// in one process (--workers 0). Every certificate is made at test time with the openssl CLI. What
// test/admin/certificates.test.ts and test/gateway/tls/hostile.e2e.test.ts already cover (garbage,
// mismatched or encrypted keys, expired uploads, 512-bit RSA, SHA-1, SNI case and trailing dot) is not
// repeated here.
let t: TestGateway;
let tlsPort: number;
let ca: TestCa;
const dir = mkdtempSync(join(tmpdir(), 'isogate-cert-hostile-'));
const logLines: string[] = [];
/** Every private key handed to the gateway in this file: none may ever come back out. */
const keysSeen: string[] = [];
const certs: Record<string, TestCertificate> = {};

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

let serial = 0;
/** A self-signed leaf with a new key made by `keyArgs` and this SAN (`DNS:a,IP:…`). */
function selfSigned(san: string, keyArgs: string[], digest: string[] = ['-sha256']): TestCertificate {
  const n = serial++;
  const key = join(dir, `s${n}.key`);
  const pem = join(dir, `s${n}.pem`);
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
    '60',
    ...digest,
    '-subj',
    `/CN=hostile ${n}`,
    '-addext',
    `subjectAltName=${san}`,
  );
  const leaf = readFileSync(pem, 'utf8');
  const privateKey = readFileSync(key, 'utf8');
  keysSeen.push(privateKey);
  return { certificate: leaf, leaf, privateKey, ca: leaf };
}

function issued(names: string[], days = 365): TestCertificate {
  const c = ca.issue(names, days);
  keysSeen.push(c.privateKey);
  return c;
}

const body = (c: TestCertificate, extra: Record<string, unknown> = {}) => ({
  certificate: c.certificate,
  privateKey: c.privateKey,
  ...extra,
});

/** A line from the middle of a PEM key's base64 body, as uploaded and as isogate re-encodes it (PKCS#8). */
function keyMarkers(pem: string): string[] {
  const mid = (text: string) => {
    const lines = text.split('\n').filter((l) => l && !l.startsWith('-----'));
    return lines[Math.floor(lines.length / 2)]!.slice(0, 40);
  };
  return [mid(pem), mid(createPrivateKey(pem).export({ format: 'pem', type: 'pkcs8' }).toString())];
}

async function idOf(name: string): Promise<string | undefined> {
  const list = (await t.admin('GET', '/admin/certificates')).body as { id: string; names: string[] }[];
  return list.find((c) => c.names.includes(name))?.id;
}

beforeAll(async () => {
  ca = new TestCa();
  certs.base = issued(['base.test']);
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  t = await startTestGateway(['--gateway-tls-port', '0'], {}, pino({ level: 'debug' }, sink));
  tlsPort = t.app.gatewayTls!.port;
  // The default (oldest) certificate, for clients without SNI or with an unknown name.
  expect((await t.admin('POST', '/admin/certificates', body(certs.base!))).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await t?.stop();
  ca?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('key types and sizes', () => {
  it('refuses at upload a certificate whose key no TLS client can use (DSA, secp256k1, brainpoolP256r1) instead of storing one that fails every handshake', async () => {
    const dsaParams = join(dir, 'dsa-params.pem');
    openssl('genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:2048', '-out', dsaParams);
    const kinds: Record<string, TestCertificate> = {
      dsa: selfSigned('DNS:dsa.test', ['-newkey', `dsa:${dsaParams}`]),
      secp256k1: selfSigned('DNS:k1.test', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']),
      brainpoolP256r1: selfSigned('DNS:bp.test', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:brainpoolP256r1']),
    };
    const outcome: Record<string, unknown> = {};
    for (const [kind, cert] of Object.entries(kinds)) {
      const res = await t.admin('POST', '/admin/certificates', body(cert));
      if (res.status === 201) {
        const name = res.body.names[0] as string;
        const h = await handshake(tlsPort, name);
        outcome[kind] = `stored; a handshake for ${name} ${h.ok ? `gets ${h.san}` : 'fails'}`;
        expect((await t.admin('DELETE', `/admin/certificates/${res.body.id}`)).status).toBe(204);
      } else {
        outcome[kind] = res.status;
      }
    }
    // Fixed: all three were stored (201), yet none can ever be served (TLS 1.3 has no DSA, nor ECDSA on
    // secp256k1 or brainpool curves; the TLS 1.2 suites offered are ECDHE-ECDSA/RSA only). The key
    // policy (src/tls/key-policy.ts) now refuses them with 400 CERTIFICATE_KEY_UNSUPPORTED.
    expect(outcome).toEqual({ dsa: 400, secp256k1: 400, brainpoolP256r1: 400 });
  }, 60_000);

  it('refuses a 1024-bit RSA key as weak (Mozilla intermediate asks for 2048; a SECLEVEL=2 client such as Debian curl refuses it)', async () => {
    const rsa1024 = selfSigned('DNS:rsa1024.test', ['-newkey', 'rsa:1024']);
    const res = await t.admin('POST', '/admin/certificates', body(rsa1024));
    let seclevel2: string | null = null;
    if (res.status === 201) {
      // An RSA-only client (so the server has to present this certificate, see the mixed key types
      // test) that trusts it, verifying at level 2.
      const h = await handshake(tlsPort, 'rsa1024.test', {
        ciphers: 'DEFAULT@SECLEVEL=2',
        sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256',
        ca: rsa1024.leaf,
        rejectUnauthorized: true,
      });
      seclevel2 = h.ok ? `completes with ${h.san}` : `fails: ${h.error?.split('\n')[0]}`;
      expect((await t.admin('DELETE', `/admin/certificates/${res.body.id}`)).status).toBe(204);
    }
    // Fixed: the 1024-bit RSA certificate was stored (201) and served, though a client at OpenSSL
    // security level 2 (the Debian/Ubuntu default) fails the handshake ("ee key too small"). RSA keys
    // under 2048 bits are now refused with 400 CERTIFICATE_WEAK (src/tls/key-policy.ts).
    expect({ status: res.status, seclevel2Client: seclevel2 }).toEqual({ status: 400, seclevel2Client: null });
  }, 30_000);

  it('serves each certificate for its own name whatever its key type, while the default is ECDSA P-256: RSA 2048, RSA-PSS, Ed25519, P-521', async () => {
    const kinds = {
      'rsa.test': selfSigned('DNS:rsa.test', ['-newkey', 'rsa:2048']),
      'pss.test': selfSigned('DNS:pss.test', ['-newkey', 'rsa-pss', '-pkeyopt', 'rsa_keygen_bits:2048'], []),
      'ed.test': selfSigned('DNS:ed.test', ['-newkey', 'ed25519'], []),
      'p521.test': selfSigned('DNS:p521.test', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'], ['-sha512']),
    };
    const served: Record<string, string | null> = {};
    const expected: Record<string, string> = {};
    for (const [name, cert] of Object.entries(kinds)) {
      const res = await t.admin('POST', '/admin/certificates', body(cert));
      expect(res.status, name).toBe(201);
      try {
        for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
          const h = await handshake(tlsPort, name, { maxVersion });
          served[`${name} ${maxVersion}`] = h.ok ? h.san : `failed: ${h.error}`;
          expected[`${name} ${maxVersion}`] = `DNS:${name}`;
        }
      } finally {
        expect((await t.admin('DELETE', `/admin/certificates/${res.body.id}`)).status).toBe(204);
      }
    }
    // Fixed: a client asking for rsa.test, pss.test or ed.test got the DEFAULT certificate (ECDSA P-256):
    // node's SNICallback adds the chosen certificate next to the default held by the server's own
    // context (nodejs/node#54235), and OpenSSL picked by the client's signature algorithms. The TLS port
    // now serves each connection from a context without a certificate, loading only the chosen one
    // (src/gateway/tls/server-socket.ts).
    expect(served).toEqual(expected);
  }, 60_000);

  it('refuses an EC certificate with an RSA key (KEY_MISMATCH), storing nothing', async () => {
    const rsa = selfSigned('DNS:rsa-for-mix.test', ['-newkey', 'rsa:2048']);
    const res = await t.admin('POST', '/admin/certificates', {
      certificate: issued(['mix.test']).certificate,
      privateKey: rsa.privateKey,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('KEY_MISMATCH');
    expect(await idOf('mix.test')).toBeUndefined();
  }, 30_000);
});

describe('names', () => {
  it('serves only well-formed DNS names of the SAN: upper case folded, IP and malformed wildcards left out, punycode kept', async () => {
    const c = ca.issueAs(
      '/CN=odd.test',
      'subjectAltName=DNS:UPPER.TEST,DNS:a*.odd.test,DNS:*.*.odd.test,DNS:*,IP:127.0.0.1,DNS:xn--bcher-kva.test\n',
    );
    keysSeen.push(c.privateKey);
    const res = await t.admin('POST', '/admin/certificates', body(c));
    expect(res.status).toBe(201);
    expect(res.body.names).toEqual(['upper.test', 'xn--bcher-kva.test']);
    expect((await handshake(tlsPort, 'upper.test')).fingerprint).toBe(new X509Certificate(c.leaf).fingerprint256);
    expect((await handshake(tlsPort, 'XN--BCHER-KVA.TEST')).fingerprint).toBe(
      new X509Certificate(c.leaf).fingerprint256,
    );
    // Names the certificate was not stored for get the default, not this certificate.
    expect((await handshake(tlsPort, 'ab.odd.test')).san).toBe('DNS:base.test');
    expect((await handshake(tlsPort, 'x.y.odd.test')).san).toBe('DNS:base.test');
    // An IP address sent as SNI (clients must not, RFC 6066 §3) gets the default.
    expect((await handshake(tlsPort, '127.0.0.1')).san).toBe('DNS:base.test');
    expect((await t.admin('DELETE', `/admin/certificates/${res.body.id}`)).status).toBe(204);
  }, 30_000);

  it('refuses a certificate whose only SAN entries are a bare "*" or an IP address (CERTIFICATE_NO_NAMES)', async () => {
    const c = ca.issueAs('/CN=*', 'subjectAltName=DNS:*,IP:127.0.0.1\n');
    keysSeen.push(c.privateKey);
    const res = await t.admin('POST', '/admin/certificates', body(c));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('CERTIFICATE_NO_NAMES');
  }, 30_000);

  it('takes 1000 SAN names and serves the last; refuses 1001 with a 400 (not a 500) and stores nothing', async () => {
    const names = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${i}.many.test`);
    const thousand = issued(names(1000, 'a'));
    const res = await t.admin('POST', '/admin/certificates', body(thousand));
    expect(res.status).toBe(201);
    expect(res.body.names).toHaveLength(1000);
    expect((await handshake(tlsPort, 'a999.many.test')).fingerprint).toBe(
      new X509Certificate(thousand.leaf).fingerprint256,
    );
    const tooMany = issued(names(1001, 'b'));
    const refused = await t.admin('POST', '/admin/certificates', body(tooMany));
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).not.toContain('BEGIN');
    expect(await idOf('b0.many.test')).toBeUndefined();
    expect((await t.admin('DELETE', `/admin/certificates/${res.body.id}`)).status).toBe(204);
  }, 60_000);

  it('refuses a PUT that would take over a name another certificate serves (409), leaving both as they were', async () => {
    const mine = await t.admin('POST', '/admin/certificates', body(issued(['mine.test'])));
    expect(mine.status).toBe(201);
    const before = (await t.admin('GET', `/admin/certificates/${mine.body.id}`)).body;
    const res = await t.admin('PUT', `/admin/certificates/${mine.body.id}`, body(issued(['mine.test', 'BASE.test'])));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CERTIFICATE_NAME_TAKEN');
    expect((await t.admin('GET', `/admin/certificates/${mine.body.id}`)).body).toEqual(before);
    expect((await handshake(tlsPort, 'base.test')).san).toBe('DNS:base.test');
    expect((await t.admin('DELETE', `/admin/certificates/${mine.body.id}`)).status).toBe(204);
  }, 30_000);
});

describe('PEM framing', () => {
  it('takes a chain with junk, CRLF and the private key between its blocks, and stores only the certificates', async () => {
    const c = issued(['framed.test']);
    const framed = `subject=CN = framed.test\r\n${c.leaf.replace(/\n/g, '\r\n')}\nsome junk\n${c.privateKey}\n# the CA\n${c.ca}trailing`;
    const res = await t.admin('POST', '/admin/certificates', { certificate: framed, privateKey: c.privateKey });
    expect(res.status).toBe(201);
    const stored = res.body.certificate as string;
    expect(stored).not.toContain('PRIVATE KEY');
    expect(stored).not.toContain('junk');
    expect(stored.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect((await handshake(tlsPort, 'framed.test')).san).toBe('DNS:framed.test');
    expect((await t.admin('DELETE', `/admin/certificates/${res.body.id}`)).status).toBe(204);
  }, 30_000);

  it('refuses a chain of 11 certificates and a PEM over 64 KiB with a 400, storing nothing', async () => {
    const c = issued(['long.test']);
    const eleven = c.leaf + c.ca.repeat(10);
    const r1 = await t.admin('POST', '/admin/certificates', { certificate: eleven, privateKey: c.privateKey });
    expect(r1.status).toBe(400);
    expect(r1.body.error.code).toBe('CHAIN_INVALID');
    const big = c.certificate + '#'.repeat(70 * 1024);
    const r2 = await t.admin('POST', '/admin/certificates', { certificate: big, privateKey: c.privateKey });
    expect(r2.status).toBe(400);
    expect(await idOf('long.test')).toBeUndefined();
  }, 30_000);
});

describe('lifecycle', () => {
  it('flags a certificate expiring within 30 days, not one expiring in 45', async () => {
    const soon = await t.admin('POST', '/admin/certificates', body(issued(['soon.test'], 20)));
    const later = await t.admin('POST', '/admin/certificates', body(issued(['later.test'], 45)));
    expect(soon.body).toMatchObject({ expiringSoon: true });
    expect(soon.body.expiresInDays).toBeGreaterThanOrEqual(19);
    expect(soon.body.expiresInDays).toBeLessThanOrEqual(20);
    expect(later.body).toMatchObject({ expiringSoon: false });
    for (const id of [soon.body.id, later.body.id])
      expect((await t.admin('DELETE', `/admin/certificates/${id}`)).status).toBe(204);
  }, 30_000);

  it('keeps listing and serving a stored certificate after it expires (time passed), flagged with negative days', async () => {
    // Written to the store directly, as an upload a day old whose certificate has since expired.
    const expired = ca.issue(['gone.test'], -1);
    keysSeen.push(expired.privateKey);
    const stored = await t.app.store.createCertificate(storedRecord(['gone.test'], expired));
    const view = (await t.admin('GET', `/admin/certificates/${stored.id}`)).body;
    expect(view.expiresInDays).toBeLessThan(0);
    expect(view.expiringSoon).toBe(true);
    expect(view).not.toHaveProperty('privateKey');
    // As nginx does: the name keeps its own certificate (the client reports it expired), the rest still serves.
    let h = await handshake(tlsPort, 'gone.test');
    for (let i = 0; i < 20 && h.fingerprint !== stored.fingerprint; i++) {
      await new Promise((r) => setTimeout(r, 100));
      h = await handshake(tlsPort, 'gone.test');
    }
    expect(h.fingerprint).toBe(stored.fingerprint);
    expect((await handshake(tlsPort, 'base.test')).san).toBe('DNS:base.test');
    expect((await t.admin('DELETE', `/admin/certificates/${stored.id}`)).status).toBe(204);
  }, 30_000);

  it('a PUT during a burst of handshakes: each gets the old or the new certificate, none fails; the next gets the new one', async () => {
    const first = issued(['rotate.test']);
    const second = issued(['rotate.test']);
    const created = await t.admin('POST', '/admin/certificates', body(first));
    expect(created.status).toBe(201);
    const fps = [new X509Certificate(first.leaf).fingerprint256, new X509Certificate(second.leaf).fingerprint256];
    const burst = Array.from({ length: 24 }, (_, i) =>
      new Promise((r) => setTimeout(r, i * 5)).then(() => handshake(tlsPort, 'rotate.test')),
    );
    const put = t.admin('PUT', `/admin/certificates/${created.body.id}`, body(second));
    const results = await Promise.all(burst);
    expect((await put).status).toBe(200);
    for (const h of results) {
      expect(h.ok, h.error ?? '').toBe(true);
      expect(fps).toContain(h.fingerprint);
    }
    expect((await handshake(tlsPort, 'rotate.test')).fingerprint).toBe(fps[1]);
    expect((await t.admin('DELETE', `/admin/certificates/${created.body.id}`)).status).toBe(204);
    expect((await handshake(tlsPort, 'rotate.test')).san).toBe('DNS:base.test');
    expect(await idOf('rotate.test')).toBeUndefined();
  }, 30_000);
});

describe('private keys never come back out', () => {
  it('not in the refusals of misplaced keys, nor in GET, the audit log, the export without secrets, or the log', async () => {
    const c = issued(['secret.test']);
    const keyBase64 = c.privateKey
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('\n');
    const answers: unknown[] = [];
    const hostile = [
      // The key pasted into the certificate field, as is and dressed up as a certificate.
      { certificate: c.privateKey, privateKey: c.privateKey },
      {
        certificate: `-----BEGIN CERTIFICATE-----\n${keyBase64}\n-----END CERTIFICATE-----\n`,
        privateKey: c.privateKey,
      },
      // The fields swapped.
      { certificate: c.privateKey, privateKey: c.certificate },
      // The key damaged, cut short, or with junk and an unknown field.
      { certificate: c.certificate, privateKey: c.privateKey.replace(/\n[A-Za-z0-9+/]{20}/, '\n') },
      { certificate: c.certificate, privateKey: c.privateKey.slice(0, 120) },
      { certificate: c.certificate, privateKey: `junk\n${c.privateKey}`, key: c.privateKey },
      { certificate: c.certificate, privateKey: c.privateKey, isDefault: c.privateKey },
    ];
    for (const h of hostile) {
      const res = await t.admin('POST', '/admin/certificates', h);
      answers.push(res.body);
      if (res.status === 201) await t.admin('DELETE', `/admin/certificates/${res.body.id}`);
    }
    const ok = await t.admin('POST', '/admin/certificates', body(c));
    expect(ok.status).toBe(201);
    answers.push(ok.body);
    answers.push((await t.admin('GET', '/admin/certificates')).body);
    answers.push((await t.admin('GET', '/admin/audit')).body);
    answers.push((await t.admin('GET', '/admin/config/export')).body);
    const yaml = await fetch(`${t.adminUrl}/admin/config/export?format=yaml`, {
      headers: { authorization: `Bearer ${t.app.adminToken!}` },
    });
    answers.push(await yaml.text());
    const text = JSON.stringify(answers) + logLines.join('\n');
    for (const key of keysSeen) for (const marker of keyMarkers(key)) expect(text).not.toContain(marker);
    // With secrets asked for (an admin), the export does carry the key (the check above is not vacuous).
    const secrets = JSON.stringify((await t.admin('GET', '/admin/config/export?secrets=true')).body);
    expect(secrets).toContain(keyMarkers(c.privateKey)[1]);
    expect((await t.admin('DELETE', `/admin/certificates/${ok.body.id}`)).status).toBe(204);
  }, 30_000);
});
