import type { AdminToken } from '../../model/token.js';
import { change } from '../changes.js';
import {
  AUDIT_KEEP,
  IDEMPOTENCY_KEEP,
  idempotencyCutoff,
  idempotencyFromRow,
  type IdempotencyRecord,
  type IdempotencyRow,
} from '../commit.js';
import { StoreRefusedError } from '../errors.js';
import { tokenFromRow, tokenToRow, type TokenRow } from '../rows.js';
import type { Mutator } from '../store.js';
import { updatedToken } from '../tokens.js';
import type { WriteOutcome } from '../write-steps.js';
import type { Statements } from './statements.js';

// The SQLite side of what is not config: named tokens, and the audit and Idempotency-Key rows the
// write helper keeps bounded. Each write runs inside a write transaction.

/** Every token, by name. */
export function listTokens(stmt: Statements): AdminToken[] {
  return (stmt.listTokens.all() as TokenRow[]).map(tokenFromRow);
}

/** The stored token, or null. */
export function readToken(stmt: Statements, id: string): AdminToken | null {
  const row = stmt.getToken.get(id) as TokenRow | undefined;
  return row ? tokenFromRow(row) : null;
}

/** The token whose secret hashes to `secretHash`, or null. */
export function findTokenByHash(stmt: Statements, secretHash: string): AdminToken | null {
  const row = stmt.tokenByHash.get(secretHash) as TokenRow | undefined;
  return row ? tokenFromRow(row) : null;
}

/** Stores a new token (TOKEN_NAME_TAKEN when its name is in use). */
export function insertToken(stmt: Statements, token: AdminToken, secretHash: string): WriteOutcome<AdminToken> {
  const row = tokenToRow(token, secretHash);
  assertTokenNameFree(stmt, row.name_key, token.id);
  stmt.insertToken.run(row);
  return { value: token, changes: [change('token', null, token)] };
}

/** Renames a token or changes its role; null when there is none. */
export function changeToken(
  stmt: Statements,
  id: string,
  mutate: Mutator<AdminToken>,
): WriteOutcome<AdminToken | null> {
  const row = stmt.getToken.get(id) as TokenRow | undefined;
  if (!row) return { value: null, changes: [] };
  const current = tokenFromRow(row);
  const next = updatedToken(current, mutate);
  const nextRow = tokenToRow(next, row.secret_hash);
  assertTokenNameFree(stmt, nextRow.name_key, id);
  stmt.updateToken.run(nextRow);
  return { value: next, changes: [change('token', current, next)] };
}

/** Deletes a token; false when there was none. */
export function removeToken(stmt: Statements, id: string): WriteOutcome<boolean> {
  const row = stmt.getToken.get(id) as TokenRow | undefined;
  if (!row) return { value: false, changes: [] };
  stmt.deleteToken.run(id);
  return { value: true, changes: [change('token', tokenFromRow(row), null)] };
}

function assertTokenNameFree(stmt: Statements, nameKey: string, id: string): void {
  const holder = stmt.tokenByNameKey.get(nameKey) as string | undefined;
  if (holder !== undefined && holder !== id)
    throw new StoreRefusedError('TOKEN_NAME_TAKEN', 'another admin token has this name');
}

/** Prunes the oldest audit entries beyond AUDIT_KEEP, a whole write at a time (a restore must never see half of one). */
export function pruneAudit(stmt: Statements): void {
  const cutoff = (stmt.lastAuditId.get() as number) - AUDIT_KEEP;
  if (cutoff <= 0) return;
  stmt.pruneAudit.run({ id: cutoff, version: (stmt.lastPrunedVersion.get(cutoff) as number | null) ?? -1 });
}

/** The Idempotency-Key `key` of `actorId` when it was recorded within its time to live, else null. */
export function findKey(stmt: Statements, actorId: string, key: string): IdempotencyRecord | null {
  const row = stmt.findKey.get(actorId, key, idempotencyCutoff()) as
    Pick<IdempotencyRow, 'fingerprint' | 'status' | 'body' | 'created_at'> | undefined;
  return row ? idempotencyFromRow(row) : null;
}

/** Records an Idempotency-Key (pruning expired ones); IDEMPOTENCY_KEY_IN_USE when another request saved it first. */
export function recordKey(stmt: Statements, row: IdempotencyRow): void {
  stmt.pruneKeys.run({ cutoff: idempotencyCutoff(), keep: IDEMPOTENCY_KEEP });
  try {
    stmt.insertKey.run(row);
  } catch (err) {
    if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
    throw new StoreRefusedError(
      'IDEMPOTENCY_KEY_IN_USE',
      `another request with Idempotency-Key ${row.idem_key} was saved first; retry to get its answer`,
    );
  }
}
