import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type { Consumer } from '../model/consumer.js';

/** What a selector sees of the calling consumer (`request.consumer`), frozen. */
export interface ConsumerView {
  readonly name: string;
  readonly tags: readonly string[];
}

/** A consumer ready for the access stage. */
export interface CompiledConsumer {
  readonly id: string;
  readonly name: string;
  readonly tags: readonly string[];
  /** `request.consumer` for selectors (one frozen object per config version). */
  readonly view: ConsumerView;
  /** Its rate-limit bucket key for limits `by: consumer` (`c:<name>`), made once, not per request. */
  readonly limitKey: string;
}

/** A consumer's JWT credential with its verification key resolved. */
export interface JwtCredential {
  readonly consumer: CompiledConsumer;
  /** The HS* secret or the public key; null when tokens for this subject are verified by the API's JWKS. */
  readonly key: KeyObject | null;
}

/** Every consumer of one config version, indexed the way each credential kind looks callers up. */
export interface CompiledConsumers {
  readonly byName: ReadonlyMap<string, CompiledConsumer>;
  /** SHA-256 (hex) of an API key → its consumer. */
  readonly byKeyHash: ReadonlyMap<string, CompiledConsumer>;
  /** Basic username → its consumer and scrypt hash. */
  readonly byUsername: ReadonlyMap<string, { readonly consumer: CompiledConsumer; readonly hash: string }>;
  /** JWT subject → its consumer and key. */
  readonly byJwtSubject: ReadonlyMap<string, JwtCredential>;
}

/** Consumers of a config with none. */
export const NO_CONSUMERS: CompiledConsumers = compileConsumers([]);

/** Indexes the consumers of one config version (keys are imported once here, not per request). */
export function compileConsumers(consumers: readonly Consumer[]): CompiledConsumers {
  const byName = new Map<string, CompiledConsumer>();
  const byKeyHash = new Map<string, CompiledConsumer>();
  const byUsername = new Map<string, { consumer: CompiledConsumer; hash: string }>();
  const byJwtSubject = new Map<string, JwtCredential>();
  for (const c of consumers) {
    const tags = Object.freeze([...c.tags]);
    const compiled: CompiledConsumer = Object.freeze({
      id: c.id,
      name: c.name,
      tags,
      view: Object.freeze({ name: c.name, tags }),
      limitKey: `c:${c.name}`,
    });
    byName.set(c.name, compiled);
    for (const cred of c.credentials) {
      if (cred.kind === 'key') byKeyHash.set(cred.hash, compiled);
      else if (cred.kind === 'basic') byUsername.set(cred.username, { consumer: compiled, hash: cred.hash });
      else byJwtSubject.set(cred.subject, { consumer: compiled, key: jwtKey(cred.secret, cred.publicKey) });
    }
  }
  return { byName, byKeyHash, byUsername, byJwtSubject };
}

function jwtKey(secret: string | null, publicKey: string | null): KeyObject | null {
  if (secret !== null) return createSecretKey(Buffer.from(secret, 'utf8'));
  if (publicKey === null) return null;
  try {
    return createPublicKey(publicKey);
  } catch {
    // A key that does not parse verifies nothing: tokens for this subject fail, the rest of the config serves.
    return null;
  }
}
