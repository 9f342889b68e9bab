import { z } from 'zod';

/**
 * The kinds of stored objects a write can change. Each kind has its entry in `OBJECT_KINDS`
 * (src/store/changes.ts); a new kind is added in both places.
 */
export const ObjectKind = z.enum(['api', 'node', 'variable', 'certificate', 'consumer', 'token']);
export type ObjectKind = z.infer<typeof ObjectKind>;

/** What a write did to one object. */
export const ChangeOp = z.enum(['create', 'update', 'delete']);
export type ChangeOp = z.infer<typeof ChangeOp>;

/** One object change of one write, as the audit log keeps it. */
export interface AuditEntry {
  /** Increases with every entry; the paging cursor. */
  id: number;
  /** When it was written (the writer's clock, ISO 8601 UTC). */
  at: string;
  /** The admin token that made the write (`system` for isogate's own writes, `cli` for the command line). */
  actor: { id: string; name: string };
  op: ChangeOp;
  kind: ObjectKind;
  objectId: string;
  /** The object's name (for a node: its API's name, a slash, its own). */
  objectName: string;
  /** The API the object is or belongs to; null for variables and tokens. */
  apiId: string | null;
  /**
   * The object as it was (null: it was created) and as it is after (null: it was deleted), as the
   * admin API shows it: never a secret (a certificate without its private key, a consumer's
   * credentials without their hashes or secrets).
   */
  before: unknown;
  after: unknown;
  /** The config version the write made; null for writes that are not config (tokens). Every entry of one write has the same. */
  version: number | null;
  /** Why the write was made when it was not a plain edit: `revert of version 12`, `restore of version 9`, `config apply`. */
  cause: string | null;
}

/** Largest page of `GET /admin/audit`. */
export const AUDIT_PAGE_MAX = 500;

const QueryInt = z.coerce.number().int().min(0);

/** Query of `GET /admin/audit`: filters (all optional, combined with and), newest first, paged by `before`. */
export const AuditQuery = z.strictObject({
  kind: ObjectKind.optional(),
  objectId: z.string().min(1).max(200).optional(),
  /** Entries of this API and of its nodes. */
  apiId: z.string().min(1).max(200).optional(),
  /** The actor's token name. */
  actor: z.string().min(1).max(100).optional(),
  op: ChangeOp.optional(),
  version: QueryInt.optional(),
  since: z.iso.datetime().optional(),
  until: z.iso.datetime().optional(),
  /** Only entries older than this entry id (the `next` of the previous page). */
  before: QueryInt.optional(),
  limit: z.coerce.number().int().min(1).max(AUDIT_PAGE_MAX).default(50),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

/** A listing of the audit log: the query, and whether admin-token entries are left out (for callers below admin). */
export type AuditListing = AuditQuery & { withoutTokens?: boolean };

/** One page of the audit log: entries newest first, and the cursor of the next (older) page, or null. */
export interface AuditPage {
  entries: AuditEntry[];
  next: number | null;
}

/** What a revert, a restore or a config apply changed, and the config version it made (null: nothing changed). */
export interface PlanResult {
  version: number | null;
  changes: Array<{ op: ChangeOp; kind: ObjectKind; id: string; name: string }>;
}
