import type { Api } from '../model/api.js';
import { budgetRefusal, selectorUse, useDelta, type SelectorUse } from '../model/selector-budget.js';
import type { Change } from './changes.js';
import { etagOf, isConfigWrite, OBJECT_KINDS, opOf } from './changes.js';
import { DryRunResult, StoreRefusedError } from './errors.js';
import type { WriteScope } from './write-scope.js';

// What every driver's write helper does with a step's changes before it commits, so that auditing,
// If-Match, dry runs and idempotency keys behave the same on every store: the driver runs the step,
// calls `checkBeforeCommit`, bumps the version when `isConfigWrite`, and inserts `auditRows` and
// `idempotencyRow` in the same transaction.

/** Audit entries kept; older ones are pruned a whole write at a time. */
export const AUDIT_KEEP = 100_000;
/** How long an Idempotency-Key is remembered. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** Most Idempotency-Keys remembered (the oldest go first). */
export const IDEMPOTENCY_KEEP = 10_000;

/**
 * What a write adds to the selectors' use (src/model/selector-budget.ts) when its scope holds a
 * selector budget and it adds programs or memory; then the driver reads the APIs as the write left
 * them, in its transaction, for checkBeforeCommit. Null: nothing to check (no read).
 */
export function selectorGrowth(scope: WriteScope, changes: readonly Change[]): SelectorUse | null {
  if (scope.selectorBudget === undefined) return null;
  const delta = useDelta(
    changes
      .filter((c) => c.kind === 'api')
      .map((c) => ({ before: c.before as Api | null, after: c.after as Api | null })),
  );
  return delta.programs > 0 || delta.memoryMb > 0 ? delta : null;
}

/** A write's growth of the selectors' use with the APIs as it left them (see selectorGrowth). */
export interface SelectorCheck {
  readonly delta: SelectorUse;
  readonly apis: readonly Api[];
}

/**
 * Throws, rolling the write back, when `If-Match` or the scope's `confirm` fails, the write adds
 * selectors past the scope's budget (`selectors`, see selectorGrowth), or the write is a dry run.
 */
export function checkBeforeCommit(
  scope: WriteScope,
  changes: readonly Change[],
  value: unknown,
  selectors: SelectorCheck | null = null,
): void {
  const target = changes[0]!;
  scope.confirm?.(changes);
  if (scope.ifMatch !== undefined) {
    const current = target.before;
    if (current === null)
      throw new StoreRefusedError('PRECONDITION_FAILED', `If-Match: ${target.kind} ${target.name} does not exist yet`);
    if (scope.ifMatch !== '*' && !scope.ifMatch.includes(etagOf(current))) {
      throw new StoreRefusedError(
        'PRECONDITION_FAILED',
        `If-Match: ${target.kind} ${target.name} was changed since that version (its ETag is now ${etagOf(current)})`,
      );
    }
  }
  if (selectors !== null && scope.selectorBudget !== undefined) {
    const refusal = budgetRefusal(selectors.delta, selectorUse(selectors.apis), scope.selectorBudget);
    if (refusal !== null) throw new StoreRefusedError('SELECTOR_BUDGET_EXCEEDED', refusal);
  }
  if (scope.dryRun) throw new DryRunResult(value, changes);
}

/** An `audit_log` row, column by column. */
export interface AuditRow {
  at: string;
  actor_id: string;
  actor_name: string;
  op: string;
  kind: string;
  object_id: string;
  object_name: string;
  api_id: string | null;
  before_json: string | null;
  after_json: string | null;
  config_version: number | null;
  cause: string | null;
}

/** The columns of `AuditRow`, in insert order. */
export const AUDIT_COLUMNS = [
  'at',
  'actor_id',
  'actor_name',
  'op',
  'kind',
  'object_id',
  'object_name',
  'api_id',
  'before_json',
  'after_json',
  'config_version',
  'cause',
] as const satisfies ReadonlyArray<keyof AuditRow>;

/** The audit rows of one write: one per change, all with the write's config version (null when it made none). */
export function auditRows(
  scope: WriteScope,
  changes: readonly Change[],
  version: number | null,
  cause: string | null,
  at: string,
): AuditRow[] {
  return changes.map((c) => ({
    at,
    actor_id: scope.actor.id,
    actor_name: scope.actor.name,
    op: opOf(c),
    kind: c.kind,
    object_id: c.id,
    object_name: c.name,
    api_id: c.apiId,
    before_json: c.before === null ? null : JSON.stringify(c.before),
    after_json: c.after === null ? null : JSON.stringify(c.after),
    config_version: isConfigWrite([c]) ? version : null,
    cause,
  }));
}

/** An `idempotency_keys` row. */
export interface IdempotencyRow {
  actor_id: string;
  idem_key: string;
  fingerprint: string;
  status: number;
  body: string;
  config_version: number | null;
  created_at: string;
}

/** The columns of `IdempotencyRow`, in insert order. */
export const IDEMPOTENCY_COLUMNS = [
  'actor_id',
  'idem_key',
  'fingerprint',
  'status',
  'body',
  'config_version',
  'created_at',
] as const satisfies ReadonlyArray<keyof IdempotencyRow>;

/**
 * What a replay answers: the write's result, except that an object of a kind with secrets (a
 * certificate, a consumer) is kept as the audit log keeps it, so no secret is stored with the key.
 */
function replayValue(value: unknown, changes: readonly Change[]): unknown {
  const first = changes[0];
  if (
    first === undefined ||
    first.after === null ||
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value)
  )
    return value;
  const info = OBJECT_KINDS[first.kind];
  return info.view !== undefined && info.id(value) === first.id ? first.after : value;
}

/**
 * The row that records the request's Idempotency-Key with this write's result (the answer a retry
 * replays), or null when the request claimed none or an earlier write of it recorded it already.
 */
export function idempotencyRow(
  scope: WriteScope,
  value: unknown,
  changes: readonly Change[],
  version: number | null,
  at: string,
): IdempotencyRow | null {
  const claim = scope.idempotency;
  if (!claim || claim.recorded) return null;
  claim.recorded = true;
  return {
    actor_id: scope.actor.id,
    idem_key: claim.key,
    fingerprint: claim.fingerprint,
    status: claim.status,
    body: JSON.stringify(replayValue(value, changes) ?? null),
    config_version: version,
    created_at: at,
  };
}

/** The oldest creation time an Idempotency-Key may have to be honoured at `now`. */
export function idempotencyCutoff(now: number = Date.now()): string {
  return new Date(now - IDEMPOTENCY_TTL_MS).toISOString();
}

/** A remembered Idempotency-Key: what the first request with it was, and what it answered. */
export interface IdempotencyRecord {
  fingerprint: string;
  status: number;
  /** The answer's JSON. */
  body: string;
  createdAt: string;
}

/** Maps an `idempotency_keys` row. */
export function idempotencyFromRow(
  row: Pick<IdempotencyRow, 'fingerprint' | 'status' | 'body' | 'created_at'>,
): IdempotencyRecord {
  return { fingerprint: row.fingerprint, status: Number(row.status), body: row.body, createdAt: row.created_at };
}
