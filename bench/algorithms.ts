/*
 * Micro-benchmark of the balance algorithms: ns per pick on 3 and 20 nodes.
 * Run after compiling (`npx tsc -p tsconfig.json` emits dist/bench/): `node dist/bench/algorithms.js`.
 */
import { AlgorithmName } from '../src/model/api.js';
import { createAlgorithm, type BalanceNode } from '../src/balance/algorithms/index.js';

const PICKS = 2_000_000;
const WARMUP = 200_000;
const ROUNDS = 5;

/** Client keys to rotate through, so ip_hash hashes a different key on each pick. */
const keys = Array.from({ length: 4_096 }, (_, i) => ({
  hashKey: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
}));

function nodes(count: number): BalanceNode[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    id: `0b5c${index.toString(16).padStart(4, '0')}-9d1e-4c6a-8f3b-2a7d5e9c1f40`,
    weight: 1 + (index % 5),
  }));
}

/** The XOR of picked indexes, printed so that the loop cannot be optimised away. */
let sink = 0;

function run(name: AlgorithmName, list: readonly BalanceNode[], picks: number): number {
  const algorithm = createAlgorithm(name);
  const start = process.hrtime.bigint();
  for (let i = 0; i < picks; i++) sink ^= algorithm.pick(list, keys[i & 4_095]!).index;
  return Number(process.hrtime.bigint() - start) / picks;
}

console.log(`node ${process.version}, ${PICKS} picks per round, best of ${ROUNDS} rounds`);
console.log('algorithm     nodes  ns/pick');
for (const name of AlgorithmName.options) {
  for (const count of [3, 20]) {
    const list = nodes(count);
    run(name, list, WARMUP);
    let best = Infinity;
    for (let r = 0; r < ROUNDS; r++) best = Math.min(best, run(name, list, PICKS));
    console.log(`${name.padEnd(13)} ${String(count).padStart(5)}  ${best.toFixed(1).padStart(7)}`);
  }
}
console.log(`(checksum ${sink})`);
