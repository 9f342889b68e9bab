import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SelectorConfig } from '../../model/selector.js';
import type { Role } from '../../model/token.js';
import { etagOf } from '../../store/changes.js';
import { awaitApplied } from '../applied.js';
import type { AdminDeps } from '../deps.js';
import { AdminError } from '../errors.js';
import { requireApi } from '../lookup.js';
import { SampleRequest, toSelectorRequest } from '../sample.js';
import { requireSelectorTrial, type TrialGate } from '../trial.js';
import { parseInput } from '../validate.js';

type IdParams = { Params: { id: string } };

/** Body of `PUT /admin/apis/:id/selector`: the selector plus the sample request its trial runs on. */
export const SelectorPut = SelectorConfig.extend({ sample: SampleRequest.optional() });

/** Body of `POST /admin/apis/:id/selector/rollback`. */
export const SelectorRollback = z.strictObject({
  version: z.number().int().min(1),
  sample: SampleRequest.optional(),
});

/** Body of `POST /admin/apis/:id/selector/test`: without `selector` the stored one runs; null runs none. */
export const SelectorTest = z.strictObject({
  request: SampleRequest.optional(),
  selector: SelectorConfig.nullable().optional(),
});

/**
 * A test of the stored selector (or of none) is a viewer's; a test of code sent with it is an
 * editor's, as saving that code would be: a read-only token runs no code of its own choosing.
 */
function selectorTestRole(request: FastifyRequest): Role {
  const selector = (request.body as { selector?: unknown } | undefined)?.selector;
  return typeof selector === 'object' && selector !== null ? 'editor' : 'viewer';
}

/** `/admin/apis/:id/selector`: read with status and history, save after a trial, clear, roll back, restart, test. */
export function registerSelectorRoutes(app: FastifyInstance, { store, runtime }: AdminDeps, trials: TrialGate): void {
  app.get<IdParams>('/apis/:id/selector', async (request, reply) => {
    const api = await requireApi(store, request.params.id);
    // The selector is part of its API: a selector write's If-Match takes the API's entity tag.
    reply.header('etag', etagOf(api));
    return {
      selector: api.selector,
      status: await runtime.selectorStatus(api.id),
      versions: await store.listSelectorVersions(api.id),
    };
  });

  app.put<IdParams>('/apis/:id/selector', async (request, reply) => {
    const { sample, ...config } = parseInput(SelectorPut, request.body);
    const api = await requireApi(store, request.params.id);
    await trials.run(request, reply, () =>
      requireSelectorTrial(runtime, api.id, config, toSelectorRequest(sample, api)),
    );
    const saved = await store.setSelector(api.id, config);
    if (!saved) throw new AdminError('API_NOT_FOUND', `no API with id ${api.id}`);
    await awaitApplied(runtime, request.log);
    return saved;
  });

  app.delete<IdParams>('/apis/:id/selector', async (request, reply) => {
    const cleared = await store.setSelector(request.params.id, null);
    if (!cleared) throw new AdminError('API_NOT_FOUND', `no API with id ${request.params.id}`);
    await awaitApplied(runtime, request.log);
    return reply.code(204).send();
  });

  app.post<IdParams>('/apis/:id/selector/rollback', async (request, reply) => {
    const { version, sample } = parseInput(SelectorRollback, request.body);
    const api = await requireApi(store, request.params.id);
    const saved = (await store.listSelectorVersions(api.id)).find((v) => v.version === version);
    if (!saved)
      throw new AdminError('SELECTOR_VERSION_NOT_FOUND', `API ${api.id} has no saved selector version ${version}`);
    // The nodes may have changed since that version was saved, so it is trialled again like a new one.
    const selector = saved.selector;
    if (selector)
      await trials.run(request, reply, () =>
        requireSelectorTrial(runtime, api.id, selector, toSelectorRequest(sample, api)),
      );
    const restored = await store.setSelector(api.id, saved.selector);
    if (!restored) throw new AdminError('API_NOT_FOUND', `no API with id ${api.id}`);
    await awaitApplied(runtime, request.log);
    return restored;
  });

  // Saves the same selector again: every gateway process compiles it afresh (a version is keyed by
  // its save), which lifts a quarantine and turns memoization back on. The code ran before, so no trial.
  app.post<IdParams>('/apis/:id/selector/restart', async (request) => {
    const api = await requireApi(store, request.params.id);
    if (!api.selector) throw new AdminError('SELECTOR_NOT_FOUND', `API ${api.id} has no selector to restart`);
    const saved = await store.setSelector(api.id, api.selector);
    if (!saved) throw new AdminError('API_NOT_FOUND', `no API with id ${api.id}`);
    await awaitApplied(runtime, request.log);
    return { selector: saved.selector, status: await runtime.selectorStatus(api.id) };
  });

  // Runs nothing that is kept: a viewer may test the stored selector, an editor any code.
  app.post<IdParams>('/apis/:id/selector/test', { config: { role: selectorTestRole } }, async (request, reply) => {
    const body = parseInput(SelectorTest, request.body ?? {});
    const api = await requireApi(store, request.params.id);
    const explain = () => runtime.explain(api.id, toSelectorRequest(body.request, api), body.selector);
    const runsCode = body.selector === undefined ? api.selector !== null : body.selector !== null;
    return runsCode ? trials.run(request, reply, explain) : explain();
  });
}
