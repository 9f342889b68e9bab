import type { Api } from '../model/api.js';
import type { Node } from '../model/node.js';
import { rulesHold } from '../model/rule.js';
import type { HealthState } from '../health/view.js';
import { afterSelector, filterNodes } from '../balance/decision.js';
import type { SelectorStatus } from '../selector/types.js';
import type { AdminRuntime, HealthReport } from './runtime.js';

/** Why an API takes no traffic, or takes it only by falling back. */
export type AvailabilityReason =
  'no-nodes' | 'unticked' | 'rules' | 'health' | 'selector-quarantined' | 'selector-over-budget';

/**
 * Whether an API has a node that could take traffic now: `down` when it has none (every request is a
 * 503), `degraded` when requests only get through by a fallback (panic mode over unhealthy nodes, a
 * quarantined selector bypassed with `use-all`), else `ok`.
 */
export interface Availability {
  state: 'ok' | 'degraded' | 'down';
  reason: AvailabilityReason | null;
  /** One sentence for the console's banner. */
  message: string;
  /** Nodes that could take a request now (0 when down). */
  usable: number;
  /** How many nodes pass each step of the balance stage before the selector. */
  nodes: { total: number; ticked: number; rulesHold: number; healthy: number };
  /** The variables whose values make rules fail on ticked nodes (reason `rules`). */
  variables: string[];
}

/** What availability needs beyond the config: the gateway's view of node health and of the selector. */
export interface RuntimeView {
  /** A node's health; undefined or `unknown` counts as able to serve (nothing says otherwise). */
  health(nodeId: string): HealthState | undefined;
  /** Whether the API's selector is quarantined now. */
  quarantined(apiId: string): boolean;
  /** Whether the API's selector is not started, past the gateway's selector budget. */
  overBudget(apiId: string): boolean;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The nodes of the APIs in `apiIds`, grouped by API in one pass (each API's in their order): a
 * filter of every node per API was quadratic, seconds for a config of thousands of APIs.
 */
export function nodesByApi(nodes: readonly Node[], apiIds: ReadonlySet<string>): Map<string, Node[]> {
  const nodesOf = new Map<string, Node[]>();
  for (const node of nodes) {
    if (!apiIds.has(node.apiId)) continue;
    const list = nodesOf.get(node.apiId);
    if (list) list.push(node);
    else nodesOf.set(node.apiId, [node]);
  }
  return nodesOf;
}

/**
 * Availability of one API from its nodes (in any order), the variables and the runtime view: the
 * balance decision's own steps (`filterNodes`, `afterSelector`) on the config as stored, so that what
 * the console says and what the gateway serves cannot drift apart.
 */
export function availabilityOf(
  api: Api,
  nodes: readonly Node[],
  variables: ReadonlyMap<string, string>,
  runtime: RuntimeView,
): Availability {
  const ticked = nodes.filter((n) => n.enabled);
  const holding = ticked.filter((n) => rulesHold(n.rules, variables));
  const healthy = holding.filter((n) => {
    const state = runtime.health(n.id);
    return state !== 'unhealthy' && state !== 'ejected';
  });
  const counts = { total: nodes.length, ticked: ticked.length, rulesHold: holding.length, healthy: healthy.length };
  const base = { nodes: counts, variables: [] as string[] };
  const down = (reason: AvailabilityReason, message: string, variables: string[] = []): Availability => ({
    ...base,
    variables,
    state: 'down',
    reason,
    usable: 0,
    message,
  });
  const filtered = filterNodes({ enabled: ticked, eligible: holding }, healthy, api.health.panic);
  if (!filtered.ok) {
    switch (filtered.step) {
      case 'enabled':
        return nodes.length === 0
          ? down('no-nodes', 'No node takes traffic: the API has no nodes (NO_ENABLED_NODE).')
          : down(
              'unticked',
              `No node takes traffic: none of its ${plural(nodes.length, 'node')} is ticked (NO_ENABLED_NODE).`,
            );
      case 'rules': {
        const failing = new Set<string>();
        for (const n of ticked) for (const r of n.rules) if (!rulesHold([r], variables)) failing.add(r.variable);
        const names = [...failing].sort();
        return down(
          'rules',
          `No node takes traffic: the rules of all ${plural(ticked.length, 'ticked node')} fail (${names.map((v) => `${v} = ${variables.get(v) ?? 'not defined'}`).join(', ')}) (RULES_EXCLUDED_ALL).`,
          names,
        );
      }
      case 'health':
        return down(
          'health',
          `No node takes traffic: all ${plural(holding.length, 'candidate')} are unhealthy or ejected and panic mode rejects (NO_HEALTHY_NODE).`,
        );
    }
  }
  const usable = filtered.nodes.length;
  let degraded: Availability | null = filtered.panic
    ? {
        ...base,
        state: 'degraded',
        reason: 'health',
        usable,
        message: `Every candidate is unhealthy or ejected; panic mode sends requests to all ${plural(holding.length, 'candidate')} anyway.`,
      }
    : null;
  if (api.selector !== null && runtime.overBudget(api.id))
    return down(
      'selector-over-budget',
      'No request gets a node: the gateway does not run the selector, which is past its selector budget (SELECTOR_OVER_BUDGET); delete a selector or lower a memoryMb, or raise --selector-max-programs / --selector-memory-mb.',
    );
  if (api.selector !== null && runtime.quarantined(api.id)) {
    // A quarantined selector fails every call: the API's onError decides, as when serving.
    const after = afterSelector({ kind: 'failed' }, filtered.nodes, api.selector.onError);
    if (!after.ok)
      return down(
        'selector-quarantined',
        'No request gets a node: the selector is quarantined and the API rejects on selector errors (SELECTOR_FAILED).',
      );
    degraded ??= {
      ...base,
      state: 'degraded',
      reason: 'selector-quarantined',
      usable,
      message: 'The selector is quarantined: requests go to every candidate until a new version is saved.',
    };
  }
  return (
    degraded ?? { ...base, state: 'ok', reason: null, usable, message: `${plural(usable, 'node')} can take traffic.` }
  );
}

/** A runtime view that also tells each API's selector state (`none`: the gateway runs no selector for it). */
export interface LoadedRuntimeView extends RuntimeView {
  selectorState(apiId: string): SelectorStatus['state'] | 'none';
}

/**
 * The runtime view for some APIs and nodes, read from the gateway processes in one ask per kind (node
 * health, selector states), whatever the number of APIs; health is merged over workers: a node any
 * worker took out counts as out.
 */
export async function loadRuntimeView(
  runtime: AdminRuntime,
  apiIds: readonly string[],
  nodeIds: readonly string[],
): Promise<LoadedRuntimeView> {
  const [health, statuses] = await Promise.all([
    nodeIds.length > 0 ? runtime.nodeHealth(nodeIds) : Promise.resolve<HealthReport>({ source: 'none', nodes: {} }),
    apiIds.length > 0 ? runtime.selectorStatuses(apiIds) : Promise.resolve<Record<string, SelectorStatus | null>>({}),
  ]);
  const selectorState = (id: string) => (Object.hasOwn(statuses, id) ? (statuses[id]?.state ?? 'none') : 'none');
  return {
    health: (id) => health.nodes[id]?.state,
    quarantined: (id) => selectorState(id) === 'quarantined',
    overBudget: (id) => selectorState(id) === 'over-budget',
    selectorState,
  };
}
