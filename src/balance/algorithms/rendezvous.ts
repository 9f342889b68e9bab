import type { Algorithm, BalanceNode, PickContext } from './algorithm.js';
import { NodeStates } from './node-state.js';

/*
 * Weighted rendezvous (highest random weight) hashing: every node gets a score from
 * hash(key, node id) and the highest score wins. Unlike a hash ring or `hash % n` there is no
 * ring or table to rebuild, it works on whatever subset of nodes the balance stage passes, and
 * removing a node moves only the keys that node held (Thaler & Ravishankar, "Using name-based
 * mappings to increase hit rates", IEEE/ACM Trans. Networking 1998;
 * https://en.wikipedia.org/wiki/Rendezvous_hashing).
 *
 * Weights: with u uniform in (0, 1), -ln(u) / w is exponential with rate w, and the least of
 * independent exponentials is node i with probability w_i / Σw. So the highest score
 * w / -ln(u) gives each node exactly its weight's share of keys (the "logarithmic method" of
 * Schindelhauer & Schomaker, "Weighted distributed hash tables", SPAA 2005).
 *
 * u comes from murmur3_32 (https://github.com/aappleby/smhasher) of the 8-byte message
 * (keyHash, nodeHash), both halves FNV-1a hashes of the strings. The first block's mixing depends
 * only on the key, so it is done once per pick; the second block depends only on the node id, so
 * it is cached. What is left per node is a few integer ops, a division and rarely a Math.log, with
 * no allocation. For a fixed key the map from node block to u is a bijection, so two nodes with
 * different id hashes never draw the same u; 32 bits of u are enough, as its resolution (2^-32)
 * is far below any share that matters.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
/** Two murmur3 blocks of 4 bytes: the length mixed into the finalizer. */
const MESSAGE_BYTES = 8;

/** FNV-1a over UTF-16 code units (http://www.isthe.com/chongo/tech/comp/fnv/). */
function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3_32's per-block scramble of one 32-bit word. */
function scramble(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/** murmur3_32's per-block state update. */
function mixBlock(h: number, scrambled: number): number {
  h ^= scrambled;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3_32's finalizer (full avalanche), as an unsigned 32-bit integer. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const SEED = 0;
const TWO_POW_32 = 4294967296;

/** The second murmur3 block for a node: it depends on the id only, so it is computed once. */
function nodeBlock(id: string): number {
  return scramble(fnv1a32(id));
}

/**
 * Picks by weighted rendezvous hashing of `ctx.hashKey`. The result depends only on the key and the
 * candidates' ids and weights; the instance holds nothing but a cache of node blocks.
 */
export class RendezvousHash implements Algorithm {
  constructor(private readonly name: string) {}

  readonly #blocks = new NodeStates<number>(nodeBlock);

  pick(nodes: readonly BalanceNode[], ctx: PickContext): BalanceNode {
    const first = nodes[0];
    if (first === undefined) throw new RangeError(`${this.name}: pick() needs at least one node`);
    if (nodes.length === 1) return first;
    this.#blocks.trim(nodes.length);
    const keyState = mixBlock(SEED, scramble(fnv1a32(ctx.hashKey)));
    let best = first;
    let bestScore = -1;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      const h = fmix32(mixBlock(keyState, this.#blocks.get(node).value) ^ MESSAGE_BYTES);
      // Strictly inside (0, 1), so the log below is finite and negative.
      const u = (h + 0.5) / TWO_POW_32;
      // -ln(u) >= 1 - u, so w / (1 - u) bounds the score from above: a node under the best score
      // even by that bound cannot win or tie, and most nodes skip the logarithm. The winner is
      // the same as when every score is computed.
      if (node.weight / (1 - u) < bestScore) continue;
      const score = node.weight / -Math.log(u);
      // Ties go to the smaller id, so the winner does not depend on the order of the candidates.
      if (score > bestScore || (score === bestScore && node.id < best.id)) {
        best = node;
        bestScore = score;
      }
    }
    return best;
  }
}
