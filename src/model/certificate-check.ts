import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { CertificateName, MAX_CHAIN_LENGTH, type CertificateRecord, type CertificateUpload } from './certificate.js';
import { secureContextOf } from '../tls/certificates.js';
import { keyProblem, RSA_MIN_BITS } from '../tls/key-policy.js';

/** Why an upload was refused; each is a 400 with this code in the admin API. */
export type CertificateProblemCode =
  | 'CERTIFICATE_INVALID'
  | 'PRIVATE_KEY_INVALID'
  | 'KEY_MISMATCH'
  | 'CHAIN_INVALID'
  | 'CERTIFICATE_EXPIRED'
  | 'CERTIFICATE_NOT_YET_VALID'
  | 'CERTIFICATE_NO_NAMES'
  | 'CERTIFICATE_WEAK'
  | 'CERTIFICATE_KEY_UNSUPPORTED';

/** An upload that cannot be served; the message names the problem (never the key's content). */
export class CertificateProblem extends Error {
  override readonly name = 'CertificateProblem';

  constructor(
    readonly code: CertificateProblemCode,
    message: string,
  ) {
    super(message);
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g;

/** The PEM blocks of a chain, in order; refuses text that holds none or more than MAX_CHAIN_LENGTH. */
function certificateBlocks(pem: string): string[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0)
    throw new CertificateProblem('CERTIFICATE_INVALID', 'the certificate holds no PEM "BEGIN CERTIFICATE" block');
  if (blocks.length > MAX_CHAIN_LENGTH) {
    throw new CertificateProblem(
      'CHAIN_INVALID',
      `the chain holds ${blocks.length} certificates; at most ${MAX_CHAIN_LENGTH} are accepted`,
    );
  }
  return blocks;
}

function parseCertificate(block: string, position: number): X509Certificate {
  try {
    return new X509Certificate(block);
  } catch (err) {
    throw new CertificateProblem(
      'CERTIFICATE_INVALID',
      `certificate ${position} of the chain does not parse (${(err as Error).message})`,
    );
  }
}

function parseKey(pem: string): KeyObject {
  if (/ENCRYPTED/.test(pem))
    throw new CertificateProblem('PRIVATE_KEY_INVALID', 'the private key is encrypted; upload it without a passphrase');
  try {
    // A passphrase given so that an encrypted key fails here rather than prompting.
    return createPrivateKey({ key: pem, format: 'pem', passphrase: '' });
  } catch {
    // The parser's message may quote the input: only say that it failed.
    throw new CertificateProblem('PRIVATE_KEY_INVALID', 'the private key is not an unencrypted PEM private key');
  }
}

/** DNS names of a certificate's SAN, lower-cased, valid names only (`DNS:a.example.com, DNS:*.example.com`). */
export function sanNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (!san) return [];
  const names: string[] = [];
  for (const entry of san.split(/,\s*/)) {
    if (!entry.startsWith('DNS:')) continue;
    const name = entry.slice(4).toLowerCase();
    if (CertificateName.safeParse(name).success && !names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * Checks an upload and describes it for the store: the chain parses (leaf first, each certificate
 * issued and signed by the next), the key is the leaf's and of a type and size the TLS port serves
 * (key-policy.ts; no RSA issuer below 2048 bits), every certificate is valid now, and the leaf
 * has DNS names in its SAN (wildcards allowed). Throws a CertificateProblem naming the first problem.
 */
export function checkCertificate(upload: CertificateUpload, now = new Date()): Omit<CertificateRecord, 'isDefault'> {
  const chain = certificateBlocks(upload.certificate).map((block, i) => parseCertificate(block, i + 1));
  const key = parseKey(upload.privateKey);
  const leaf = chain[0]!;
  if (key.type !== 'private' || !leaf.checkPrivateKey(key)) {
    throw new CertificateProblem(
      'KEY_MISMATCH',
      'the private key does not belong to the certificate (the first in the chain)',
    );
  }
  const problem = keyProblem(key);
  if (problem !== null) throw new CertificateProblem(problem.code, `the certificate's key: ${problem.message}`);
  for (let i = 1; i < chain.length; i++) {
    const bits = chain[i]!.publicKey.asymmetricKeyDetails?.modulusLength;
    if (bits !== undefined && bits < RSA_MIN_BITS) {
      throw new CertificateProblem(
        'CERTIFICATE_WEAK',
        `certificate ${i + 1} of the chain has a ${bits}-bit RSA key: clients refuse issuers below ${RSA_MIN_BITS} bits`,
      );
    }
  }
  for (let i = 1; i < chain.length; i++) {
    const child = chain[i - 1]!;
    const parent = chain[i]!;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      throw new CertificateProblem(
        'CHAIN_INVALID',
        `certificate ${i + 1} of the chain did not issue certificate ${i} (list the leaf first, then each issuer)`,
      );
    }
  }
  chain.forEach((cert, i) => {
    const which = i === 0 ? 'the certificate' : `certificate ${i + 1} of the chain`;
    if (new Date(cert.validTo) <= now)
      throw new CertificateProblem(
        'CERTIFICATE_EXPIRED',
        `${which} expired on ${new Date(cert.validTo).toISOString()}`,
      );
    if (new Date(cert.validFrom) > now) {
      throw new CertificateProblem(
        'CERTIFICATE_NOT_YET_VALID',
        `${which} is valid only from ${new Date(cert.validFrom).toISOString()}`,
      );
    }
  });
  const names = sanNames(leaf);
  if (names.length === 0)
    throw new CertificateProblem('CERTIFICATE_NO_NAMES', 'the certificate names no DNS host in its subjectAltName');
  const certificate = chain.map((c) => c.toString().trim()).join('\n') + '\n';
  const privateKey = key.export({ format: 'pem', type: 'pkcs8' }).toString();
  try {
    // What every gateway process will do with it: a chain OpenSSL refuses must not reach the store.
    secureContextOf(certificate, privateKey);
  } catch (err) {
    const reason = /error:[0-9A-F]+:[^:]*:[^:]*:(.+)$/.exec((err as Error).message)?.[1] ?? 'refused';
    throw new CertificateProblem(
      'CERTIFICATE_WEAK',
      `OpenSSL refuses to serve this chain (${reason}): use a stronger key or signature`,
    );
  }
  return {
    names,
    certificate,
    privateKey,
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
    fingerprint: leaf.fingerprint256,
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: leaf.issuer.replace(/\n/g, ', '),
  };
}
