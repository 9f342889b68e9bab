import { constants, randomBytes } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';

/**
 * TLS 1.2 suites with forward secrecy and AEAD only (Mozilla's "intermediate" list without the DHE
 * suites); TLS 1.3 suites are OpenSSL's defaults, all of which qualify.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Protocol settings every context of the TLS port gets (the listener's own and each certificate's). */
export const TLS_PROTOCOL_OPTIONS: SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: TLS12_CIPHERS,
  // Mozilla's intermediate profile leaves the order to the client, which knows whether it has AES hardware.
  honorCipherOrder: false,
  // No TLS 1.2 renegotiation: each would be a full handshake a client forces on one connection.
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
};

/** Environment variable carrying the session ticket keys from a primary to its gateway workers. */
export const TICKET_KEYS_ENV = 'ISOGATE_TLS_TICKET_KEYS';

/** Size of node's session ticket keys (name, HMAC and AES keys). */
const TICKET_KEYS_BYTES = 48;

/**
 * The session ticket keys of this process: the primary's (from TICKET_KEYS_ENV) in a worker, so a
 * ticket one worker issued resumes on any sibling, else new random ones. They live in memory as long
 * as the process and are never stored: TLS 1.2 resumption runs no new key exchange, so a leaked ticket
 * key would expose the sessions resumed with it (TLS 1.3's runs an (EC)DHE exchange).
 */
export function ticketKeys(env: NodeJS.ProcessEnv = process.env): Buffer {
  const hex = env[TICKET_KEYS_ENV];
  if (hex !== undefined && /^[0-9a-f]{96}$/.test(hex)) return Buffer.from(hex, 'hex');
  return randomBytes(TICKET_KEYS_BYTES);
}
