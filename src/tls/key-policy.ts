import type { KeyObject } from 'node:crypto';

/** Smallest RSA key served (Mozilla's "intermediate" profile; OpenSSL security level 2 clients refuse less). */
export const RSA_MIN_BITS = 2048;
/** Largest RSA key served: every handshake signs with it, and a 16384-bit signature costs ~100× a 2048-bit one. */
export const RSA_MAX_BITS = 8192;
/** ECDSA curves TLS clients accept (RFC 8446 §4.2.7; OpenSSL names). */
export const EC_CURVES: readonly string[] = ['prime256v1', 'secp384r1', 'secp521r1'];

/** Why a certificate's key cannot (or should not) be served. */
export interface KeyProblem {
  /** `CERTIFICATE_WEAK`: too small for today's clients; `CERTIFICATE_KEY_UNSUPPORTED`: a type, curve or size isogate does not serve. */
  readonly code: 'CERTIFICATE_WEAK' | 'CERTIFICATE_KEY_UNSUPPORTED';
  readonly message: string;
}

/**
 * Checks a leaf certificate's key (public or private) against what the TLS port serves: RSA and RSA-PSS
 * of RSA_MIN_BITS to RSA_MAX_BITS bits, ECDSA on P-256, P-384 or P-521, Ed25519 or Ed448. Anything else
 * (DSA, secp256k1, brainpool, …) has no TLS 1.3 signature scheme and no TLS 1.2 suite offered here.
 */
export function keyProblem(key: KeyObject): KeyProblem | null {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = details.modulusLength ?? 0;
    if (bits < RSA_MIN_BITS)
      return {
        code: 'CERTIFICATE_WEAK',
        message: `a ${bits}-bit RSA key is too weak: use at least ${RSA_MIN_BITS} bits`,
      };
    if (bits > RSA_MAX_BITS) {
      return {
        code: 'CERTIFICATE_KEY_UNSUPPORTED',
        message: `a ${bits}-bit RSA key makes every handshake costly: use at most ${RSA_MAX_BITS} bits (or ECDSA P-256)`,
      };
    }
    return null;
  }
  if (type === 'ec') {
    const curve = details.namedCurve ?? 'unknown';
    if (EC_CURVES.includes(curve)) return null;
    return {
      code: 'CERTIFICATE_KEY_UNSUPPORTED',
      message: `an EC key on curve ${curve} cannot be served to TLS clients: use P-256, P-384 or P-521`,
    };
  }
  if (type === 'ed25519' || type === 'ed448') return null;
  return {
    code: 'CERTIFICATE_KEY_UNSUPPORTED',
    message: `a ${type ?? 'unknown'} key cannot be served to TLS clients: use RSA (${RSA_MIN_BITS}-${RSA_MAX_BITS} bits), ECDSA (P-256, P-384, P-521), Ed25519 or Ed448`,
  };
}
