import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { CertificateName, MAX_CHAIN_PEM_CHARS, MAX_KEY_PEM_CHARS, type Certificate } from '../model/certificate.js';
import { checkCertificate } from '../model/certificate-check.js';
import { ConsumerName, MAX_CREDENTIALS, StoredCredential, type Consumer } from '../model/consumer.js';
import { Tag } from '../model/node.js';
import { consumerNameKey } from '../store/conflicts.js';
import { StoreRefusedError } from '../store/errors.js';
import type { PlannedWrite } from '../store/plans.js';
import type { ConfigState } from '../store/store.js';
import type { FileIssue, Section } from './section.js';

// The config-file sections whose objects hold secrets (issue 17, docs/config-files.md): certificates
// (their private keys) and consumers (their credentials' hashes and JWT secrets). An export leaves the
// secrets out unless asked for; an entry without its secret keeps the stored one, which must then be
// the same certificate or the credential of the same id (src/store/kept-secrets.ts). A secret that is
// neither in the file nor stored refuses the whole apply with SECRET_NOT_STORED: nothing is written.

const byFirst =
  <T>(key: (x: T) => string) =>
  (a: T, b: T) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

/** A certificate in a file: the host names it serves (how it is matched), its PEM chain, its key (with secrets only). */
const CertificateEntry = z.strictObject({
  /** The DNS names of its SAN, as the certificate lists them; they must be the PEM's. */
  names: z.array(CertificateName).min(1).max(1000),
  certificate: z.string().min(1).max(MAX_CHAIN_PEM_CHARS),
  /** Left out of exports unless asked for; without it the stored certificate of these names must be this same one. */
  privateKey: z.string().min(1).max(MAX_KEY_PEM_CHARS).optional(),
  isDefault: z.boolean().default(false),
});
type CertificateEntry = z.input<typeof CertificateEntry>;

const sameNames = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((n) => b.includes(n));

/** The stored certificate an entry updates: the first not yet taken that serves one of its names. */
function matchCertificate(
  state: ConfigState,
  names: readonly string[],
  taken: ReadonlySet<string>,
): Certificate | null {
  return state.certificates.find((c) => !taken.has(c.id) && c.names.some((n) => names.includes(n))) ?? null;
}

/** The whole certificate an entry stands for: the stored one when the PEM (and key, if given) are its own, else the upload checked afresh. */
function certificateOf(
  e: z.output<typeof CertificateEntry>,
  current: Certificate | null,
  where: string,
): Omit<Certificate, 'id' | 'createdAt' | 'updatedAt'> {
  const same =
    current !== null &&
    current.certificate.trim() === e.certificate.trim() &&
    (e.privateKey === undefined || e.privateKey.trim() === current.privateKey.trim());
  if (same) return { ...current, isDefault: e.isDefault };
  if (e.privateKey === undefined) {
    const why =
      current === null
        ? 'no certificate for these names is stored'
        : 'the stored certificate for these names is another one';
    throw new StoreRefusedError(
      'SECRET_NOT_STORED',
      `${where}: the entry has no privateKey and ${why}; give its privateKey (export with --secrets) or upload it through the admin API`,
    );
  }
  // The same checks as an upload (CertificateProblem codes), so a file cannot store what the API would refuse.
  return { ...checkCertificate({ certificate: e.certificate, privateKey: e.privateKey }), isDefault: e.isDefault };
}

/** `certificates`: by host names; private keys only with secrets. */
export const certificatesSection: Section<CertificateEntry> = {
  key: 'certificates',
  max: 10_000,
  entry: CertificateEntry as unknown as z.ZodType<CertificateEntry>,
  export: (state, { secrets }) =>
    [...state.certificates].sort(byFirst((c) => c.names[0]!)).map((c) => ({
      names: c.names,
      certificate: c.certificate,
      ...(secrets ? { privateKey: c.privateKey } : {}),
      isDefault: c.isDefault,
    })),
  plan(entries, { state, now }) {
    const taken = new Set<string>();
    const plan: PlannedWrite[] = entries.map((entry, i) => {
      const e = CertificateEntry.parse(entry);
      const current = matchCertificate(state, e.names, taken);
      const fields = certificateOf(e, current, `certificates.${i} (${e.names[0]})`);
      if (!sameNames(fields.names, e.names)) {
        const message = `the certificate serves ${fields.names.join(', ')}, not ${e.names.join(', ')}`;
        throw new z.ZodError([{ code: 'custom', path: ['certificates', i, 'names'], message, input: e.names }]);
      }
      const id = current?.id ?? randomUUID();
      taken.add(id);
      return { kind: 'certificate', id, next: { ...fields, id, createdAt: current?.createdAt ?? now, updatedAt: now } };
    });
    for (const c of state.certificates) if (!taken.has(c.id)) plan.push({ kind: 'certificate', id: c.id, next: null });
    return plan;
  },
  check(entries) {
    const issues: FileIssue[] = [];
    const owner = new Map<string, number>();
    entries.forEach((e, i) => {
      for (const name of e.names ?? []) {
        const first = owner.get(name);
        if (first !== undefined && first !== i)
          issues.push({
            path: ['certificates', i, 'names'],
            message: `${name} is already served by certificates.${first}`,
          });
        else owner.set(name, i);
      }
    });
    const defaults = entries.flatMap((e, i) => (e.isDefault ? [i] : []));
    if (defaults.length > 1)
      issues.push({
        path: ['certificates', defaults[1]!, 'isDefault'],
        message: `certificates.${defaults[0]} is the default already`,
      });
    return issues;
  },
};

