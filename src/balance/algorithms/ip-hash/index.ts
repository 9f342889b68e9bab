import type { AlgorithmFactory } from '../algorithm.js';
import { RendezvousHash } from '../rendezvous.js';

/** `ip_hash`: the same key (the client IP) keeps reaching the same node, weight-aware and consistent. */
export const ipHash: AlgorithmFactory = {
  name: 'ip_hash',
  create: () => new RendezvousHash('ip_hash'),
};
