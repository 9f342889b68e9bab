import type { AlgorithmFactory } from '../algorithm.js';
import { RendezvousHash } from '../rendezvous.js';

/**
 * `hash`: like `ip_hash` (weighted rendezvous hashing, so consistent and weight-aware), on the key the
 * API's `hashOn` names — a header, query parameter or cookie; the balance stage puts it in
 * `ctx.hashKey` and falls back to the client IP when the request lacks it.
 */
export const hash: AlgorithmFactory = {
  name: 'hash',
  create: () => new RendezvousHash('hash'),
};
