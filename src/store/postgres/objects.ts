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
import type { Tx } from './connection.js';
import { listConsumers, readConsumer, removeConsumer, saveConsumer } from './consumers.js';
import { SQL } from './sql.js';
import { listVariables, readVariable, removeVariable, saveVariable } from './variables.js';

// The config as a whole on PostgreSQL, every kind at once: its version, reading all of it, any object
// by kind, and the plans (revert, restore, apply) executed with the primitives of each kind.

/** The config version in the meta row. */
export async function currentVersion(client: Tx): Promise<number> {
  const version = (await client.query<{ config_version: number }>(SQL.version)).rows[0]?.config_version;
  if (version === undefined) throw new Error('the store schema has no meta row; is it migrated?');
  return version;
}

/** The config version with its identity token (one read of the meta row). */
export async function currentStamp(client: Tx): Promise<ConfigStamp> {
  return stampFromRow((await client.query<StampRow>(SQL.stamp)).rows[0]);
}

/** The whole config, read on `tx` (in one snapshot when `tx` is a repeatable-read transaction). */
export async function readConfig(tx: Tx): Promise<ConfigState> {
  return {
    ...(await currentStamp(tx)),
    apis: await listApis(tx),
    nodes: await listAllNodes(tx),
    variables: await listVariables(tx),
    certificates: await listCertificates(tx),
    consumers: await listConsumers(tx),
  };
}

/** Any config object by kind and id (a variable's id is its name), as stored (secrets included). */
export async function readObject(tx: Tx, kind: PlanKind, id: string): Promise<object | null> {
  switch (kind) {
    case 'api':
      return readApi(tx, id);
    case 'variable':
      return readVariable(tx, id);
    case 'certificate':
      return readCertificate(tx, id);
    case 'consumer':
      return readConsumer(tx, id);
    case 'node': {
      const row = (await tx.query<NodeRow>(SQL.getNodeById, [id])).rows[0];
      return row ? nodeFromRow(row) : null;
    }
  }
}

/** The plan that undoes the write that made `version` (see planRevert). */
export async function revertPlan(tx: Tx, version: number): Promise<PlannedWrite[]> {
  const entries = (await tx.query<StoredAuditRow>(SQL.auditOfVersion, [version])).rows.map(auditEntryFromRow);
  requireLoggedWrite(version, await currentVersion(tx), entries);
  const current = new Map<string, object | null>();
  for (const e of entries)
    current.set(objectKey(e.kind, e.objectId), await readObject(tx, e.kind as PlanKind, e.objectId));
  return planRevert(version, entries, current);
}

/** The plan that brings every config object back to how it was at `version` (see planRestore). */
export async function restorePlan(tx: Tx, version: number): Promise<PlannedWrite[]> {
  const logged = (await tx.query<{ n: number }>(SQL.loggedVersionsAfter, [version])).rows[0]!.n;
  requireCompleteHistory(version, await currentVersion(tx), logged);
  return planRestore((await tx.query<StoredAuditRow>(SQL.auditAfterVersion, [version])).rows.map(auditEntryFromRow));
}

// How a plan's step writes each kind (objects as planStep validated them).
const SAVE: Record<PlanKind, (tx: Tx, next: never, current: never) => Promise<Change | Change[]>> = {
  api: saveApi,
  node: saveNode,
  variable: saveVariable,
  certificate: saveCertificate,
  consumer: saveConsumer,
};
const REMOVE: Record<PlanKind, (tx: Tx, current: never) => Promise<Change | Change[]>> = {
  api: (tx, api: Api) => removeApi(tx, api.id),
  node: removeNode,
  variable: removeVariable,
  certificate: removeCertificate,
  consumer: removeConsumer,
};

/** Executes a plan's writes in a safe order, step by step (`planStep`). */
export async function execute(tx: Tx, plan: readonly PlannedWrite[]): Promise<Change[]> {
  const exists = new Map<PlannedWrite, boolean>();
  for (const w of plan) exists.set(w, (await readObject(tx, w.kind, w.id)) !== null);
  const changes: Change[] = [];
  const now = new Date().toISOString();
  for (const w of orderPlan(plan, (x) => exists.get(x)!)) {
    const step = planStep(w, await readObject(tx, w.kind, w.id), now);
    if (step.action === 'skip') continue;
    const made =
      step.action === 'remove'
        ? await REMOVE[w.kind](tx, step.current as never)
        : await SAVE[w.kind](tx, step.next as never, step.current as never);
    changes.push(...[made].flat());
  }
  return changes;
}
