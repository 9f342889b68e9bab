import { createHash } from 'node:crypto';
import type { ChangeOp, ObjectKind, PlanResult } from '../model/audit.js';
import { withoutPrivateKey, type Certificate } from '../model/certificate.js';
import { consumerView, type Consumer } from '../model/consumer.js';

/**
 * What one write did to one stored object: every store write reports its changes, and the store's
 * write helper turns them into audit rows (and bumps the config version when a config kind changed).
 * `before` is null for a create and `after` null for a delete; both are the objects as the admin API
 * answers with them, never a secret (`auditView`: a token without its secret's hash, a certificate
 * without its private key, a consumer's credentials without their hashes and secrets).
 */
export interface Change {
  readonly kind: ObjectKind;
  readonly id: string;
  readonly name: string;
  /** The API the object is or belongs to (null: variables, tokens). */
  readonly apiId: string | null;
  readonly before: object | null;
  readonly after: object | null;
}

/** How each kind names its objects and whether its writes are config (they bump the version and reach the gateways). */
interface KindInfo {
  readonly config: boolean;
  id(o: object): string;
  name(o: object): string;
  apiId(o: object): string | null;
  /** The object as the audit log keeps it and entity tags are made of: secrets left out (absent: as stored). */
  view?(o: object): object;
}

type Fields = { id?: string; name?: string; apiId?: string; names?: string[] };
const f = (o: object): Fields => o as Fields;

/** Every object kind a write can change. A new kind gets its line here (and in `ObjectKind`). */
export const OBJECT_KINDS: Record<ObjectKind, KindInfo> = {
  api: { config: true, id: (o) => f(o).id!, name: (o) => f(o).name!, apiId: (o) => f(o).id! },
  node: { config: true, id: (o) => f(o).id!, name: (o) => f(o).name!, apiId: (o) => f(o).apiId! },
  variable: { config: true, id: (o) => f(o).name!, name: (o) => f(o).name!, apiId: () => null },
  // A certificate is named by the first host name it serves; its private key never reaches the log.
  certificate: {
    config: true,
    id: (o) => f(o).id!,
    name: (o) => f(o).names![0]!,
    apiId: () => null,
    view: (o) => withoutPrivateKey(o as Certificate),
  },
  // A consumer's credentials are logged as the admin API shows them (kind, hint, username, subject), never their hashes.
  consumer: {
    config: true,
    id: (o) => f(o).id!,
    name: (o) => f(o).name!,
    apiId: () => null,
    view: (o) => consumerView(o as Consumer),
  },
  token: { config: false, id: (o) => f(o).id!, name: (o) => f(o).name!, apiId: () => null },
};

/** A stored object as the audit log keeps it: its secrets left out. */
export function auditView(kind: ObjectKind, o: object): object {
  const view = OBJECT_KINDS[kind].view;
  return view ? view(o) : o;
}

/**
 * The change that sets an object from `before` to `after` (one of them may be null, not both), both
 * as stored: the change holds their audit views, so no write can log a secret.
 */
export function change(kind: ObjectKind, before: object | null, after: object | null, name?: string): Change {
  const obj = (after ?? before)!;
  const info = OBJECT_KINDS[kind];
  const view = (o: object | null) => (o === null ? null : auditView(kind, o));
  return {
    kind,
    id: info.id(obj),
    name: name ?? info.name(obj),
    apiId: info.apiId(obj),
    before: view(before),
    after: view(after),
  };
}

/** create, update or delete. */
export function opOf(c: Pick<Change, 'before' | 'after'>): ChangeOp {
  return c.before === null ? 'create' : c.after === null ? 'delete' : 'update';
}

/** Whether a write with these changes is a config write (bumps the version, notifies gateways). */
export function isConfigWrite(changes: readonly Change[]): boolean {
  return changes.some((c) => OBJECT_KINDS[c.kind].config);
}

/** The short list a revert, restore or apply answers with. */
export function summarize(changes: readonly Change[], version: number | null): PlanResult {
  return { version, changes: changes.map((c) => ({ op: opOf(c), kind: c.kind, id: c.id, name: c.name })) };
}

/**
 * An object's entity tag: a hash of its JSON as the admin API sends it, so it changes with every
 * write to the object (updatedAt included) and `If-Match` can be checked inside the write transaction.
 */
export function etagOf(value: unknown): string {
  return etagOfText(JSON.stringify(value));
}

/** The entity tag of a stored object of `kind`: that of its audit view, which is what `If-Match` is checked against. */
export function objectEtag(kind: ObjectKind, o: object): string {
  return etagOf(auditView(kind, o));
}

/** The entity tag of a JSON text (what the admin API sends). */
export function etagOfText(json: string): string {
  return `"${createHash('sha256').update(json, 'utf8').digest('base64url').slice(0, 27)}"`;
}
