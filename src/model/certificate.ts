import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { keyProblem } from '../tls/key-policy.js';

/** Largest PEM certificate chain accepted (a leaf and a few intermediates fit many times over). */
export const MAX_CHAIN_PEM_CHARS = 64 * 1024;
/** Largest PEM private key accepted (an RSA 8192-bit key is about 6.4 KiB). */
export const MAX_KEY_PEM_CHARS = 16 * 1024;
/** Most certificates in one chain. */
export const MAX_CHAIN_LENGTH = 10;
/** A certificate is flagged as expiring soon this many days before its end. */
export const EXPIRY_WARNING_DAYS = 30;

/** A name a certificate serves (from its SAN): a host name, or `*.` and a host name (one label, RFC 6125 §6.4.3). */
export const CertificateName = z
  .string()
  .max(253)
  .regex(/^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/);

/** Body of `POST /admin/certificates` and `PUT /admin/certificates/:id`: the PEM chain (leaf first) and its private key. */
export const CertificateUpload = z.strictObject({
  certificate: z.string().min(1).max(MAX_CHAIN_PEM_CHARS),
  privateKey: z.string().min(1).max(MAX_KEY_PEM_CHARS),
  /** Served to clients whose SNI name no certificate has (and to clients sending none). */
  isDefault: z.boolean().optional(),
});
export type CertificateUpload = z.infer<typeof CertificateUpload>;

/** Body of `PATCH /admin/certificates/:id`: only whether it is the default (the PEM is replaced with PUT). */
export const CertificatePatch = z.strictObject({ isDefault: z.boolean() });
export type CertificatePatch = z.infer<typeof CertificatePatch>;

const certificateFields = {
  /** DNS names from the SAN, lower-cased, in the certificate's order. */
  names: z.array(CertificateName).min(1).max(1000),
  /** The PEM chain as uploaded (leaf first). */
  certificate: z.string().min(1).max(MAX_CHAIN_PEM_CHARS),
  /** The PEM private key, unencrypted (see docs/tls-websocket-http2.md on how it is stored). Never answered by the admin API. */
  privateKey: z.string().min(1).max(MAX_KEY_PEM_CHARS),
  isDefault: z.boolean(),
  /** The leaf's validity, ISO 8601. */
  notBefore: z.string(),
  notAfter: z.string(),
  /** SHA-256 fingerprint of the leaf (`AB:CD:…`). */
  fingerprint: z.string(),
  subject: z.string(),
  issuer: z.string(),
};

/** What the store writes for a checked upload (identity and times are the store's). */
export const CertificateRecord = z.strictObject(certificateFields);
export type CertificateRecord = z.infer<typeof CertificateRecord>;

/** A stored certificate with its key: config the gateway serves TLS with. */
export const Certificate = z.object({
  id: z.string(),
  ...certificateFields,
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Certificate = z.infer<typeof Certificate>;

/** A stored certificate without its private key: what the audit log keeps and entity tags are made of. */
export type CertificateRecordView = Omit<Certificate, 'privateKey'>;

/** A stored certificate with its private key left out. */
export function withoutPrivateKey(cert: Certificate): CertificateRecordView {
  const { privateKey: _key, ...rest } = cert;
  return rest;
}

/** A certificate as the admin API answers it: never the private key. */
export type CertificateView = CertificateRecordView & {
  /** Whole days until `notAfter` (negative once expired). */
  expiresInDays: number;
  /** True when it expires within EXPIRY_WARNING_DAYS. */
  expiringSoon: boolean;
  /** The certificate clients without a matching SNI name get (see `defaultCertificate`). */
  servesAsDefault: boolean;
  /**
   * Why an upload of this certificate would be refused today (its key's type or size, key-policy.ts),
   * null when none: one stored before that check is still served, with this warning.
   */
  keyWarning: string | null;
};

const DAY_MS = 86_400_000;

/**
 * The certificate served when no name matches (or the client sent no SNI): the one marked default,
 * else the oldest (as nginx serves its first server block), so a single certificate needs no flag.
 */
export function defaultCertificate<C extends Pick<Certificate, 'isDefault' | 'createdAt'>>(
  certs: readonly C[],
): C | null {
  let oldest: C | null = null;
  for (const cert of certs) {
    if (cert.isDefault) return cert;
    if (oldest === null || cert.createdAt < oldest.createdAt) oldest = cert;
  }
  return oldest;
}

/** The admin view of a stored certificate: its private key left out, its expiry in days. */
export function certificateView(cert: Certificate, servesAsDefault: boolean, now = Date.now()): CertificateView {
  const rest = withoutPrivateKey(cert);
  const expiresInDays = Math.floor((Date.parse(cert.notAfter) - now) / DAY_MS);
  return {
    ...rest,
    expiresInDays,
    expiringSoon: expiresInDays < EXPIRY_WARNING_DAYS,
    servesAsDefault,
    keyWarning: certificateKeyWarning(cert.certificate),
  };
}

/** What key-policy.ts says of a stored chain's leaf key (null: servable, or a leaf that no longer parses). */
export function certificateKeyWarning(chainPem: string): string | null {
  try {
    return keyProblem(new X509Certificate(chainPem).publicKey)?.message ?? null;
  } catch {
    return null;
  }
}
