import type { UpstreamPool } from '../upstream/pool.js';
import { compileAccess } from '../access/compile.js';
import { compileConsumers } from '../access/consumers.js';
import type { LimitRegistry } from '../access/limits/registry.js';
import { createAlgorithm } from '../balance/algorithms/index.js';
import { RetryBudget } from '../balance/retry-budget.js';
import { allHealthy } from '../balance/decision.js';
import { connectorTarget } from '../connectors/registry.js';
import type { PoolRegistry } from '../gateway/pools.js';
import type { HealthRegistry } from '../health/registry.js';
import { TlsCertificates } from '../tls/certificates.js';
import { rulesHold } from '../model/rule.js';
import type { Api } from '../model/api.js';
import type { Node } from '../model/node.js';
import { admitSelectors, type SelectorBudget } from '../model/selector-budget.js';
import type { SelectorSandbox } from '../selector/sandbox.js';
import { SelectorCompileError } from '../selector/sandbox.js';
import type { SelectorNode } from '../selector/types.js';
import type { ConfigState } from '../store/store.js';
import { compileRouter } from './router.js';
import type { CompiledApi, CompiledNode, CompiledSelector, Snapshot, SnapshotSelectors } from './snapshot.js';

/** What compiling needs besides the config. */
export interface CompileDeps {
  pools: PoolRegistry;
  sandbox: SelectorSandbox;
  /** The snapshot being replaced: algorithms keep their state (rotation, current weights) across versions. */
  previous: Snapshot | null;
  /** False for a process that only explains (a control plane): selectors are not loaded for serving. */
  loadSelectors: boolean;
  /** Node health outlives snapshots: each compiled node gets its entry. */
  health: HealthRegistry;
  /** Rate-limit buckets outlive snapshots too (and hold the Redis link of cluster limits). */
  limits: LimitRegistry;
  /**
   * The selector budget of this process: selectors past it are not started (src/model/selector-budget.ts
   * decides which). Null: every selector is started.
   */
  selectorBudget: SelectorBudget | null;
}

/** A compiled snapshot and the pools it holds (so unused ones can be closed when it retires). */
export interface CompiledConfig {
  snapshot: Snapshot;
  pools: ReadonlySet<UpstreamPool>;
}

/**
 * Compiles a config state into an immutable snapshot: nodes resolved to targets and pools, rules
 * evaluated against this version's variables, selectors loaded in the sandbox, routes indexed,
 * certificates made into TLS contexts.
 */
export async function compileSnapshot(state: ConfigState, deps: CompileDeps): Promise<CompiledConfig> {
  const variables = new Map(state.variables.map((v) => [v.name, v.value]));
  const env = Object.fromEntries(variables);
  const nodesByApi = new Map<string, Node[]>();
  for (const node of state.nodes) {
    const list = nodesByApi.get(node.apiId);
    if (list) list.push(node);
    else nodesByApi.set(node.apiId, [node]);
  }
  const pools = new Set<UpstreamPool>();
  const budget = deps.selectorBudget;
  const selectors: SnapshotSelectors | null =
    budget === null ? null : { budget, ...admitSelectors(state.apis, budget) };
  const apis = await Promise.all(
    state.apis.map((api) =>
      compileApi(api, nodesByApi.get(api.id) ?? [], variables, env, deps, pools, selectors?.overBudget.get(api.id)),
    ),
  );
  const byId = new Map(apis.map((a) => [a.api.id, a]));
  return {
    snapshot: Object.freeze({
      version: state.version,
      loadedAt: Date.now(),
      apis: byId,
      router: compileRouter(apis),
      variables,
      tls: new TlsCertificates(state.certificates, deps.previous?.tls ?? null),
      consumers: compileConsumers(state.consumers),
      health: deps.health,
      selectors,
    }),
    pools,
  };
}

async function compileApi(
  api: Api,
  stored: Node[],
  variables: ReadonlyMap<string, string>,
  env: Record<string, string>,
  deps: CompileDeps,
  pools: Set<UpstreamPool>,
  /** Why its selector is past the budget and not started, else undefined. */
  overBudget: string | undefined,
): Promise<CompiledApi> {
  const nodes: CompiledNode[] = stored.map((node, index) => {
    const target = connectorTarget(node.connector);
    const pool = deps.pools.get(target.origin, api.timeouts.connectMs);
    pools.add(pool);
    const view: SelectorNode = Object.freeze({
      id: node.id,
      name: node.name,
      url: target.url,
      weight: node.weight,
      tags: Object.freeze([...node.tags]) as string[],
    });
    return Object.freeze({
      index,
      id: node.id,
      weight: node.weight,
      name: node.name,
      node,
      target,
      pool,
      view,
      ref: { id: node.id, name: node.name, url: target.url },
      health: deps.health.entry(node.id, target.url),
    });
  });
  const enabled = nodes.filter((n) => n.node.enabled);
  const eligible = enabled.filter((n) => rulesHold(n.node.rules, variables));
  return Object.freeze({
    api,
    // With CORS, preflights (OPTIONS) route to the API; the access stage refuses other OPTIONS it does not accept.
    methods: new Set(api.access.cors === null ? api.methods : [...api.methods, 'OPTIONS']),
    nodes,
    enabled,
    eligible,
    whenAllHealthy: Object.freeze(allHealthy(eligible)),
    eligibleIndices: eligible.map((n) => n.index),
    strip: api.stripPrefix && api.path.endsWith('/*') ? api.path.slice(0, -2) : '',
    algorithm: sameAlgorithm(deps.previous?.apis.get(api.id), api) ?? createAlgorithm(api.algorithm),
    retryBudget: deps.previous?.apis.get(api.id)?.retryBudget ?? new RetryBudget(),
    selector:
      api.selector === null
        ? null
        : overBudget !== undefined
          ? ({ state: 'over-budget', reason: overBudget } as const)
          : deps.loadSelectors
            ? await loadSelector(api, nodes, env, deps.sandbox)
            : null,
    hashOn:
      api.algorithm === 'hash' && api.hashOn
        ? Object.freeze({
            source: api.hashOn.source,
            name: api.hashOn.source === 'header' ? api.hashOn.name.toLowerCase() : api.hashOn.name,
          })
        : null,
    access: compileAccess(api, deps.limits),
  });
}

async function loadSelector(
  api: Api,
  nodes: readonly CompiledNode[],
  env: Record<string, string>,
  sandbox: SelectorSandbox,
): Promise<CompiledSelector> {
  try {
    const handle = await sandbox.load(
      { apiId: api.id, config: api.selector!, revision: api.updatedAt },
      nodes.map((n) => n.view),
      env,
    );
    return { state: 'loaded', handle };
  } catch (err) {
    if (err instanceof SelectorCompileError) return { state: 'broken', error: err.failure };
    return {
      state: 'broken',
      error: { kind: 'unavailable', message: err instanceof Error ? err.message : String(err) },
    };
  }
}

function sameAlgorithm(previous: CompiledApi | undefined, api: Api): CompiledApi['algorithm'] | null {
  return previous && previous.api.algorithm === api.algorithm ? previous.algorithm : null;
}
