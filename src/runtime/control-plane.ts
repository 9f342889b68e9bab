import type { Logger } from 'pino';
import type { AdminRuntime } from '../admin/runtime.js';
import { parseStoreSpec } from '../config/store-spec.js';
import type { Options } from '../config/options.js';
import { selectorBudgetOf } from '../config/selector-budget.js';
import type { NodeStatsView } from '../gateway/node-stats.js';
import { PoolRegistry } from '../gateway/pools.js';
import { mergeNodeHealth, unknownHealth, type NodeHealthView } from '../health/view.js';
import { SelectorSandbox } from '../selector/sandbox.js';
import type { SelectorStatus } from '../selector/types.js';
import { SnapshotHolder } from '../snapshot/holder.js';
import { watchStoreWrites } from '../snapshot/store-watch.js';
import type { Store } from '../store/store.js';
import type { WorkerSet } from './cluster/workers.js';
import { mergeNodeStats, mergeSelectorStatuses } from './cluster/messages.js';
import { explainer } from './local-runtime.js';

/**
 * The admin runtime of a process that does not serve traffic itself: it compiles snapshots only to
 * explain them (a sandbox for trials, no serving selectors) and asks the local workers, if any, for
 * their selector states and node stats; `applied` waits until every local worker serves the write.
 */
export async function controlPlaneRuntime(
  options: Options,
  store: Store,
  log: Logger,
  workers: WorkerSet | null,
  cleanups: Array<() => Promise<void> | void>,
): Promise<{ runtime: AdminRuntime; holder: SnapshotHolder }> {
  const sandbox = await SelectorSandbox.start({ logger: log.child({ component: 'selector' }), maxHosts: 1 });
  cleanups.push(() => sandbox.close());
  const pools = new PoolRegistry({ connections: 1, keepAliveMs: 1_000, maxWaiting: 0, waitMs: 1_000 });
  cleanups.push(() => pools.close());
  // Its snapshots say which selectors the gateways leave out for the budget, so explain says so too.
  const [config, budget] = [log.child({ component: 'config' }), selectorBudgetOf(options)];
  const holder = new SnapshotHolder(store, sandbox, pools, config, false, undefined, undefined, budget);
  cleanups.push(() => holder.close());
  await holder.refresh();
  holder.startPolling(options.pollMs);
  const nodeHealth: AdminRuntime['nodeHealth'] = async (nodeIds) => {
    if (!workers) {
      const none = unknownHealth(
        'this process serves no traffic: each gateway process keeps the health of the nodes it sends to',
      );
      return { source: 'none', nodes: Object.fromEntries(nodeIds.map((id) => [id, none])) };
    }
    const parts = (await workers.ask({ t: 'nodeHealth', nodeIds: [...nodeIds] })) as Array<
      Record<string, NodeHealthView>
    >;
    return { source: 'workers', nodes: mergeNodeHealth(parts, nodeIds) };
  };
  const selectorStatuses: AdminRuntime['selectorStatuses'] = async (apiIds) => {
    const parts = workers ? await workers.ask({ t: 'selectorStatuses', apiIds: [...apiIds] }) : [];
    return mergeSelectorStatuses(parts as Array<Record<string, SelectorStatus | null>>, apiIds);
  };
  // Writes made through other admin processes reach this one's explain view (and cluster row) at once too.
  // Logged as the gateway's are: a failure at once, then once a minute (SQLite heartbeats touch the file watched).
  const unwatch = watchStoreWrites(store, parseStoreSpec(options.store, options.dataDir), log, () =>
    holder.refreshInBackground(),
  );
  if (unwatch) cleanups.push(unwatch);
  const runtime: AdminRuntime = {
    async applied() {
      await holder.refresh();
      if (workers) await workers.ask({ t: 'refresh' });
    },
    ...explainer(
      holder,
      sandbox,
      async (ids) => {
        if (!workers) return null;
        const { nodes } = await nodeHealth(ids);
        // A node no worker reported on passes, as it does in a worker that never sent to it.
        return (node) => {
          const state = nodes[node.id]?.state;
          return state === undefined || state === 'healthy' || state === 'unknown';
        };
      },
      false,
    ),
    nodeHealth,
    selectorStatus: async (apiId) => (await selectorStatuses([apiId]))[apiId] ?? null,
    selectorStatuses,
    async nodeStats(nodeIds) {
      const parts = workers
        ? ((await workers.ask({ t: 'nodeStats', nodeIds: [...nodeIds] })) as Array<Record<string, NodeStatsView>>)
        : [];
      return mergeNodeStats(parts, nodeIds);
    },
  };
  return { runtime, holder };
}
