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
import type { Statements } from './statements.js';

// The object primitives every SQLite write is made of (the PostgreSQL driver has the same ones,
// asynchronous). Each runs inside a write transaction and returns the change it made, which the
// store's write helper audits.

/** The stored API, or null. */
export function readApi(stmt: Statements, id: string): Api | null {
  const row = stmt.getApi.get(id) as ApiRow | undefined;
  return row ? apiFromRow(row) : null;
}

/** The stored variable, or null. */
export function readVariable(stmt: Statements, name: string): Variable | null {
  const row = stmt.getVariable.get(name) as VariableRow | undefined;
  return row ? variableFromRow(row) : null;
}

/** The stored certificate (with its private key), or null. */
export function readCertificate(stmt: Statements, id: string): Certificate | null {
  const row = stmt.getCertificate.get(id) as CertificateRow | undefined;
  return row ? certificateFromRow(row) : null;
}

/** The stored consumer (credentials in their stored form), or null. */
export function readConsumer(stmt: Statements, id: string): Consumer | null {
  const row = stmt.getConsumer.get(id) as ConsumerRow | undefined;
  return row ? consumerFromRow(row) : null;
}

/** Every stored certificate, oldest first. */
export function listCertificates(stmt: Statements): Certificate[] {
  return (stmt.listCertificates.all() as CertificateRow[]).map(certificateFromRow);
}

/** Every stored consumer, oldest first. */
export function listConsumers(stmt: Statements): Consumer[] {
  return (stmt.listConsumers.all() as ConsumerRow[]).map(consumerFromRow);
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

/** Inserts or updates an API after the conflict checks; `forceHistory` records the selector even when unchanged. */
export function saveApi(stmt: Statements, next: Api, current: Api | null, forceHistory = false): Change {
  assertNoConflict(stmt, next);
  if (current) stmt.updateApi.run(apiToRow(next));
  else stmt.insertApi.run(apiToRow(next));
  const selectorChanged =
    current === null ? next.selector !== null : selectorToText(next.selector) !== selectorToText(current.selector);
  if (forceHistory || selectorChanged) recordSelector(stmt, next.id, next.selector, next.updatedAt);
  return change('api', current, next);
}

/** Inserts a node after its API's last one, or updates it in place. */
export function saveNode(stmt: Statements, next: Node, current: Node | null): Change {
  if (current) stmt.updateNode.run(nodeToRow(next, (stmt.getNodeById.get(next.id) as NodeRow).position));
  else stmt.insertNode.run(nodeToRow(next, stmt.nextNodePosition.get(next.apiId) as number));
  return change('node', current, next, nodeName(stmt, next));
}

/** Creates or replaces a variable. */
export function saveVariable(stmt: Statements, next: Variable, current: Variable | null): Change {
  stmt.putVariable.run({ name: next.name, value: next.value, updated_at: next.updatedAt });
  return change('variable', current, next);
}

/**
 * Inserts or replaces a certificate after the name check (a host name is served by one certificate);
 * a default one takes over from the previous default, whose change follows the certificate's own.
 */
export function saveCertificate(stmt: Statements, next: Certificate, current: Certificate | null): Change[] {
  const all = listCertificates(stmt);
  assertNoCertificateConflict(next, all);
  if (current) stmt.deleteCertificate.run(next.id);
  stmt.insertCertificate.run(...certificateValues(next));
  const changes = [change('certificate', current, next)];
  if (!next.isDefault) return changes;
  for (const other of all) {
    if (other.id === next.id || !other.isDefault) continue;
    stmt.clearCertificateDefault.run(next.updatedAt, other.id);
    changes.push(change('certificate', other, { ...other, isDefault: false, updatedAt: next.updatedAt }));
  }
  return changes;
}

/** Deletes a certificate. */
export function removeCertificate(stmt: Statements, cert: Certificate): Change {
  stmt.deleteCertificate.run(cert.id);
  return change('certificate', cert, null);
}

/** Inserts or updates a consumer after the name and credential checks (among every stored consumer). */
export function saveConsumer(stmt: Statements, next: Consumer, current: Consumer | null): Change {
  assertNoConsumerConflict(next, listConsumers(stmt));
  if (current) stmt.updateConsumer.run(consumerToRow(next));
  else stmt.insertConsumer.run(consumerToRow(next));
  return change('consumer', current, next);
}

/** Deletes a consumer. */
export function removeConsumer(stmt: Statements, consumer: Consumer): Change {
  stmt.deleteConsumer.run(consumer.id);
  return change('consumer', consumer, null);
}

/** Deletes an API and its nodes: the API's change first, then one per node. */
export function removeApi(stmt: Statements, id: string): Change[] {
  const api = readApi(stmt, id);
  if (!api) return [];
  const nodes = (stmt.listNodes.all(id) as NodeRow[]).map(nodeFromRow);
  stmt.deleteApi.run(id);
  return [change('api', api, null), ...nodes.map((n) => change('node', n, null, `${api.name}/${n.name}`))];
}

/** Deletes a node. */
export function removeNode(stmt: Statements, node: Node): Change {
  const named = change('node', node, null, nodeName(stmt, node));
  stmt.deleteNode.run(node.id);
  return named;
}

/** Deletes a variable. */
export function removeVariable(stmt: Statements, variable: Variable): Change {
  stmt.deleteVariable.run(variable.name);
  return change('variable', variable, null);
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

/** `api/node`, the name a node has in the audit log. */
function nodeName(stmt: Statements, node: Node): string {
  return `${readApi(stmt, node.apiId)?.name ?? node.apiId}/${node.name}`;
}

function assertNoConflict(stmt: Statements, api: Api): void {
  const rows = stmt.apisByNameOrPath.all(apiNameKey(api.name), api.path) as Array<
    Pick<ApiRow, 'id' | 'name' | 'host' | 'methods' | 'path'>
  >;
  assertNoApiConflict(
    api,
    rows.map((r) => ({ ...r, methods: JSON.parse(r.methods) as Api['methods'] })),
  );
}

function recordSelector(stmt: Statements, apiId: string, selector: SelectorConfig | null, savedAt: string): void {
  const version = stmt.nextSelectorVersion.get(apiId) as number;
  stmt.insertSelectorVersion.run(apiId, version, selectorToText(selector), savedAt);
  stmt.pruneSelectorVersions.run(apiId, version - SELECTOR_HISTORY_LIMIT);
}
