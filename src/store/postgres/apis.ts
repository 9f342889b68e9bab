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
import type { Tx } from './connection.js';
import { API_COLUMN_LIST, API_UPDATE_COLUMNS, NODE_COLUMN_LIST, SQL } from './sql.js';

// APIs, their nodes and their selector history on PostgreSQL: the reads, the write steps of the
// Store's operations and the primitives they (and plans) are made of. Each write runs inside a write
// transaction and reports the changes it made, which the write helper audits.

/** Every stored API, oldest first. */
export async function listApis(c: Tx): Promise<Api[]> {
  return (await c.query<ApiRow>(SQL.listApis)).rows.map(apiFromRow);
}

/** The stored API, or null; `forUpdate` locks its row. */
export async function readApi(tx: Tx, id: string, forUpdate = false): Promise<Api | null> {
  const row = (await tx.query<ApiRow>(forUpdate ? SQL.getApiForUpdate : SQL.getApi, [id])).rows[0];
  return row ? apiFromRow(row) : null;
}

/** Every stored node, by API and position. */
export async function listAllNodes(c: Tx): Promise<Node[]> {
  return (await c.query<NodeRow>(SQL.listAllNodes)).rows.map(nodeFromRow);
}

/** The nodes of an API, by position. */
export async function listNodes(c: Tx, apiId: string): Promise<Node[]> {
  return (await c.query<NodeRow>(SQL.listNodes, [apiId])).rows.map(nodeFromRow);
}

/** The stored node of an API, or null; `forUpdate` locks its row. */
export async function readNode(c: Tx, apiId: string, nodeId: string, forUpdate = false): Promise<Node | null> {
  const row = (await c.query<NodeRow>(forUpdate ? SQL.getNodeForUpdate : SQL.getNode, [apiId, nodeId])).rows[0];
  return row ? nodeFromRow(row) : null;
}

/** The saved selector versions of an API, newest first (at most SELECTOR_HISTORY_LIMIT). */
export async function listSelectorVersions(c: Tx, apiId: string): Promise<SelectorVersion[]> {
  const rows = (await c.query<SelectorVersionRow>(SQL.listSelectorVersions, [apiId, SELECTOR_HISTORY_LIMIT])).rows;
  return rows.map(selectorVersionFromRow);
}

/** Creates an API. */
export async function createApi(tx: Tx, input: ApiCreate): Promise<WriteOutcome<Api>> {
  const api = newObject(Api, input);
  return { value: api, changes: [await saveApi(tx, api, null)] };
}

/** Read-modify-write of an API; null when there is none. */
export async function updateApi(tx: Tx, id: string, mutate: Mutator<Api>): Promise<WriteOutcome<Api | null>> {
  const current = await readApi(tx, id, true);
  if (!current) return { value: null, changes: [] };
  const next = updatedObject(Api, current, mutate);
  return { value: next, changes: [await saveApi(tx, next, current)] };
}

/** Deletes an API and its nodes; false when there was none. */
export async function deleteApi(tx: Tx, id: string): Promise<WriteOutcome<boolean>> {
  return deleted(await removeApi(tx, id));
}

/** Sets (or clears) an API's selector and records it in the selector history; null when there is no API. */
export async function setSelector(
  tx: Tx,
  apiId: string,
  selector: SelectorConfig | null,
): Promise<WriteOutcome<Api | null>> {
  const valid = SelectorConfig.nullable().parse(selector);
  const current = await readApi(tx, apiId, true);
  if (!current) return { value: null, changes: [] };
  const next = Api.parse({ ...current, selector: valid, updatedAt: nowIso() });
  return { value: next, changes: [await saveApi(tx, next, current, true)] };
}

/** Creates a node after the API's last one; null when there is no API. */
export async function createNode(tx: Tx, apiId: string, input: NodeCreate): Promise<WriteOutcome<Node | null>> {
  if (!(await readApi(tx, apiId))) return { value: null, changes: [] };
  const node = newObject(Node, { ...input, apiId });
  return { value: node, changes: [await saveNode(tx, node, null)] };
}

/** Read-modify-write of a node (it stays on its API); null when there is none. */
export async function updateNode(
  tx: Tx,
  apiId: string,
  nodeId: string,
  mutate: Mutator<Node>,
): Promise<WriteOutcome<Node | null>> {
  const current = await readNode(tx, apiId, nodeId, true);
  if (!current) return { value: null, changes: [] };
  const next = updatedObject(Node, current, mutate, { apiId: current.apiId });
  return { value: next, changes: [await saveNode(tx, next, current)] };
}

/** Deletes a node; false when there was none. */
export async function deleteNode(tx: Tx, apiId: string, nodeId: string): Promise<WriteOutcome<boolean>> {
  const current = await readNode(tx, apiId, nodeId, true);
  return deleted(current ? [await removeNode(tx, current)] : []);
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

/** Deletes an API and its nodes: the API's change first, then one per node. */
export async function removeApi(tx: Tx, id: string): Promise<Change[]> {
  const api = await readApi(tx, id, true);
  if (!api) return [];
  const nodes = await listNodes(tx, id);
  await tx.query(SQL.deleteApi, [id]);
  return [change('api', api, null), ...nodes.map((n) => change('node', n, null, `${api.name}/${n.name}`))];
}

/** Deletes a node. */
export async function removeNode(tx: Tx, node: Node): Promise<Change> {
  const named = change('node', node, null, await nodeName(tx, node));
  await tx.query(SQL.deleteNode, [node.id]);
  return named;
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
