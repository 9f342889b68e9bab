import type { BalanceNode } from './algorithm.js';

/** One node's entry in an algorithm's per-API state. */
export interface NodeSlot<T> {
  readonly id: string;
  value: T;
}

/**
 * Ids of nodes that left the config stay in the state; past this many (and twice the candidates)
 * the state is dropped: one short unfair stretch, but memory stays bounded under id churn.
 */
const STATE_LIMIT = 4_096;
/** Node indexes cached in the array; larger ones go through the id map only. */
const INDEX_LIMIT = 1_024;

/**
 * Per-node state of one algorithm instance, keyed by node id so it follows a node through subsets
 * and snapshot swaps. A `Map.get` on every candidate of every pick is most of a pick's cost, so
 * slots are also cached by `node.index` and used when the id there still matches.
 */
export class NodeStates<T> {
  readonly #byId = new Map<string, NodeSlot<T>>();
  #byIndex: (NodeSlot<T> | undefined)[] = [];
  readonly #initial: (id: string) => T;

  constructor(initial: (id: string) => T) {
    this.#initial = initial;
  }

  /** The node's slot, made with the initial value the first time its id is seen. */
  get(node: BalanceNode): NodeSlot<T> {
    const index = node.index;
    const cached = index >= 0 && index < INDEX_LIMIT ? this.#byIndex[index] : undefined;
    if (cached !== undefined && cached.id === node.id) return cached;
    let slot = this.#byId.get(node.id);
    if (slot === undefined) {
      slot = { id: node.id, value: this.#initial(node.id) };
      this.#byId.set(node.id, slot);
    }
    if (index >= 0 && index < INDEX_LIMIT) this.#byIndex[index] = slot;
    return slot;
  }

  /** Call before a pick's lookups: drops the state once it holds far more ids than candidates. */
  trim(candidates: number): void {
    if (this.#byId.size > STATE_LIMIT && this.#byId.size > 2 * candidates) {
      this.#byId.clear();
      this.#byIndex = [];
    }
  }
}
