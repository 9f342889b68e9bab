import type pg from 'pg';
import type { Api } from '../../model/api.js';
import type { Certificate } from '../../model/certificate.js';
import type { Consumer } from '../../model/consumer.js';
import type { Node } from '../../model/node.js';
import type { SelectorConfig } from '../../model/selector.js';
import type { Variable } from '../../model/variable.js';
import { change, type Change } from '../changes.js';
import {
  apiNameKey,
  assertNoApiConflict,
  assertNoCertificateConflict,
  assertNoConsumerConflict,
} from '../conflicts.js';
import { orderPlan, planStep, type PlannedWrite, type PlanKind } from '../plans.js';
import {
  apiFromRow,
  apiToRow,
  certificateFromRow,
  certificateValues,
  CONSUMER_COLUMNS,
  consumerFromRow,
  consumerToRow,
  nodeFromRow,
  nodeToRow,
  selectorToText,
  variableFromRow,
  type ApiRow,
  type CertificateRow,
  type ConsumerRow,
  type NodeRow,
  type VariableRow,
} from '../rows.js';
import { SELECTOR_HISTORY_LIMIT } from '../store.js';
import { API_COLUMN_LIST, API_UPDATE_COLUMNS, NODE_COLUMN_LIST, SQL } from './sql.js';

// The object primitives every PostgreSQL write is made of (the SQLite driver has the same ones,
// synchronous). Each runs inside a write transaction and returns the change it made, which the
// store's write helper audits.

/** One pooled connection, inside a transaction. */
export type Tx = pg.PoolClient;

/** The stored API, or null. */
export async function readApi(tx: Tx, id: string, forUpdate = false): Promise<Api | null> {
  const row = (await tx.query<ApiRow>(forUpdate ? SQL.getApiForUpdate : SQL.getApi, [id])).rows[0];
  return row ? apiFromRow(row) : null;
}

/** The stored variable, or null. */
export async function readVariable(tx: Tx, name: string): Promise<Variable | null> {
  const row = (await tx.query<VariableRow>(SQL.getVariable, [name])).rows[0];
  return row ? variableFromRow(row) : null;
}

/** The stored certificate (with its private key), or null; `forUpdate` locks its row. */
export async function readCertificate(tx: Tx, id: string, forUpdate = false): Promise<Certificate | null> {
  const row = (await tx.query<CertificateRow>(forUpdate ? SQL.getCertificateForUpdate : SQL.getCertificate, [id]))
    .rows[0];
  return row ? certificateFromRow(row) : null;
}

/** The stored consumer (credentials in their stored form), or null; `forUpdate` locks its row. */
export async function readConsumer(tx: Tx, id: string, forUpdate = false): Promise<Consumer | null> {
  const row = (await tx.query<ConsumerRow>(forUpdate ? SQL.getConsumerForUpdate : SQL.getConsumer, [id])).rows[0];
  return row ? consumerFromRow(row) : null;
}

/** Every stored certificate, oldest first. */
export async function listCertificates(tx: Tx): Promise<Certificate[]> {
  return (await tx.query<CertificateRow>(SQL.listCertificates)).rows.map(certificateFromRow);
}

