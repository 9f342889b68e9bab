/**
 * The active checker's bound on probes in flight: many probed nodes (all starting at once when a
 * config loads) never hold more than `probesAtOnce` sockets, and every node is still probed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActiveChecker } from '../../src/health/active.js';
import { HealthRegistry } from '../../src/health/registry.js';
import { ActiveCheck } from '../../src/model/health.js';
import type { Snapshot } from '../../src/snapshot/snapshot.js';
import { waitFor } from './load.js';

let server: Server;
let origin = '';
let busy = 0;
let maxBusy = 0;
const seen = new Set<string>();

beforeAll(async () => {
  // Every probe is held 150 ms, so probes started together overlap.
  server = createServer((req, res) => {
    busy++;
    maxBusy = Math.max(maxBusy, busy);
    seen.add(req.url ?? '');
    setTimeout(() => {
      busy--;
      res.end('ok');
    }, 150);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The part of a snapshot the checker reads: APIs with `health.active` and their enabled nodes. */
function snapshotOf(nodes: number, registry: HealthRegistry): Snapshot {
  const active = ActiveCheck.parse({ path: '/health', intervalMs: 60_000, timeoutMs: 5_000 });
  const enabled = Array.from({ length: nodes }, (_, i) => ({
    id: `n${i}`,
    target: { origin, basePath: `/node${i}` },
    health: registry.entry(`n${i}`, `${origin}/node${i}`),
  }));
  return { apis: new Map([['a', { api: { health: { active } }, enabled }]]) } as unknown as Snapshot;
}

describe('probes in flight', () => {
  it('are bounded per process; every node is still probed', async () => {
    const checker = new ActiveChecker(null, 4);
    try {
      checker.follow(snapshotOf(30, new HealthRegistry()));
      expect(checker.inFlight.running).toBeLessThanOrEqual(4);
      expect(checker.inFlight.waiting).toBe(26);
      await waitFor(
        async () => seen.size,
        (n) => n >= 30,
        10_000,
      );
      expect(maxBusy).toBeLessThanOrEqual(4);
      expect(maxBusy).toBeGreaterThanOrEqual(2);
      await waitFor(
        async () => checker.inFlight.running + checker.inFlight.waiting,
        (n) => n === 0,
        5_000,
      );
    } finally {
      await checker.close();
    }
  });
});
