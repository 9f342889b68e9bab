/** What an algorithm sees of a node: its position in the API's node list, id and weight. */
export interface BalanceNode {
  /** Index in the API's compiled node list (stable within one snapshot). */
  readonly index: number;
  readonly id: string;
  /** >= 1 */
  readonly weight: number;
}

/** Per-request input to a pick. */
export interface PickContext {
  /** Key for hashing algorithms (the client IP for `ip_hash`, the `hashOn` value for `hash`). */
  readonly hashKey: string;
  /** Requests in flight to a node from this process (for `least_conn`; absent: all idle). */
  inFlight?(node: BalanceNode): number;
}

/**
 * One API's instance of an algorithm: only the decision, as in Envoy's `chooseHost`. The balance stage
 * owns filtering and retries; it calls `pick` with the candidates left (never empty).
 */
export interface Algorithm {
  pick(nodes: readonly BalanceNode[], ctx: PickContext): BalanceNode;
}

/** A registered algorithm: `create()` makes the per-API state (counters, current weights). */
export interface AlgorithmFactory {
  readonly name: string;
  create(): Algorithm;
}