// A credential in a file is matched by its id among its consumer's stored ones. With its secret (the
// stored form: a key's or password's hash, a JWT secret) it is written as given; without, the stored
// credential of that id is kept (credentials never change once made).
const [KeyCredential, BasicCredential, JwtCredential] = StoredCredential.options;
const CredentialEntry = z.discriminatedUnion('kind', [
  KeyCredential.partial({ hash: true, createdAt: true }),
  BasicCredential.partial({ hash: true, createdAt: true }),
  JwtCredential.partial({ secret: true, createdAt: true }).extend({
    publicKey: z.string().max(16_384).nullable().default(null),
  }),
]);
type CredentialEntry = z.output<typeof CredentialEntry>;

/** A consumer in a file: its name, tags and credentials (their secrets only with secrets). */
const ConsumerEntry = z.strictObject({
  name: ConsumerName,
  tags: z.array(Tag).max(32).default([]),
  credentials: z.array(CredentialEntry).max(MAX_CREDENTIALS).default([]),
});
type ConsumerEntry = z.input<typeof ConsumerEntry>;

/** A stored credential as a file holds it: without its secret unless asked for, without its creation time. */
function credentialEntry(c: StoredCredential, secrets: boolean): z.input<typeof CredentialEntry> {
  const { createdAt: _c, ...fields } = c;
  if (secrets) return fields;
  if (fields.kind === 'jwt') {
    const { secret: _s, ...rest } = fields;
    return rest;
  }
  const { hash: _h, ...rest } = fields;
  return rest;
}

/**
 * What the plan puts for a credential entry: the stored form when it carries its secret (its creation
 * time kept if the consumer already has it), else the form the audit log keeps, which the store
 * resolves to the stored credential of that id.
 */
function plannedCredential(c: CredentialEntry, stored: Consumer | undefined, now: string): object {
  const createdAt = c.createdAt ?? stored?.credentials.find((s) => s.id === c.id)?.createdAt ?? now;
  const secretGiven = c.kind === 'jwt' ? c.secret !== undefined : c.hash !== undefined;
  if (secretGiven)
    return StoredCredential.parse(
      c.kind === 'jwt' ? { ...c, secret: c.secret ?? null, createdAt } : { ...c, createdAt },
    );
  // A JWT credential with a public key has no secret: it can be made from the file alone.
  return c.kind === 'jwt' ? { ...c, hasSecret: c.publicKey === null, createdAt } : { ...c, createdAt };
}

/** `consumers`: by name (case-insensitive), with their credentials by id; secrets only with secrets. */
export const consumersSection: Section<ConsumerEntry> = {
  key: 'consumers',
  max: 100_000,
  entry: ConsumerEntry as unknown as z.ZodType<ConsumerEntry>,
  export: (state, { secrets }) =>
    [...state.consumers].sort(byFirst((c) => consumerNameKey(c.name))).map((c) => ({
      name: c.name,
      tags: c.tags,
      credentials: c.credentials.map((cr) => credentialEntry(cr, secrets)),
    })),
  plan(entries, { state, now }) {
    const stored = new Map(state.consumers.map((c) => [consumerNameKey(c.name), c]));
    const kept = new Set<string>();
    const plan: PlannedWrite[] = entries.map((entry) => {
      const e = ConsumerEntry.parse(entry);
      const current = stored.get(consumerNameKey(e.name));
      const id = current?.id ?? randomUUID();
      kept.add(id);
      const credentials = e.credentials.map((c) => plannedCredential(c, current, now));
      return {
        kind: 'consumer',
        id,
        next: { name: e.name, tags: e.tags, credentials, id, createdAt: current?.createdAt ?? now, updatedAt: now },
      };
    });
    for (const c of state.consumers) if (!kept.has(c.id)) plan.push({ kind: 'consumer', id: c.id, next: null });
    return plan;
  },
  check(entries) {
    const issues: FileIssue[] = [];
    const names = new Map<string, number>();
    entries.forEach((e, i) => {
      const key = consumerNameKey(e.name);
      const first = names.get(key);
      if (first !== undefined)
        issues.push({
          path: ['consumers', i, 'name'],
          message: `a consumer named "${e.name}" is already in consumers.${first}`,
        });
      else names.set(key, i);
      const ids = new Set<string>();
      (e.credentials ?? []).forEach((c, j) => {
        if (ids.has(c.id))
          issues.push({
            path: ['consumers', i, 'credentials', j, 'id'],
            message: `credential ${c.id} is listed twice`,
          });
        ids.add(c.id);
      });
    });
    return issues;
  },
};
