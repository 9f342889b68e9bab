import { opOf, type Change } from '../store/changes.js';
import type { DryRunResult } from '../store/errors.js';
import type { ChangeOp, ObjectKind } from '../model/audit.js';

/** One object a dry run would change, with how it is and how it would be. */
export interface PlannedChange {
  op: ChangeOp;
  kind: ObjectKind;
  id: string;
  name: string;
  before: object | null;
  after: object | null;
}

/** The answer to any write sent with `?dryRun=true`: what it would change; nothing was written. */
export interface DryRunAnswer {
  dryRun: true;
  changes: PlannedChange[];
}

/** The changes of a dry run as the admin API answers them. */
export function plannedChanges(changes: readonly Change[]): PlannedChange[] {
  return changes.map((c) => ({ op: opOf(c), kind: c.kind, id: c.id, name: c.name, before: c.before, after: c.after }));
}

/** The answer to a dry run. */
export function dryRunAnswer(result: DryRunResult): DryRunAnswer {
  return { dryRun: true, changes: plannedChanges(result.changes) };
}
