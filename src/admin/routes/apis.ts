import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiCreate, ApiPatch, type Api } from '../../model/api.js';
import type { NodeStatsWindow } from '../../gateway/node-stats.js';
import type { Node } from '../../model/node.js';
import { mergeHealth } from '../../model/health.js';
import { availabilityOf, loadRuntimeView, nodesByApi, type Availability } from '../availability.js';
import { awaitApplied } from '../applied.js';
import type { AdminDeps } from '../deps.js';
import { pageOf, pagingOf, type ListPage } from '../paging.js';
import type { AdminRuntime } from '../runtime.js';
import { AdminError } from '../errors.js';
import { requireApi } from '../lookup.js';
import { toSelectorRequest } from '../sample.js';
import { lastMinuteOf } from '../traffic.js';
import { requireSelectorTrial, type TrialGate } from '../trial.js';
import { parseInput } from '../validate.js';

type IdParams = { Params: { id: string } };

/** An API as `GET /admin/apis` lists it: with its node counts, selector state, availability and last minute of traffic. */
export type ApiSummary = Api & {
  nodeCounts: { enabled: number; total: number };
  selectorState: 'active' | 'quarantined' | 'over-budget' | 'none';
  availability: Availability;
  /** Every request the API answered in the last minute, gateway-made errors included. */
  traffic: { lastMinute: NodeStatsWindow };
};

/**
 * The list entries of some APIs: nodes grouped by API once, and the runtime asked once per kind (node
 * health, selector states, traffic) for all of them, never once per API.
 */
async function summarize(
  runtime: AdminRuntime,
  apis: readonly Api[],
  config: { nodes: readonly Node[]; variables: ReadonlyArray<{ name: string; value: string }> },
): Promise<ApiSummary[]> {
  const listed = new Set(apis.map((a) => a.id));
  const nodesOf = nodesByApi(config.nodes, listed);
  const apiIds = [...listed];
  const [view, traffic] = await Promise.all([
    loadRuntimeView(
      runtime,
      apiIds,
      [...nodesOf.values()].flatMap((nodes) => nodes.map((n) => n.id)),
    ),
    lastMinuteOf(runtime, apiIds),
  ]);
  const variables = new Map(config.variables.map((v) => [v.name, v.value]));
  return apis.map((api) => {
    const nodes = nodesOf.get(api.id) ?? [];
    return {
      ...api,
      nodeCounts: { enabled: nodes.filter((n) => n.enabled).length, total: nodes.length },
      selectorState: view.selectorState(api.id),
      availability: availabilityOf(api, nodes, variables, view),
      traffic: { lastMinute: traffic[api.id]! },
    };
  });
}

/** `/admin/apis` and `/admin/apis/:id`: list, create, read, patch, delete; and an API's availability. */
export function registerApiRoutes(app: FastifyInstance, { store, runtime }: AdminDeps, trials: TrialGate): void {
  // The whole list as an array (as before paging), or with `limit`/`after` one page of it by name.
  app.get('/apis', async (request): Promise<ApiSummary[] | ListPage<ApiSummary>> => {
    const paging = pagingOf(request.query);
    const config = await store.loadConfig();
    const page = paging === null ? null : pageOf(config.apis, (a) => a.name, paging);
    const items = await summarize(runtime, page?.items ?? config.apis, config);
    return page === null ? items : { items, next: page.next };
  });

  // Whether the API has a node that could take traffic now, and if not why (the console's banner).
  app.get<IdParams>('/apis/:id/availability', async (request): Promise<Availability> => {
    const api = await requireApi(store, request.params.id);
    const [nodes, variables] = await Promise.all([store.listNodes(api.id), store.listVariables()]);
    const view = await loadRuntimeView(
      runtime,
      [api.id],
      nodes.map((n) => n.id),
    );
    return availabilityOf(api, nodes, new Map(variables.map((v) => [v.name, v.value])), view);
  });

  app.post('/apis', { config: { successStatus: 201 } }, async (request, reply) => {
    const input = parseInput(ApiCreate, request.body);
    const selector = input.selector;
    if (selector !== null) {
      // A new API has no nodes: an id no API has yet makes the runtime trial against an empty list.
      await trials.run(request, reply, () =>
        requireSelectorTrial(runtime, randomUUID(), selector, toSelectorRequest(undefined, input)),
      );
    }
    const api = await store.createApi(input);
    await awaitApplied(runtime, request.log);
    return reply.code(201).send(api);
  });

  app.get<IdParams>('/apis/:id', async (request) => requireApi(store, request.params.id));

  app.patch<IdParams>('/apis/:id', async (request, reply) => {
    const patch = parseInput(ApiPatch, request.body);
    const current = await requireApi(store, request.params.id);
    const selector = patch.selector;
    if (selector) {
      await trials.run(request, reply, () =>
        requireSelectorTrial(
          runtime,
          current.id,
          selector,
          toSelectorRequest(undefined, { path: patch.path ?? current.path }),
        ),
      );
    }
    // The merged API is validated again by the store (cross-field checks such as hash → hashOn included).
    const updated = await store.updateApi(current.id, (api) => ({
      ...api,
      ...patch,
      timeouts: { ...api.timeouts, ...patch.timeouts },
      retry: { ...api.retry, ...patch.retry },
      health: mergeHealth(api.health, patch.health),
    }));
    if (!updated) throw new AdminError('API_NOT_FOUND', `no API with id ${current.id}`);
    await awaitApplied(runtime, request.log);
    return updated;
  });

  app.delete<IdParams>('/apis/:id', async (request, reply) => {
    if (!(await store.deleteApi(request.params.id)))
      throw new AdminError('API_NOT_FOUND', `no API with id ${request.params.id}`);
    await awaitApplied(runtime, request.log);
    return reply.code(204).send();
  });
}
