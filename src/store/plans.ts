import { Api } from '../model/api.js';
import type { AuditEntry } from '../model/audit.js';
import { Certificate } from '../model/certificate.js';
import { Consumer } from '../model/consumer.js';
import { Node } from '../model/node.js';
import { Variable } from '../model/variable.js';
import { auditView } from './changes.js';
import { StoreRefusedError } from './errors.js';
import { withStoredSecrets } from './kept-secrets.js';

/** The config kinds a plan can write (tokens are not config and are never reverted or applied). */
export type PlanKind = 'api' | 'node' | 'variable' | 'certificate' | 'consumer';

/**
 * One object a plan sets: `next` is the whole object it should be (null: deleted). Objects are
 * matched by id (a variable's id is its name); a `next` for an id that does not exist creates it.
 * A certificate or consumer may come without its secrets (from the audit log, or a file exported
 * without them): the stored ones are kept where they still belong (src/store/kept-secrets.ts).
 */
export interface PlannedWrite {
  readonly kind: PlanKind;
  readonly id: string;
  readonly next: object | null;
}

// Deletes go children first, puts parents first, so nodes never outlive or precede their API; variables,
// certificates and consumers (which nothing references by id) are set before the APIs; within a kind,
// updates go before creates (a rename frees a name, an updated certificate a host name, a create takes).
function phase(w: PlannedWrite, exists: boolean): number {
  if (w.next === null) return { node: 0, api: 1, variable: 2, certificate: 2, consumer: 2 }[w.kind];
  return { variable: 3, certificate: 3, consumer: 3, api: 5, node: 7 }[w.kind] + (exists ? 0 : 1);
}

/** The plan's writes in the order they can be executed (stable within a phase). */
export function orderPlan(plan: readonly PlannedWrite[], exists: (w: PlannedWrite) => boolean): PlannedWrite[] {
  return plan
    .map((w, i) => ({ w, i, p: phase(w, exists(w)) }))
    .sort((a, b) => a.p - b.p || a.i - b.i)
    .map((x) => x.w);
}

/** What to do for one planned write, given the object as stored now. */
export type PlanStep =
  { action: 'skip' } | { action: 'remove'; current: object } | { action: 'save'; current: object | null; next: object };

const MODELS: Record<PlanKind, { parse(o: unknown): object }> = {
  api: Api,
  node: Node,
  variable: Variable,
  certificate: Certificate,
  consumer: Consumer,
};

/**
 * The step for one planned write: remove what exists and should not, skip a put that changes nothing
 * but timestamps, else save the object, secrets kept (SECRET_NOT_STORED when one is gone), validated
 * by its model, with the store's timestamps (creation kept, update now). Both drivers execute plans
 * step by step with it.
 */
export function planStep(w: PlannedWrite, current: object | null, now: string): PlanStep {
  if (w.next === null) return current === null ? { action: 'skip' } : { action: 'remove', current };
  const whole = withStoredSecrets(w.kind, w.next, current);
  if (sameContent(current, whole)) return { action: 'skip' };
  const createdAt =
    (current as { createdAt?: string } | null)?.createdAt ?? (whole as { createdAt?: string }).createdAt ?? now;
  const identity = w.kind === 'variable' ? { name: w.id, updatedAt: now } : { id: w.id, createdAt, updatedAt: now };
  return { action: 'save', current, next: MODELS[w.kind].parse({ ...whole, ...identity }) };
}

/** The key of an object in the maps the planners take. */
export function objectKey(kind: string, id: string): string {
  return `${kind}\u0000${id}`;
}

const TIMESTAMPS = new Set(['createdAt', 'updatedAt']);

/** JSON with every object's keys sorted (and `skip` keys left out), so equal objects compare equal whatever their key order. */
export function canonical(value: unknown, skip: ReadonlySet<string> = new Set()): string {
  return JSON.stringify(value, (k, v: unknown) => {
    if (skip.has(k)) return undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  });
}

/** Whether two stored objects are the same but for their timestamps (such a put changes nothing). */
export function sameContent(a: object | null, b: object | null): boolean {
  return canonical(a, TIMESTAMPS) === canonical(b, TIMESTAMPS);
}

/**
 * Undoes one write: every object it changed goes back to how it was before. Refused (REVERT_CONFLICT)
 * when one of them changed again since, so a revert never silently undoes a later write.
 * `entries` are the write's audit entries, `current` each touched object as stored now (compared as
 * the audit log keeps it, secrets left out).
 */
export function planRevert(
  version: number,
  entries: readonly AuditEntry[],
  current: ReadonlyMap<string, object | null>,
): PlannedWrite[] {
  return entries.map((e) => {
    const now = current.get(objectKey(e.kind, e.objectId)) ?? null;
    if (canonical(now === null ? null : auditView(e.kind, now)) !== canonical(e.after ?? null)) {
      throw new StoreRefusedError(
        'REVERT_CONFLICT',
        `${e.kind} ${e.objectName} was changed again after version ${version}; revert the later writes first or restore a version`,
      );
    }
    return { kind: e.kind as PlanKind, id: e.objectId, next: (e.before as object | null) ?? null };
  });
}

/**
 * Brings every object changed after a version back to how it was at that version: the `before` of
 * the first change to it after the version. `entries` are every config write's audit entries after
 * the version, oldest first.
 */
export function planRestore(entries: readonly AuditEntry[]): PlannedWrite[] {
  const seen = new Set<string>();
  const plan: PlannedWrite[] = [];
  for (const e of entries) {
    const key = objectKey(e.kind, e.objectId);
    if (seen.has(key)) continue;
    seen.add(key);
    plan.push({ kind: e.kind as PlanKind, id: e.objectId, next: (e.before as object | null) ?? null });
  }
  return plan;
}

/** Throws unless the audit log holds the write that made `version` (`entries` are its entries). */
export function requireLoggedWrite(version: number, current: number, entries: readonly AuditEntry[]): void {
  if (entries.length > 0) return;
  if (version < 1 || version > current)
    throw new StoreRefusedError(
      'VERSION_NOT_FOUND',
      `no write made config version ${version} (the current one is ${current})`,
    );
  throw new StoreRefusedError(
    'AUDIT_INCOMPLETE',
    `the audit log does not hold the write that made version ${version} (made before it was kept, or pruned)`,
  );
}

/**
 * Throws unless the audit log holds every write from `version` (exclusive) to `current`: each config
 * write makes one version and at least one entry, so `versionsLogged` must be `current - version`.
 */
export function requireCompleteHistory(version: number, current: number, versionsLogged: number): void {
  if (version > current || version < 0)
    throw new StoreRefusedError(
      'VERSION_NOT_FOUND',
      `there is no config version ${version} (the current one is ${current})`,
    );
  if (versionsLogged < current - version) {
    throw new StoreRefusedError(
      'AUDIT_INCOMPLETE',
      `the audit log does not hold every write after version ${version} (${current - version - versionsLogged} of ${current - version} are missing: made before it was kept, or pruned)`,
    );
  }
}
