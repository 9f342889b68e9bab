import type { Algorithm, AlgorithmFactory, BalanceNode } from '../algorithm.js';
import { NodeStates, type NodeSlot } from '../node-state.js';

/*
 * nginx's smooth weighted round robin ("Upstream: smooth weighted round-robin balancing",
 * https://github.com/phusion/nginx/commit/27e94984486058d73157038f7950a0a36ecc6e35): each pick adds
 * every candidate's weight to its current weight, takes the largest (the first on a tie, as nginx)
 * and subtracts the candidates' total from it. Weights {5, 1, 1} give a a b a c a a rather than the
 * burst a a a a a b c, and every cycle of Σw picks matches the weights exactly.
 *
 * Current weights are kept by node id, so the candidate list may change between calls (rules,
 * selectors, retries that drop a tried node). A pick adds and removes the same total, so the sum
 * of all current weights stays 0 and a node coming back resumes its place instead of bursting.
 */
class Weighted implements Algorithm {
  readonly #current = new NodeStates<number>(() => 0);

  pick(nodes: readonly BalanceNode[]): BalanceNode {
    const first = nodes[0];
    if (first === undefined) throw new RangeError('weighted: pick() needs at least one node');
    if (nodes.length === 1) return first;
    this.#current.trim(nodes.length);
    let bestNode = first;
    let best: NodeSlot<number> | undefined;
    let total = 0;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const slot = this.#current.get(node);
      slot.value += node.weight;
      total += node.weight;
      if (best === undefined || slot.value > best.value) {
        best = slot;
        bestNode = node;
      }
    }
    best!.value -= total;
    return bestNode;
  }
}

/** `weighted`: smooth weighted round robin (nginx); each API keeps its own current weights. */
export const weighted: AlgorithmFactory = {
  name: 'weighted',
  create: () => new Weighted(),
};