/** Every stored consumer, oldest first. */
export async function listConsumers(tx: Tx): Promise<Consumer[]> {
  return (await tx.query<ConsumerRow>(SQL.listConsumers)).rows.map(consumerFromRow);
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

/** Inserts or updates an API after the conflict checks; `forceHistory` records the selector even when unchanged. */
export async function saveApi(tx: Tx, next: Api, current: Api | null, forceHistory = false): Promise<Change> {
  await assertNoConflict(tx, next);
  const r = apiToRow(next);
  if (current) await tx.query(SQL.updateApi, [r.id, ...API_UPDATE_COLUMNS.map((c) => r[c])]);
  else
    await tx.query(
      SQL.insertApi,
      API_COLUMN_LIST.map((c) => r[c]),
    );
  const selectorChanged =
    current === null ? next.selector !== null : selectorToText(next.selector) !== selectorToText(current.selector);
  if (forceHistory || selectorChanged) await recordSelector(tx, next.id, next.selector, next.updatedAt);
  return change('api', current, next);
}

/** Inserts a node after its API's last one, or updates it in place. */
export async function saveNode(tx: Tx, next: Node, current: Node | null): Promise<Change> {
  if (current) {
    const r = nodeToRow(next, 0);
    await tx.query(SQL.updateNode, [r.id, r.name, r.connector, r.enabled, r.weight, r.tags, r.rules, r.updated_at]);
  } else {
    const position = (await tx.query<{ position: number }>(SQL.nextNodePosition, [next.apiId])).rows[0]!.position;
    const row = nodeToRow(next, position);
    await tx.query(
      SQL.insertNode,
      NODE_COLUMN_LIST.map((c) => row[c]),
    );
  }
  return change('node', current, next, await nodeName(tx, next));
}

/** Creates or replaces a variable. */
export async function saveVariable(tx: Tx, next: Variable, current: Variable | null): Promise<Change> {
  await tx.query(SQL.putVariable, [next.name, next.value, next.updatedAt]);
  return change('variable', current, next);
}

/**
 * Inserts or replaces a certificate after the name check (a host name is served by one certificate;
 * writers queue on the meta row, so every certificate committed before is in the list); a default one
 * takes over from the previous default, whose change follows the certificate's own.
 */
export async function saveCertificate(tx: Tx, next: Certificate, current: Certificate | null): Promise<Change[]> {
  const all = await listCertificates(tx);
  assertNoCertificateConflict(next, all);
  if (current) await tx.query(SQL.deleteCertificate, [next.id]);
  await tx.query(SQL.insertCertificate, certificateValues(next));
  const changes = [change('certificate', current, next)];
  if (!next.isDefault) return changes;
  for (const other of all) {
    if (other.id === next.id || !other.isDefault) continue;
    await tx.query(SQL.clearCertificateDefault, [next.updatedAt, other.id]);
    changes.push(change('certificate', other, { ...other, isDefault: false, updatedAt: next.updatedAt }));
  }
  return changes;
}

/** Deletes a certificate. */
export async function removeCertificate(tx: Tx, cert: Certificate): Promise<Change> {
  await tx.query(SQL.deleteCertificate, [cert.id]);
  return change('certificate', cert, null);
}

/** Inserts or updates a consumer after the name and credential checks (among every stored consumer, under the meta lock). */
export async function saveConsumer(tx: Tx, next: Consumer, current: Consumer | null): Promise<Change> {
  assertNoConsumerConflict(next, await listConsumers(tx));
  const r = consumerToRow(next);
  if (current) await tx.query(SQL.updateConsumer, [r.id, r.name, r.name_key, r.tags, r.credentials, r.updated_at]);
  else
    await tx.query(
      SQL.insertConsumer,
      CONSUMER_COLUMNS.map((c) => r[c]),
    );
  return change('consumer', current, next);
}

/** Deletes a consumer. */
export async function removeConsumer(tx: Tx, consumer: Consumer): Promise<Change> {
  await tx.query(SQL.deleteConsumer, [consumer.id]);
  return change('consumer', consumer, null);
}

/** Deletes an API and its nodes: the API's change first, then one per node. */
export async function removeApi(tx: Tx, id: string): Promise<Change[]> {
  const api = await readApi(tx, id, true);
  if (!api) return [];
  const nodes = (await tx.query<NodeRow>(SQL.listNodes, [id])).rows.map(nodeFromRow);
  await tx.query(SQL.deleteApi, [id]);
  return [change('api', api, null), ...nodes.map((n) => change('node', n, null, `${api.name}/${n.name}`))];
}

/** Deletes a node. */
export async function removeNode(tx: Tx, node: Node): Promise<Change> {
  const named = change('node', node, null, await nodeName(tx, node));
  await tx.query(SQL.deleteNode, [node.id]);
  return named;
}

/** Deletes a variable. */
export async function removeVariable(tx: Tx, variable: Variable): Promise<Change> {
  await tx.query(SQL.deleteVariable, [variable.name]);
  return change('variable', variable, null);
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

/** `api/node`, the name a node has in the audit log. */
async function nodeName(tx: Tx, node: Node): Promise<string> {
  return `${(await readApi(tx, node.apiId))?.name ?? node.apiId}/${node.name}`;
}

async function assertNoConflict(tx: Tx, api: Api): Promise<void> {
  const { rows } = await tx.query<Pick<ApiRow, 'id' | 'name' | 'host' | 'methods' | 'path'>>(SQL.apisByNameOrPath, [
    apiNameKey(api.name),
    api.path,
  ]);
  assertNoApiConflict(
    api,
    rows.map((r) => ({ ...r, methods: JSON.parse(r.methods) as Api['methods'] })),
  );
}

async function recordSelector(tx: Tx, apiId: string, selector: SelectorConfig | null, savedAt: string): Promise<void> {
  const version = (await tx.query<{ version: number }>(SQL.nextSelectorVersion, [apiId])).rows[0]!.version;
  await tx.query(SQL.insertSelectorVersion, [apiId, version, selectorToText(selector), savedAt]);
  await tx.query(SQL.pruneSelectorVersions, [apiId, version - SELECTOR_HISTORY_LIMIT]);
}
