import type { Api } from '../model/api.js';
import type { Node } from '../model/node.js';
import type { Store } from '../store/store.js';
import { AdminError } from './errors.js';

/** The stored API, or a 404 API_NOT_FOUND. */
export async function requireApi(store: Store, id: string): Promise<Api> {
  const api = await store.getApi(id);
  if (!api) throw new AdminError('API_NOT_FOUND', `no API with id ${id}`);
  return api;
}

/** The stored node, or a 404 naming what is missing: the API or the node. */
export async function requireNode(store: Store, apiId: string, nodeId: string): Promise<Node> {
  const node = await store.getNode(apiId, nodeId);
  if (node) return node;
  throw await nodeNotFound(store, apiId, nodeId);
}

/** The 404 for a node that was not found: API_NOT_FOUND when its API is gone too. */
export async function nodeNotFound(store: Store, apiId: string, nodeId: string): Promise<AdminError> {
  if (!(await store.getApi(apiId))) return new AdminError('API_NOT_FOUND', `no API with id ${apiId}`);
  return new AdminError('NODE_NOT_FOUND', `no node with id ${nodeId} in API ${apiId}`);
}
