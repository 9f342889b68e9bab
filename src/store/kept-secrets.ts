import type { Certificate } from '../model/certificate.js';
import { StoredCredential, type Consumer } from '../model/consumer.js';
import { StoreRefusedError } from './errors.js';

// The audit log and config files exported without secrets hold certificates without their private
// keys and credentials as the admin API shows them (src/store/changes.ts, auditView). A plan built
// from them (a revert, a restore, an apply) can still put such an object when its secret is stored:
// the stored object's secret is kept where it still belongs. Where it is gone, the write is refused
// rather than storing an object the gateway could not use.

type CertificateInPlan = Omit<Certificate, 'privateKey'> & { privateKey?: string };
type CredentialInPlan = { id: string; kind: string; [field: string]: unknown };
type ConsumerInPlan = Omit<Consumer, 'credentials'> & { credentials: CredentialInPlan[] };

/**
 * The whole object a planned write of `kind` puts, secrets included: `next` as planned, with the
 * secrets it lacks taken from `current` (the object as stored now, or null). Throws
 * SECRET_NOT_STORED when a secret is neither in `next` nor stored.
 */
export function withStoredSecrets(kind: string, next: object, current: object | null): object {
  if (kind === 'certificate') return certificateWithKey(next as CertificateInPlan, current as Certificate | null);
  if (kind === 'consumer') return consumerWithSecrets(next as ConsumerInPlan, current as Consumer | null);
  return next;
}

/** The certificate with its private key: given, or the stored one's when it is the same certificate (same chain). */
function certificateWithKey(next: CertificateInPlan, current: Certificate | null): CertificateInPlan {
  if (typeof next.privateKey === 'string') return next;
  if (current !== null && current.fingerprint === next.fingerprint && current.certificate === next.certificate)
    return { ...next, privateKey: current.privateKey };
  const why = current === null ? 'it is not stored any more' : 'the stored certificate is another one now';
  throw new StoreRefusedError(
    'SECRET_NOT_STORED',
    `certificate ${next.names[0] ?? next.id}: its private key is needed and ${why} (the audit log and exports without secrets never hold keys); upload the certificate again`,
  );
}

/**
 * The consumer with every credential in its stored form: given so (a file exported with secrets), the
 * stored credential of the same id and kind (credentials never change once made), or a JWT credential
 * that has no secret (a public key only). Anything else was removed since and its secret is gone.
 */
function consumerWithSecrets(next: ConsumerInPlan, current: Consumer | null): ConsumerInPlan {
  const credentials = next.credentials.map((c): CredentialInPlan => {
    if (StoredCredential.safeParse(c).success) return c;
    const stored = current?.credentials.find((s) => s.id === c.id && s.kind === c.kind);
    if (stored) return stored;
    if (c.kind === 'jwt' && c.hasSecret === false)
      return {
        id: c.id,
        kind: 'jwt',
        subject: c.subject,
        secret: null,
        publicKey: c.publicKey ?? null,
        createdAt: c.createdAt,
      };
    throw new StoreRefusedError(
      'SECRET_NOT_STORED',
      `consumer ${next.name}: its ${c.kind} credential ${c.id} is not stored any more and its secret is in neither the audit log nor a file exported without secrets; add the credential again`,
    );
  });
  return { ...next, credentials };
}
