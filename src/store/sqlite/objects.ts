import type { Api } from '../../model/api.js';
import type { Node } from '../../model/node.js';
import type { SelectorConfig } from '../../model/selector.js';
import type { Variable } from '../../model/variable.js';
import { change, type Change } from '../changes.js';
import { apiNameKey, assertNoApiConflict } from '../conflicts.js';
import { orderPlan, planStep, type PlannedWrite, type PlanKind } from '../plans.js';
import { apiFromRow, apiToRow, nodeFromRow, nodeToRow, selectorToText, variableFromRow, type ApiRow, type NodeRow, type VariableRow } from '../rows.js';
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

/** Any config object by kind and id (a variable's id is its name). */
export function readObject(stmt: Statements, kind: PlanKind, id: string): object | null {
  if (kind === 'api') return readApi(stmt, id);
  if (kind === 'variable') return readVariable(stmt, id);
  const row = stmt.getNodeById.get(id) as NodeRow | undefined;
  return row ? nodeFromRow(row) : null;
}

/** Inserts or updates an API after the conflict checks; `forceHistory` records the selector even when unchanged. */
export function saveApi(stmt: Statements, next: Api, current: Api | null, forceHistory = false): Change {
  assertNoConflict(stmt, next);
  if (current) stmt.updateApi.run(apiToRow(next));
  else stmt.insertApi.run(apiToRow(next));
  const selectorChanged = current === null ? next.selector !== null : selectorToText(next.selector) !== selectorToText(current.selector);
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

/** Executes a plan's writes in a safe order, step by step (`planStep`). */
export function execute(stmt: Statements, plan: readonly PlannedWrite[]): Change[] {
  const changes: Change[] = [];
  const now = new Date().toISOString();
  for (const w of orderPlan(plan, (x) => readObject(stmt, x.kind, x.id) !== null)) {
    const step = planStep(w, readObject(stmt, w.kind, w.id), now);
    if (step.action === 'skip') continue;
    if (step.action === 'remove') {
      if (w.kind === 'api') changes.push(...removeApi(stmt, w.id));
      else if (w.kind === 'node') changes.push(removeNode(stmt, step.current as Node));
      else changes.push(removeVariable(stmt, step.current as Variable));
    } else if (w.kind === 'api') changes.push(saveApi(stmt, step.next as Api, step.current as Api | null));
    else if (w.kind === 'node') changes.push(saveNode(stmt, step.next as Node, step.current as Node | null));
    else changes.push(saveVariable(stmt, step.next as Variable, step.current as Variable | null));
  }
  return changes;
}

/** `api/node`, the name a node has in the audit log. */
function nodeName(stmt: Statements, node: Node): string {
  return `${readApi(stmt, node.apiId)?.name ?? node.apiId}/${node.name}`;
}

function assertNoConflict(stmt: Statements, api: Api): void {
  const rows = stmt.apisByNameOrPath.all(apiNameKey(api.name), api.path) as Array<Pick<ApiRow, 'id' | 'name' | 'host' | 'methods' | 'path'>>;
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
