import type { AuditEntry, AuditPage, AuditListing, ChangeOp, ObjectKind } from '../model/audit.js';
import type { AuditRow } from './commit.js';

/** An `audit_log` row as read back, with its id. */
export type StoredAuditRow = AuditRow & { id: number | string };

/** Maps an `audit_log` row to the entry the admin API lists. */
export function auditEntryFromRow(row: StoredAuditRow): AuditEntry {
  return {
    id: Number(row.id),
    at: row.at,
    actor: { id: row.actor_id, name: row.actor_name },
    op: row.op as ChangeOp,
    kind: row.kind as ObjectKind,
    objectId: row.object_id,
    objectName: row.object_name,
    apiId: row.api_id,
    before: row.before_json === null ? null : JSON.parse(row.before_json),
    after: row.after_json === null ? null : JSON.parse(row.after_json),
    version: row.config_version === null ? null : Number(row.config_version),
    cause: row.cause,
  };
}

/**
 * The WHERE clause (and its values) of an audit query; `param` writes the placeholder of the next
 * value (`?` for SQLite, `$n` for PostgreSQL). Newest first, one more row than the page to know
 * whether an older page follows.
 */
export function auditSelect(
  columns: string,
  q: AuditListing,
  param: (index: number) => string,
): { sql: string; values: unknown[] } {
  const values: unknown[] = [];
  const where: string[] = [];
  const add = (clause: string, value: unknown) => {
    values.push(value);
    where.push(clause.replace('?', param(values.length)));
  };
  if (q.kind !== undefined) add('kind = ?', q.kind);
  if (q.withoutTokens === true) add('kind <> ?', 'token');
  if (q.objectId !== undefined) add('object_id = ?', q.objectId);
  if (q.apiId !== undefined) add('api_id = ?', q.apiId);
  if (q.actor !== undefined) add('actor_name = ?', q.actor);
  if (q.op !== undefined) add('op = ?', q.op);
  if (q.version !== undefined) add('config_version = ?', q.version);
  if (q.since !== undefined) add('at >= ?', new Date(q.since).toISOString());
  if (q.until !== undefined) add('at <= ?', new Date(q.until).toISOString());
  if (q.before !== undefined) add('id < ?', q.before);
  values.push(q.limit + 1);
  const sql = `SELECT id, ${columns} FROM audit_log${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${param(values.length)}`;
  return { sql, values };
}

/** One page from the rows `auditSelect` read. */
export function auditPage(rows: readonly StoredAuditRow[], limit: number): AuditPage {
  const entries = rows.slice(0, limit).map(auditEntryFromRow);
  return { entries, next: rows.length > limit ? entries.at(-1)!.id : null };
}
