import { AdminError } from '../admin/errors.js';
import type { AdminRuntime } from '../admin/runtime.js';
import { explainRequest, type HealthLookup } from '../gateway/explain.js';
import type { SelectorSandbox } from '../selector/sandbox.js';
import type { SnapshotHolder } from '../snapshot/holder.js';
import type { DataPlane } from './data-plane.js';
import { selectorStatusOf } from './selector-status.js';

/**
 * The admin runtime's trial and explain, over a snapshot holder and a sandbox of this process;
 * `health` gives the health step its view (null: this process has none).
 */
export function explainer(
  holder: SnapshotHolder,
  sandbox: SelectorSandbox,
  health: (apiNodeIds: readonly string[]) => Promise<HealthLookup>,
  /** Whether this process's rate-limit buckets are the serving ones (a data plane in this process). */
  limitsKnown: boolean,
): Pick<AdminRuntime, 'trialSelector' | 'explain'> {
  return {
    async trialSelector(apiId, config, request) {
      const snapshot = holder.current;
      const api = snapshot?.apis.get(apiId);
      const env = Object.fromEntries(snapshot?.variables ?? []);
      return sandbox.trial(
        config,
        request,
        env,
        (api?.eligible ?? []).map((n) => n.view),
      );
    },
    async explain(apiId, request, selector) {
      let snapshot = holder.current;
      if (!snapshot?.apis.has(apiId)) {
        // Written through another admin process a moment ago (this one has not loaded it yet), or
        // deleted meanwhile: load the stored config once, then say which.
        await holder.refresh();
        snapshot = holder.current;
      }
      const api = snapshot?.apis.get(apiId);
      if (!snapshot || !api) throw new AdminError('API_NOT_FOUND', `no API with id ${apiId} in the serving config`);
      const healthy = await health(api.nodes.map((n) => n.id));
      return explainRequest(
        snapshot,
        api,
        request,
        selector === undefined ? api.api.selector : selector,
        sandbox,
        healthy,
        limitsKnown,
      );
    },
  };
}

/** The admin runtime when the data plane runs in this very process (`--workers 0`). */
export function localAdminRuntime(plane: DataPlane): AdminRuntime {
  return {
    applied: () => plane.holder.refresh(),
    ...explainer(plane.holder, plane.sandbox, async () => (node) => node.health.state() === 'healthy', true),
    selectorStatus: async (apiId) => selectorStatusOf(plane.holder.current, plane.sandbox, apiId),
    selectorStatuses: async (apiIds) =>
      Object.fromEntries(apiIds.map((id) => [id, selectorStatusOf(plane.holder.current, plane.sandbox, id)])),
    nodeStats: async (nodeIds) => Object.fromEntries(nodeIds.map((id) => [id, plane.stats.view(id)])),
    nodeHealth: async (nodeIds) => ({ source: 'process', nodes: plane.health.view(nodeIds) }),
  };
}
