import { z } from 'zod';
import { ConsumerName } from './access.js';
import { Tag } from './node.js';

export { ConsumerName } from './access.js';

// Consumers are named callers with credentials of one or more kinds. Secrets are stored only in the
// form the gateway needs to check them: API keys as SHA-256 (they are high-entropy, so a fast hash
// is enough and lets the gateway look a key up by its hash), passwords as scrypt, JWT secrets as
// given (HMAC needs them). The admin API returns each secret once, when it is created.

/** Shortest API key accepted when the operator brings their own (the generated ones are 43 characters). */
export const MIN_KEY_LENGTH = 24;

/** A credential as written to `POST /admin/consumers` or `…/credentials`. */
export const CredentialInput = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('key'),
    /** Omit to have a random key generated (returned once). */
    key: z
      .string()
      .min(MIN_KEY_LENGTH, `must be at least ${MIN_KEY_LENGTH} characters (omit it to have one generated)`)
      .max(256)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .optional(),
  }),
  z.strictObject({
    kind: z.literal('basic'),
    // Control characters are refused on purpose: a username travels in a header.
    username: z
      .string()
      .min(1)
      .max(128)
      // eslint-disable-next-line no-control-regex
      .regex(/^[^:\x00-\x1f\x7f]+$/, 'must not contain ":" or control characters'),
    password: z.string().min(8, 'must be at least 8 characters').max(1024),
  }),
  z
    .strictObject({
      kind: z.literal('jwt'),
      /** The value of the API's `claim` (default `sub`) that names this consumer. */
      subject: z.string().min(1).max(256),
      /** HS* secret (at least 32 characters); `"generate"` makes a random one (returned once). */
      secret: z
        .string()
        .min(32, 'must be at least 32 characters, or "generate"')
        .max(1024)
        .or(z.literal('generate'))
        .optional(),
      /** RS*, PS* or ES* public key (PEM, SPKI). */
      publicKey: z
        .string()
        .max(16_384)
        .regex(
          /^-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*$/,
          'must be a PEM public key (-----BEGIN PUBLIC KEY-----)',
        )
        .optional(),
    })
    .refine((c) => c.secret === undefined || c.publicKey === undefined, {
      message: 'give a secret or a public key, not both',
      path: ['publicKey'],
    }),
]);
export type CredentialInput = z.infer<typeof CredentialInput>;

const credentialBase = { id: z.string().min(1).max(64), createdAt: z.string() };

/** A credential as stored. */
export const StoredCredential = z.discriminatedUnion('kind', [
  z.strictObject({
    ...credentialBase,
    kind: z.literal('key'),
    /** SHA-256 of the key, hex. */
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    /** The key's last 4 characters, to tell keys apart. */
    hint: z.string().max(8),
  }),
  z.strictObject({
    ...credentialBase,
    kind: z.literal('basic'),
    username: z.string().min(1).max(128),
    /** `scrypt$N$r$p$salt$hash` (base64url). */
    hash: z.string().regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/),
  }),
  z.strictObject({
    ...credentialBase,
    kind: z.literal('jwt'),
    subject: z.string().min(1).max(256),
    secret: z.string().nullable(),
    publicKey: z.string().nullable(),
  }),
]);
export type StoredCredential = z.infer<typeof StoredCredential>;

/** A credential as the admin API shows it after creation: nothing that would let someone use it. */
export type CredentialView =
  | { id: string; kind: 'key'; hint: string; createdAt: string }
  | { id: string; kind: 'basic'; username: string; createdAt: string }
  | { id: string; kind: 'jwt'; subject: string; hasSecret: boolean; publicKey: string | null; createdAt: string };

const consumerFields = {
  name: ConsumerName,
  tags: z
    .array(Tag)
    .max(32)
    .transform((t) => [...new Set(t)]),
};

/** Most credentials one consumer holds. */
export const MAX_CREDENTIALS = 16;

/** Body of `POST /admin/consumers`. */
export const ConsumerCreate = z.strictObject({
  ...consumerFields,
  tags: consumerFields.tags.default([]),
  credentials: z.array(CredentialInput).max(MAX_CREDENTIALS).default([]),
});
export type ConsumerCreate = z.infer<typeof ConsumerCreate>;

/** Body of `PATCH /admin/consumers/:id` (credentials have routes of their own). */
export const ConsumerPatch = z.strictObject(consumerFields).partial();
export type ConsumerPatch = z.infer<typeof ConsumerPatch>;

/** A consumer as stored (its credentials hashed). */
export const Consumer = z.object({
  id: z.string(),
  ...consumerFields,
  credentials: z.array(StoredCredential).max(MAX_CREDENTIALS),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Consumer = z.infer<typeof Consumer>;

/** A consumer as the admin API returns it. */
export type ConsumerView = Omit<Consumer, 'credentials'> & { credentials: CredentialView[] };

/** What the admin API shows of a stored credential. */
export function credentialView(c: StoredCredential): CredentialView {
  switch (c.kind) {
    case 'key':
      return { id: c.id, kind: 'key', hint: c.hint, createdAt: c.createdAt };
    case 'basic':
      return { id: c.id, kind: 'basic', username: c.username, createdAt: c.createdAt };
    case 'jwt':
      return {
        id: c.id,
        kind: 'jwt',
        subject: c.subject,
        hasSecret: c.secret !== null,
        publicKey: c.publicKey,
        createdAt: c.createdAt,
      };
  }
}

/** What the admin API shows of a stored consumer. */
export function consumerView(c: Consumer): ConsumerView {
  return { ...c, credentials: c.credentials.map(credentialView) };
}

/** The key a credential is unique by across all consumers (the lookup the gateway does), or null. */
export function credentialLookup(c: StoredCredential): string {
  switch (c.kind) {
    case 'key':
      return `key:${c.hash}`;
    case 'basic':
      return `basic:${c.username}`;
    case 'jwt':
      return `jwt:${c.subject}`;
  }
}
