import type { AlgorithmName } from '../../model/api.js';
import type { Algorithm, AlgorithmFactory } from './algorithm.js';
import { hash } from './hash/index.js';
import { ipHash } from './ip-hash/index.js';
import { leastConn } from './least-conn/index.js';
import { roundRobin } from './round-robin/index.js';
import { weighted } from './weighted/index.js';

export type { Algorithm, AlgorithmFactory, BalanceNode, PickContext } from './algorithm.js';

// A Record, so that adding a name to AlgorithmName without registering it fails to compile.
const byName: Record<AlgorithmName, AlgorithmFactory> = {
  ip_hash: ipHash,
  round_robin: roundRobin,
  weighted,
  least_conn: leastConn,
  hash,
};

/** Every algorithm by its config name (= its folder, with `_` written `-`). */
export const algorithms: ReadonlyMap<AlgorithmName, AlgorithmFactory> = new Map(
  Object.entries(byName) as [AlgorithmName, AlgorithmFactory][],
);

/** A fresh per-API instance of the named algorithm (its own rotation / current weights). */
export function createAlgorithm(name: AlgorithmName): Algorithm {
  const factory = algorithms.get(name);
  if (factory === undefined) throw new RangeError(`unknown balance algorithm: ${String(name)}`);
  return factory.create();
}
