import type { AdminToken } from '../../model/token.js';
import { change } from '../changes.js';
import {
  AUDIT_KEEP,
  IDEMPOTENCY_COLUMNS,
  IDEMPOTENCY_KEEP,
  idempotencyCutoff,
  idempotencyFromRow,
  type IdempotencyRecord,
  type IdempotencyRow,
} from '../commit.js';
import { StoreRefusedError } from '../errors.js';
import { TOKEN_COLUMNS, tokenFromRow, tokenToRow, type TokenRow } from '../rows.js';
import type { Mutator } from '../store.js';
import { updatedToken } from '../tokens.js';
import type { WriteOutcome } from '../write-steps.js';
import type { Tx } from './connection.js';
import { SQL } from './sql.js';

// The PostgreSQL side of what is not config: named tokens, and the audit and Idempotency-Key rows
// the write helper keeps bounded. Each write runs inside a write transaction.

/** Every token, by name. */
export async function listTokens(c: Tx): Promise<AdminToken[]> {
  return (await c.query<TokenRow>(SQL.listTokens)).rows.map(tokenFromRow);
}

/** The stored token, or null. */
export async function readToken(c: Tx, id: string): Promise<AdminToken | null> {
  const row = (await c.query<TokenRow>(SQL.getToken, [id])).rows[0];
  return row ? tokenFromRow(row) : null;
}

/** The token whose secret hashes to `secretHash`, or null. */
export async function findTokenByHash(c: Tx, secretHash: string): Promise<AdminToken | null> {
  const row = (await c.query<TokenRow>(SQL.tokenByHash, [secretHash])).rows[0];
  return row ? tokenFromRow(row) : null;
}

/** Stores a new token (TOKEN_NAME_TAKEN when its name is in use). */
export async function insertToken(tx: Tx, token: AdminToken, secretHash: string): Promise<WriteOutcome<AdminToken>> {
  const row = tokenToRow(token, secretHash);
  await assertTokenNameFree(tx, row.name_key, token.id);
  await tx.query(
    SQL.insertToken,
    TOKEN_COLUMNS.map((c) => row[c]),
  );
  return { value: token, changes: [change('token', null, token)] };
}

/** Renames a token or changes its role; null when there is none. */
export async function changeToken(
  tx: Tx,
  id: string,
  mutate: Mutator<AdminToken>,
): Promise<WriteOutcome<AdminToken | null>> {
  const row = (await tx.query<TokenRow>(SQL.getToken, [id])).rows[0];
  if (!row) return { value: null, changes: [] };
  const current = tokenFromRow(row);
  const next = updatedToken(current, mutate);
  const r = tokenToRow(next, row.secret_hash);
  await assertTokenNameFree(tx, r.name_key, id);
  await tx.query(SQL.updateToken, [id, r.name, r.name_key, r.role, r.updated_at]);
  return { value: next, changes: [change('token', current, next)] };
}

/** Deletes a token; false when there was none. */
export async function removeToken(tx: Tx, id: string): Promise<WriteOutcome<boolean>> {
  const row = (await tx.query<TokenRow>(SQL.getToken, [id])).rows[0];
  if (!row) return { value: false, changes: [] };
  await tx.query(SQL.deleteToken, [id]);
  return { value: true, changes: [change('token', tokenFromRow(row), null)] };
}

async function assertTokenNameFree(tx: Tx, nameKey: string, id: string): Promise<void> {
  const holder = (await tx.query<{ id: string }>(SQL.tokenByNameKey, [nameKey])).rows[0]?.id;
  if (holder !== undefined && holder !== id)
    throw new StoreRefusedError('TOKEN_NAME_TAKEN', 'another admin token has this name');
}

/** Prunes the oldest audit entries beyond AUDIT_KEEP, a whole write at a time (a restore must never see half of one). */
export async function pruneAudit(tx: Tx): Promise<void> {
  const cutoff = Number((await tx.query<{ id: number }>(SQL.lastAuditId)).rows[0]!.id) - AUDIT_KEEP;
  if (cutoff <= 0) return;
  const version = (await tx.query<{ version: number | null }>(SQL.lastPrunedVersion, [cutoff])).rows[0]?.version ?? -1;
  await tx.query(SQL.pruneAudit, [cutoff, version]);
}

/** The Idempotency-Key `key` of `actorId` when it was recorded within its time to live, else null. */
export async function findKey(c: Tx, actorId: string, key: string): Promise<IdempotencyRecord | null> {
  const row = (await c.query<IdempotencyRow>(SQL.findKey, [actorId, key, idempotencyCutoff()])).rows[0];
  return row ? idempotencyFromRow(row) : null;
}

/** Records an Idempotency-Key (pruning expired ones); IDEMPOTENCY_KEY_IN_USE when another request saved it first. */
export async function recordKey(tx: Tx, row: IdempotencyRow): Promise<void> {
  await tx.query(SQL.pruneKeys, [idempotencyCutoff(), IDEMPOTENCY_KEEP]);
  try {
    await tx.query(
      SQL.insertKey,
      IDEMPOTENCY_COLUMNS.map((c) => row[c]),
    );
  } catch (err) {
    // 23505 is unique_violation: the (actor, key) pair was committed by a concurrent request.
    if ((err as { code?: string }).code !== '23505') throw err;
    throw new StoreRefusedError(
      'IDEMPOTENCY_KEY_IN_USE',
      `another request with Idempotency-Key ${row.idem_key} was saved first; retry to get its answer`,
    );
  }
}
