import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificateRecord } from '../../src/model/certificate.js';

/** A certificate made at test time: the PEM chain (leaf, then the CA), its key, and the CA to trust. */
export interface TestCertificate {
  certificate: string;
  /** The leaf alone. */
  leaf: string;
  privateKey: string;
  ca: string;
}

/** A private CA (made with the openssl CLI, EC P-256 keys) that issues leaf certificates for tests. */
export class TestCa {
  private readonly dir = mkdtempSync(join(tmpdir(), 'isogate-ca-'));
  private serial = 1;
  readonly cert: string;

  constructor() {
    this.openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      this.path('ca.key'),
      '-out',
      this.path('ca.pem'),
      '-days',
      '3650',
      '-subj',
      '/CN=isogate test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign',
    );
    this.cert = readFileSync(this.path('ca.pem'), 'utf8');
  }

  /** A leaf for `names` (SAN DNS entries; none: no SAN at all), valid for `days` (negative: expired that many days ago). */
  issue(names: readonly string[], days = 365): TestCertificate {
    const san = names.length === 0 ? '' : `subjectAltName=${names.map((name) => `DNS:${name}`).join(',')}\n`;
    return this.issueAs(`/CN=${names[0] ?? 'none'}`, san, days);
  }

  /** A leaf with this `subject` (openssl's `-subj`) and extension lines (`subjectAltName=…`), valid for `days`. */
  issueAs(subject: string, extensions: string, days = 365): TestCertificate {
    const n = this.serial++;
    const key = this.path(`leaf${n}.key`);
    const csr = this.path(`leaf${n}.csr`);
    const pem = this.path(`leaf${n}.pem`);
    const ext = this.path(`leaf${n}.ext`);
    writeFileSync(ext, `${extensions}basicConstraints=CA:FALSE\n`);
    this.openssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      subject,
    );
    this.openssl(
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      this.path('ca.pem'),
      '-CAkey',
      this.path('ca.key'),
      '-set_serial',
      String(n),
      '-days',
      String(days),
      '-extfile',
      ext,
      '-out',
      pem,
    );
    const leaf = readFileSync(pem, 'utf8');
    return { certificate: leaf + this.cert, leaf, privateKey: readFileSync(key, 'utf8'), ca: this.cert };
  }

  /** Removes the CA's files. */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  private openssl(...args: string[]): void {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

/**
 * The stored record of a PEM pair as an upload would have made it, without the upload's checks: for
 * tests that write the store directly (a certificate since expired, a key the rules now refuse).
 */
export function storedRecord(names: string[], pair: { certificate: string; privateKey: string }): CertificateRecord {
  const leaf = new X509Certificate(pair.certificate);
  return {
    names,
    certificate: pair.certificate,
    privateKey: createPrivateKey(pair.privateKey).export({ format: 'pem', type: 'pkcs8' }).toString(),
    isDefault: false,
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
    fingerprint: leaf.fingerprint256,
    subject: leaf.subject,
    issuer: leaf.issuer,
  };
}
