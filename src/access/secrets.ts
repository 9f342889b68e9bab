import { hash, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import type { CredentialInput, StoredCredential } from '../model/consumer.js';

// How consumer secrets are made, stored and checked. API keys are 256 random bits, so SHA-256 of a
// key is as hard to reverse as the key is to guess, and the gateway finds a key's consumer by hashing
// what it was sent. Passwords are people's, so they get scrypt (RFC 7914), which costs each guess
// memory and time.

/** scrypt cost of new password hashes (N, r, p: about 16 MiB and tens of ms per hash). */
export const SCRYPT = { N: 16_384, r: 8, p: 1, keyLength: 32 } as const;

/** A new random API key (256 bits, base64url). */
export function generateKey(): string {
  return randomBytes(32).toString('base64url');
}

/** SHA-256 of a string (UTF-8), hex. One-shot: no Hash object per call (it runs on every keyed request). */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem: the default (32 MiB) is just enough for N=16384, r=8; allow headroom for stored costs up to 4x.
    scrypt(password, salt, length, { N, r, p, maxmem: 256 * N * r + 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** A password's stored form: `scrypt$N$r$p$salt$hash`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keyLength);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

let unknownUser: string | null = null;

/**
 * A stored form no password matches (random salt and key, today's cost), checked for a username no
 * consumer has so that the answer takes as long as for a wrong password.
 */
export function unknownUserHash(): string {
  unknownUser ??= `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${randomBytes(16).toString('base64url')}$${randomBytes(SCRYPT.keyLength).toString('base64url')}`;
  return unknownUser;
}

/** Whether `password` matches a stored `scrypt$…` hash (false for a malformed one). */
export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  // Costs outside what isogate writes are refused rather than run (a tampered row must not pin a core).
  if (!(N >= 2 && N <= 65_536 && r >= 1 && r <= 16 && p >= 1 && p <= 4)) return false;
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length < 16 || expected.length > 64) return false;
  const key = await scryptAsync(password, Buffer.from(parts[4]!, 'base64url'), N, r, p, expected.length);
  return timingSafeEqual(key, expected);
}

/** A credential ready to store, and the secret to show once (null when the operator gave it). */
export interface NewCredential {
  stored: StoredCredential;
  /** The generated API key or JWT secret, returned once by the admin API. */
  secret: string | null;
}

/** Turns a credential as written to the admin API into its stored form, generating secrets asked for. */
export async function storeCredential(input: CredentialInput): Promise<NewCredential> {
  const base = { id: randomUUID(), createdAt: new Date().toISOString() };
  switch (input.kind) {
    case 'key': {
      const key = input.key ?? generateKey();
      return {
        stored: { ...base, kind: 'key', hash: sha256Hex(key), hint: key.slice(-4) },
        secret: input.key === undefined ? key : null,
      };
    }
    case 'basic':
      return {
        stored: { ...base, kind: 'basic', username: input.username, hash: await hashPassword(input.password) },
        secret: null,
      };
    case 'jwt': {
      const generated = input.secret === 'generate' ? randomBytes(32).toString('base64url') : null;
      const secret = generated ?? input.secret ?? null;
      return {
        stored: { ...base, kind: 'jwt', subject: input.subject, secret, publicKey: input.publicKey ?? null },
        secret: generated,
      };
    }
  }
}
