import { createSecureContext, type SecureContext } from 'node:tls';
import { certificateKeyWarning, defaultCertificate, type Certificate } from '../model/certificate.js';
import { TLS_PROTOCOL_OPTIONS } from './settings.js';

/** One certificate ready for handshakes: its context and the key it was built from. */
export interface TlsEntry {
  /** `id|updatedAt`: a changed certificate gets a new context, an unchanged one keeps its own. */
  readonly key: string;
  readonly cert: Certificate;
  readonly context: SecureContext;
}

/**
 * The certificates of one config version, indexed for SNI (RFC 6066 §3): an exact name, then the
 * wildcard one label up (`*.example.com` for `a.example.com`, never for `a.b.example.com`, RFC 6125
 * §6.4.3), then the default certificate. Contexts are built once per certificate version while the
 * snapshot compiles (and carried over from the previous snapshot when unchanged), never per handshake.
 */
export class TlsCertificates {
  private readonly byName = new Map<string, TlsEntry>();
  private readonly entries = new Map<string, TlsEntry>();
  /** The default certificate, or null while no certificate exists (handshakes are then refused). */
  readonly fallback: TlsEntry | null;
  /**
   * Stored certificates OpenSSL refused to load (uploads are checked, but a newer OpenSSL may refuse
   * what an older one took): left out of SNI rather than failing the whole config version.
   */
  readonly refused: { id: string; names: readonly string[]; reason: string }[] = [];
  /**
   * Certificates first compiled here whose key today's upload check refuses (key-policy.ts: an RSA key
   * under 2048 or over 8192 bits, a curve or type TLS clients do not take): stored before that check
   * existed, they are still served (refusing them would take their names offline at an upgrade), and
   * the caller logs a warning; the admin API shows it as `keyWarning`.
   */
  readonly warnings: { id: string; names: readonly string[]; reason: string }[] = [];

  constructor(certs: readonly Certificate[], previous: TlsCertificates | null) {
    for (const cert of certs) {
      const key = `${cert.id}|${cert.updatedAt}`;
      let entry = previous?.entries.get(key);
      if (entry === undefined) {
        try {
          entry = { key, cert, context: contextOf(cert) };
        } catch (err) {
          this.refused.push({ id: cert.id, names: cert.names, reason: (err as Error).message });
          continue;
        }
        const warning = certificateKeyWarning(cert.certificate);
        if (warning !== null) this.warnings.push({ id: cert.id, names: cert.names, reason: warning });
      }
      this.entries.set(key, entry);
      for (const name of cert.names) this.byName.set(name, entry);
    }
    const chosen = defaultCertificate(certs);
    this.fallback = chosen === null ? null : (this.entries.get(`${chosen.id}|${chosen.updatedAt}`) ?? null);
  }

  /** How many certificates there are. */
  get size(): number {
    return this.entries.size;
  }

  /** The certificate for an SNI name (exact, wildcard, default); null when there is none at all. */
  lookup(servername: string | undefined): Certificate | null {
    return this.entryFor(servername)?.cert ?? null;
  }

  /** The context a handshake for `servername` uses; null when no certificate exists. */
  contextFor(servername: string | undefined): SecureContext | null {
    return this.entryFor(servername)?.context ?? null;
  }

  private entryFor(servername: string | undefined): TlsEntry | null {
    if (servername) {
      let name = servername.toLowerCase();
      if (name.endsWith('.')) name = name.slice(0, -1);
      const exact = this.byName.get(name);
      if (exact !== undefined) return exact;
      const dot = name.indexOf('.');
      if (dot > 0) {
        const wildcard = this.byName.get(`*${name.slice(dot)}`);
        if (wildcard !== undefined) return wildcard;
      }
    }
    return this.fallback;
  }
}

function contextOf(cert: Certificate): SecureContext {
  return secureContextOf(cert.certificate, cert.privateKey);
}

/** The context a certificate chain and key serve with; throws OpenSSL's error when it refuses them (a weak key or signature). */
export function secureContextOf(certificate: string, privateKey: string): SecureContext {
  return createSecureContext({ ...TLS_PROTOCOL_OPTIONS, cert: certificate, key: privateKey });
}
