import { Api, type ApiCreate } from '../../model/api.js';
import { Node, type NodeCreate } from '../../model/node.js';
import { SelectorConfig } from '../../model/selector.js';
import { change, type Change } from '../changes.js';
import { apiNameKey, assertNoApiConflict } from '../conflicts.js';
import {
  apiFromRow,
  apiToRow,
  nodeFromRow,
  nodeToRow,
  selectorToText,
  selectorVersionFromRow,
  type ApiRow,
  type NodeRow,
  type SelectorVersionRow,
} from '../rows.js';
import { SELECTOR_HISTORY_LIMIT, type Mutator, type SelectorVersion } from '../store.js';
import { deleted, newObject, nowIso, updatedObject, type WriteOutcome } from '../write-steps.js';
import type { Statements } from './statements.js';

// APIs, their nodes and their selector history on SQLite: the reads, the write steps of the Store's
// operations and the primitives they (and plans) are made of. Each write runs inside a write
// transaction and reports the changes it made, which the write helper audits.

/** Every stored API, oldest first. */
export function listApis(stmt: Statements): Api[] {
  return (stmt.listApis.all() as ApiRow[]).map(apiFromRow);
}

/** The stored API, or null. */
export function readApi(stmt: Statements, id: string): Api | null {
  const row = stmt.getApi.get(id) as ApiRow | undefined;
  return row ? apiFromRow(row) : null;
}

/** Every stored node, by API and position. */
export function listAllNodes(stmt: Statements): Node[] {
  return (stmt.listAllNodes.all() as NodeRow[]).map(nodeFromRow);
}

/** The nodes of an API, by position. */
export function listNodes(stmt: Statements, apiId: string): Node[] {
  return (stmt.listNodes.all(apiId) as NodeRow[]).map(nodeFromRow);
}

/** The stored node of an API, or null. */
export function readNode(stmt: Statements, apiId: string, nodeId: string): Node | null {
  const row = stmt.getNode.get(apiId, nodeId) as NodeRow | undefined;
  return row ? nodeFromRow(row) : null;
}

/** The saved selector versions of an API, newest first (at most SELECTOR_HISTORY_LIMIT). */
export function listSelectorVersions(stmt: Statements, apiId: string): SelectorVersion[] {
  const rows = stmt.listSelectorVersions.all(apiId, SELECTOR_HISTORY_LIMIT) as SelectorVersionRow[];
  return rows.map(selectorVersionFromRow);
}

/** Creates an API. */
export function createApi(stmt: Statements, input: ApiCreate): WriteOutcome<Api> {
  const api = newObject(Api, input);
  return { value: api, changes: [saveApi(stmt, api, null)] };
}

/** Read-modify-write of an API; null when there is none. */
export function updateApi(stmt: Statements, id: string, mutate: Mutator<Api>): WriteOutcome<Api | null> {
  const current = readApi(stmt, id);
  if (!current) return { value: null, changes: [] };
  const next = updatedObject(Api, current, mutate);
  return { value: next, changes: [saveApi(stmt, next, current)] };
}

/** Deletes an API and its nodes; false when there was none. */
export function deleteApi(stmt: Statements, id: string): WriteOutcome<boolean> {
  return deleted(removeApi(stmt, id));
}

/** Sets (or clears) an API's selector and records it in the selector history; null when there is no API. */
export function setSelector(
  stmt: Statements,
  apiId: string,
  selector: SelectorConfig | null,
): WriteOutcome<Api | null> {
  const valid = SelectorConfig.nullable().parse(selector);
  const current = readApi(stmt, apiId);
  if (!current) return { value: null, changes: [] };
  const next = Api.parse({ ...current, selector: valid, updatedAt: nowIso() });
  return { value: next, changes: [saveApi(stmt, next, current, true)] };
}

/** Creates a node after the API's last one; null when there is no API. */
export function createNode(stmt: Statements, apiId: string, input: NodeCreate): WriteOutcome<Node | null> {
  if (!readApi(stmt, apiId)) return { value: null, changes: [] };
  const node = newObject(Node, { ...input, apiId });
  return { value: node, changes: [saveNode(stmt, node, null)] };
}

/** Read-modify-write of a node (it stays on its API); null when there is none. */
export function updateNode(
  stmt: Statements,
  apiId: string,
  nodeId: string,
  mutate: Mutator<Node>,
): WriteOutcome<Node | null> {
  const current = readNode(stmt, apiId, nodeId);
  if (!current) return { value: null, changes: [] };
  const next = updatedObject(Node, current, mutate, { apiId: current.apiId });
  return { value: next, changes: [saveNode(stmt, next, current)] };
}

/** Deletes a node; false when there was none. */
export function deleteNode(stmt: Statements, apiId: string, nodeId: string): WriteOutcome<boolean> {
  const current = readNode(stmt, apiId, nodeId);
  return deleted(current ? [removeNode(stmt, current)] : []);
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

/** Deletes an API and its nodes: the API's change first, then one per node. */
export function removeApi(stmt: Statements, id: string): Change[] {
  const api = readApi(stmt, id);
  if (!api) return [];
  const nodes = listNodes(stmt, id);
  stmt.deleteApi.run(id);
  return [change('api', api, null), ...nodes.map((n) => change('node', n, null, `${api.name}/${n.name}`))];
}

/** Deletes a node. */
export function removeNode(stmt: Statements, node: Node): Change {
  const named = change('node', node, null, nodeName(stmt, node));
  stmt.deleteNode.run(node.id);
  return named;
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
