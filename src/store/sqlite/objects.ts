import type { Api } from '../../model/api.js';
import { auditEntryFromRow, type StoredAuditRow } from '../audit-log.js';
import type { Change } from '../changes.js';
import {
  objectKey,
  orderPlan,
  planRestore,
  planRevert,
  planStep,
  requireCompleteHistory,
  requireLoggedWrite,
  type PlannedWrite,
  type PlanKind,
} from '../plans.js';
import { nodeFromRow, type NodeRow } from '../rows.js';
import type { ConfigStamp, ConfigState } from '../store.js';
import { stampFromRow, type StampRow } from '../version-stamp.js';
import { listAllNodes, listApis, readApi, removeApi, removeNode, saveApi, saveNode } from './apis.js';
import { listCertificates, readCertificate, removeCertificate, saveCertificate } from './certificates.js';
import { listConsumers, readConsumer, removeConsumer, saveConsumer } from './consumers.js';
import type { Statements } from './statements.js';
import { listVariables, readVariable, removeVariable, saveVariable } from './variables.js';

// The config as a whole on SQLite, every kind at once: its version, reading all of it, any object by
// kind, and the plans (revert, restore, apply) executed with the primitives of each kind.

/** The config version in the meta row. */
export function currentVersion(stmt: Statements): number {
  return stmt.version.get() as number;
}

/** The config version with its identity token (one read of the meta row). */
export function currentStamp(stmt: Statements): ConfigStamp {
  return stampFromRow(stmt.stamp.get() as StampRow | undefined);
}

/** The whole config (in one snapshot when read inside a transaction). */
export function readConfig(stmt: Statements): ConfigState {
  return {
    ...currentStamp(stmt),
    apis: listApis(stmt),
    nodes: listAllNodes(stmt),
    variables: listVariables(stmt),
    certificates: listCertificates(stmt),
    consumers: listConsumers(stmt),
  };
}

/** Any config object by kind and id (a variable's id is its name), as stored (secrets included). */
export function readObject(stmt: Statements, kind: PlanKind, id: string): object | null {
  switch (kind) {
    case 'api':
      return readApi(stmt, id);
    case 'variable':
      return readVariable(stmt, id);
    case 'certificate':
      return readCertificate(stmt, id);
    case 'consumer':
      return readConsumer(stmt, id);
    case 'node': {
      const row = stmt.getNodeById.get(id) as NodeRow | undefined;
      return row ? nodeFromRow(row) : null;
    }
  }
}

/** The plan that undoes the write that made `version` (see planRevert). */
export function revertPlan(stmt: Statements, version: number): PlannedWrite[] {
  const entries = (stmt.auditOfVersion.all(version) as StoredAuditRow[]).map(auditEntryFromRow);
  requireLoggedWrite(version, currentVersion(stmt), entries);
  const current = new Map(
    entries.map((e) => [objectKey(e.kind, e.objectId), readObject(stmt, e.kind as PlanKind, e.objectId)]),
  );
  return planRevert(version, entries, current);
}

/** The plan that brings every config object back to how it was at `version` (see planRestore). */
export function restorePlan(stmt: Statements, version: number): PlannedWrite[] {
  requireCompleteHistory(version, currentVersion(stmt), stmt.loggedVersionsAfter.get(version) as number);
  return planRestore((stmt.auditAfterVersion.all(version) as StoredAuditRow[]).map(auditEntryFromRow));
}

// How a plan's step writes each kind (objects as planStep validated them).
const SAVE: Record<PlanKind, (stmt: Statements, next: never, current: never) => Change | Change[]> = {
  api: saveApi,
  node: saveNode,
  variable: saveVariable,
  certificate: saveCertificate,
  consumer: saveConsumer,
};
const REMOVE: Record<PlanKind, (stmt: Statements, current: never) => Change | Change[]> = {
  api: (s, api: Api) => removeApi(s, api.id),
  node: removeNode,
  variable: removeVariable,
  certificate: removeCertificate,
  consumer: removeConsumer,
};

/** Executes a plan's writes in a safe order, step by step (`planStep`). */
export function execute(stmt: Statements, plan: readonly PlannedWrite[]): Change[] {
  const changes: Change[] = [];
  const now = new Date().toISOString();
  for (const w of orderPlan(plan, (x) => readObject(stmt, x.kind, x.id) !== null)) {
    const step = planStep(w, readObject(stmt, w.kind, w.id), now);
    if (step.action === 'skip') continue;
    const made =
      step.action === 'remove'
        ? REMOVE[w.kind](stmt, step.current as never)
        : SAVE[w.kind](stmt, step.next as never, step.current as never);
    changes.push(...[made].flat());
  }
  return changes;
}
