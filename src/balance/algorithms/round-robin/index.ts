import type { Algorithm, AlgorithmFactory, BalanceNode } from '../algorithm.js';
import { NodeStates } from '../node-state.js';

/*
 * Round robin as "the candidate that has waited longest goes next": each pick stamps the node
 * with a per-API counter and the lowest stamp wins (never picked = 0; ties go to the earlier
 * candidate). On a fixed list that is the plain rotation a b c a b c. A bare `counter % length`
 * rotation breaks once the list varies between calls: with a selector that alternates [a, b] and
 * [t], it picks a, t, a, t … and starves b; retries that drop a tried node skew it the same way.
 * Stamps keyed by node id keep every subset fair and survive a snapshot swap that renumbers nodes.
 */
class RoundRobin implements Algorithm {
  #counter = 0;
  readonly #lastPicked = new NodeStates<number>(() => 0);

  pick(nodes: readonly BalanceNode[]): BalanceNode {
    const first = nodes[0];
    if (first === undefined) throw new RangeError('round_robin: pick() needs at least one node');
    this.#lastPicked.trim(nodes.length);
    let best = this.#lastPicked.get(first);
    let bestNode = first;
    for (let i = 1; i < nodes.length && best.value > 0; i++) {
      const node = nodes[i]!;
      const slot = this.#lastPicked.get(node);
      if (slot.value < best.value) {
        best = slot;
        bestNode = node;
      }
    }
    best.value = ++this.#counter;
    return bestNode;
  }
}

/** `round_robin`: rotates through the candidates, ignoring weights; each API gets its own rotation. */
export const roundRobin: AlgorithmFactory = {
  name: 'round_robin',
  create: () => new RoundRobin(),
};
