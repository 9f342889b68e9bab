import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NodeCreate, NodePatch } from '../../model/node.js';
import type { Role } from '../../model/token.js';
import { awaitApplied } from '../applied.js';
import type { AdminDeps } from '../deps.js';
import { AdminError } from '../errors.js';
import { nodeNotFound, requireApi, requireNode } from '../lookup.js';
import { apiTraffic } from '../traffic.js';
import { parseInput } from '../validate.js';

type ApiParams = { Params: { id: string } };

/** A node PATCH that only sets the tick is an operator's; any other change an editor's. */
export function nodePatchRole(request: FastifyRequest): Role {
  const body = request.body;
  const onlyTick =
    typeof body === 'object' &&
    body !== null &&
    !Array.isArray(body) &&
    Object.keys(body).every((k) => k === 'enabled');
  return onlyTick ? 'operator' : 'editor';
}
type NodeParams = { Params: { id: string; nodeId: string } };

/** `/admin/apis/:id/nodes` and `/admin/apis/:id/nodes/:nodeId`: list, create, read, patch, delete. */
export function registerNodeRoutes(app: FastifyInstance, { store, runtime }: AdminDeps): void {
  app.get<ApiParams>('/apis/:id/nodes', async (request) => {
    const api = await requireApi(store, request.params.id);
    return store.listNodes(api.id);
  });

  app.post<ApiParams>('/apis/:id/nodes', { config: { successStatus: 201 } }, async (request, reply) => {
    const input = parseInput(NodeCreate, request.body);
    const node = await store.createNode(request.params.id, input);
    if (!node) throw new AdminError('API_NOT_FOUND', `no API with id ${request.params.id}`);
    await awaitApplied(runtime, request.log);
    return reply.code(201).send(node);
  });

  // Recent requests, errors and latency of the API (gateway-made errors included, by code) and of each node.
  app.get<ApiParams>('/apis/:id/stats', async (request) => {
    const api = await requireApi(store, request.params.id);
    const nodes = await store.listNodes(api.id);
    const [nodeStats, traffic] = await Promise.all([
      runtime.nodeStats(nodes.map((n) => n.id)),
      apiTraffic(runtime, api.id),
    ]);
    return { api: traffic, nodes: nodeStats };
  });

  app.get<NodeParams>('/apis/:id/nodes/:nodeId', async (request) =>
    requireNode(store, request.params.id, request.params.nodeId),
  );

  app.patch<NodeParams>('/apis/:id/nodes/:nodeId', { config: { role: nodePatchRole } }, async (request) => {
    const { id, nodeId } = request.params;
    const patch = parseInput(NodePatch, request.body);
    const updated = await store.updateNode(id, nodeId, (node) => ({ ...node, ...patch }));
    if (!updated) throw await nodeNotFound(store, id, nodeId);
    await awaitApplied(runtime, request.log);
    return updated;
  });

  app.delete<NodeParams>('/apis/:id/nodes/:nodeId', async (request, reply) => {
    const { id, nodeId } = request.params;
    if (!(await store.deleteNode(id, nodeId))) throw await nodeNotFound(store, id, nodeId);
    await awaitApplied(runtime, request.log);
    return reply.code(204).send();
  });
}
