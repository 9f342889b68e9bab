import type { Algorithm, AlgorithmFactory, BalanceNode, PickContext } from '../algorithm.js';
import { NodeStates } from '../node-state.js';

/*
 * nginx's least_conn: the candidate with the fewest in-flight requests per unit of weight wins
 * (a/wa < b/wb compared as a·wb < b·wa, no division). Ties — common when the gateway is idle or
 * every node is equally busy — go to the tied node that was picked longest ago (round robin's stamps),
 * so an idle API still spreads its traffic instead of sending every request to the first node.
 * The balance stage counts in-flight requests per node (across snapshots) and passes them in `ctx`.
 */
class LeastConn implements Algorithm {
  #counter = 0;
  readonly #lastPicked = new NodeStates<number>(() => 0);

  pick(nodes: readonly BalanceNode[], ctx: PickContext): BalanceNode {
    const first = nodes[0];
    if (first === undefined) throw new RangeError('least_conn: pick() needs at least one node');
    this.#lastPicked.trim(nodes.length);
    const counted = ctx.inFlight !== undefined;
    let bestNode = first;
    let best = this.#lastPicked.get(first);
    let bestLoad = counted ? ctx.inFlight!(first) : 0;
    for (let i = 1; i < nodes.length; i++) {
      const node = nodes[i]!;
      const load = counted ? ctx.inFlight!(node) : 0;
      const lhs = load * bestNode.weight;
      const rhs = bestLoad * node.weight;
      if (lhs > rhs) continue;
      const slot = this.#lastPicked.get(node);
      if (lhs < rhs || slot.value < best.value) {
        bestNode = node;
        best = slot;
        bestLoad = load;
      }
    }
    best.value = ++this.#counter;
    return bestNode;
  }
}

/** `least_conn`: the node with the fewest in-flight requests ÷ weight; ties rotate. */
export const leastConn: AlgorithmFactory = {
  name: 'least_conn',
  create: () => new LeastConn(),
};
