import type { RetryBudget } from '../balance/retry-budget.js';
import type { CompiledAccess } from '../access/compile.js';
import type { CompiledConsumers } from '../access/consumers.js';
import type { UpstreamPool } from '../upstream/pool.js';
import type { NodeRef } from '../explain/explanation.js';
import type { Algorithm, BalanceNode } from '../balance/algorithms/algorithm.js';
import type { FilterDecision } from '../balance/decision.js';
import type { HttpTarget } from '../connectors/kind.js';
import type { HealthRegistry, NodeHealth } from '../health/registry.js';
import type { Api } from '../model/api.js';
import type { Node } from '../model/node.js';
import type { SelectorAdmission, SelectorBudget } from '../model/selector-budget.js';
import type { SelectorFailure, SelectorHandle, SelectorNode } from '../selector/types.js';
import type { TlsCertificates } from '../tls/certificates.js';

/** A node ready to serve: its stored form, target, pool, and the views selectors and logs use. */
export interface CompiledNode extends BalanceNode {
  readonly node: Node;
  readonly name: string;
  readonly target: HttpTarget;
  readonly pool: UpstreamPool;
  /** What the selector sees (frozen). */
  readonly view: SelectorNode;
  readonly ref: NodeRef;
  /** Health and in-flight count, shared with every snapshot holding this node. */
  readonly health: NodeHealth;
}

/** Where the `hash` algorithm reads its key (header names lower-cased). */
export interface CompiledHashOn {
  readonly source: 'header' | 'query' | 'cookie';
  readonly name: string;
}

/**
 * An API's selector as the snapshot holds it: loaded in the sandbox, broken (compile failed at load),
 * or not started because it is past this process's selector budget (its requests are answered
 * SELECTOR_OVER_BUDGET; `reason` says which bound).
 */
export type CompiledSelector =
  | { readonly state: 'loaded'; readonly handle: SelectorHandle }
  | { readonly state: 'broken'; readonly error: SelectorFailure }
  | { readonly state: 'over-budget'; readonly reason: string };

/** The selector budget a snapshot's selectors were started within, and what they took. */
export interface SnapshotSelectors extends SelectorAdmission {
  readonly budget: SelectorBudget;
}

/** One API, compiled: its nodes in catalog order and the candidates that survive the static filters. */
export interface CompiledApi {
  readonly api: Api;
  /** All nodes, in creation order; a node's `index` is its position here (the selector's catalog). */
  readonly nodes: readonly CompiledNode[];
  /** Nodes the admin ticked. */
  readonly enabled: readonly CompiledNode[];
  /** Enabled nodes whose rules all hold for this snapshot's variables. */
  readonly eligible: readonly CompiledNode[];
  /** The node filters' decision when every eligible node is healthy (made once, see balance/decision.ts). */
  readonly whenAllHealthy: FilterDecision<CompiledNode>;
  /** `eligible` as catalog indices (what the selector is given as candidates). */
  readonly eligibleIndices: readonly number[];
  readonly methods: ReadonlySet<string>;
  /** The prefix removed upstream when `stripPrefix` is set (`/a` for `/a/*`), else ''. */
  readonly strip: string;
  readonly algorithm: Algorithm;
  /** Its requests in flight and in a retry in this process (outlives snapshots, as the algorithm does). */
  readonly retryBudget: RetryBudget;
  readonly selector: CompiledSelector | null;
  /** The `hash` algorithm's key source; null for the other algorithms. */
  readonly hashOn: CompiledHashOn | null;
  /** Authentication, limits, IP lists and CORS; null when the API has none (the access stage then checks the body size only). */
  readonly access: CompiledAccess | null;
}

/** The outcome of a route lookup. */
export type RouteMatch =
  { readonly api: CompiledApi } | { readonly api: null; readonly allowed: readonly string[] | null };

/** Host → path tables, compiled once per snapshot (`compileRouter` in router.ts). */
export interface Router {
  lookup(host: string, path: string, method: string): RouteMatch;
}

/** The immutable config the data plane serves from; swapped whole when the version changes. */
export interface Snapshot {
  readonly version: number;
  readonly loadedAt: number;
  readonly apis: ReadonlyMap<string, CompiledApi>;
  readonly router: Router;
  readonly variables: ReadonlyMap<string, string>;
  /** The TLS port's certificates by SNI name. */
  readonly tls: TlsCertificates;
  /** Every consumer, indexed by credential. */
  readonly consumers: CompiledConsumers;
  /** The process's node health (live, outlives this snapshot): the balance stage filters with it. */
  readonly health: HealthRegistry;
  /** The selector budget and which selectors it left out; null when this process has none (it runs no selectors). */
  readonly selectors: SnapshotSelectors | null;
}
