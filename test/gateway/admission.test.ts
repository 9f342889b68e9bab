import { describe, expect, it } from 'vitest';
import {
  Admission,
  AdmissionTicket,
  EVICT_AFTER_IDLE_MS,
  MAX_REFUSING,
  type AdmissionLimits,
} from '../../src/gateway/admission.js';
import { connectionsWithin, refusalsWithin } from '../../src/runtime/fd-limit.js';

/** Admits a connection that records its eviction. */
function admitted(a: Admission, peer: string, evicted: string[], name: string): AdmissionTicket {
  const t = a.admit(peer);
  if (!(t instanceof AdmissionTicket)) throw new Error(`refused: ${t}`);
  t.conn = { evict: () => evicted.push(name) };
  return t;
}

const LONG_AGO = -10 * EVICT_AFTER_IDLE_MS;

/** An admission with roomy limits but for those given (and `--trust-proxy` peers). */
function admission(limits: Partial<AdmissionLimits>, trustProxy: string[] = []): Admission {
  return new Admission(
    { maxConnections: 10, maxConnectionsPerIp: 10, maxHeadMemoryBytes: 1e6, maxBufferedResponses: 1, ...limits },
    trustProxy,
  );
}

describe('Admission', () => {
  it('closes the connection idle the longest to make room, never a busy one, and refuses when none is idle', () => {
    const a = admission({ maxConnections: 3 });
    const evicted: string[] = [];
    const [x, y, z] = ['x', 'y', 'z'].map((n) => admitted(a, '10.0.0.1', evicted, n));
    a.markIdle(y!, LONG_AGO);
    a.markIdle(x!, LONG_AGO + 1);
    a.markIdle(z!, LONG_AGO + 2);
    a.markBusy(y!); // y reads a request now
    admitted(a, '10.0.0.2', evicted, 'w');
    expect(evicted).toEqual(['x']);
    admitted(a, '10.0.0.2', evicted, 'v');
    expect(evicted).toEqual(['x', 'z']);
    expect(a.admit('10.0.0.3')).toBe('TOO_MANY_CONNECTIONS');
    expect({ open: a.open, idle: a.idle, evicted: a.evicted, refusedProcess: a.refusedProcess }).toEqual({
      open: 3,
      idle: 0,
      evicted: 2,
      refusedProcess: 1,
    });
  });

  it('does not close a connection idle for less than EVICT_AFTER_IDLE_MS (its request may be on its way)', () => {
    const a = admission({ maxConnections: 1 });
    const evicted: string[] = [];
    const x = admitted(a, '10.0.0.1', evicted, 'x');
    a.markIdle(x, performance.now());
    expect(a.admit('10.0.0.2')).toBe('TOO_MANY_CONNECTIONS');
    expect(evicted).toEqual([]);
  });

  it('counts per address (a closed-to-make-room connection of the same address frees its place), trusted proxies not at all', () => {
    const a = admission({ maxConnections: 2, maxConnectionsPerIp: 2 }, ['10.9.0.0/16']);
    const evicted: string[] = [];
    const x = admitted(a, '10.0.0.1', evicted, 'x');
    const y = admitted(a, '10.0.0.1', evicted, 'y');
    a.markIdle(x, LONG_AGO);
    expect(a.admit('10.0.0.1')).toBe('CLIENT_CONNECTION_LIMIT');
    a.release(y);
    admitted(a, '10.0.0.1', evicted, 'z');
    expect(a.connectionsFrom('10.0.0.1')).toBe(2);
    admitted(a, '10.0.0.2', evicted, 'w'); // evicts x, which was 10.0.0.1's
    expect(evicted).toEqual(['x']);
    expect(a.connectionsFrom('10.0.0.1')).toBe(1);
    const big = admission({ maxConnections: 100, maxConnectionsPerIp: 2 }, ['10.9.0.0/16']);
    for (let i = 0; i < 5; i++) admitted(big, '::ffff:10.9.1.1', evicted, 'p');
    expect(big.open).toBe(5);
  });

  it('bounds the head memory of all connections, and gives it back when a connection goes', () => {
    const a = admission({ maxHeadMemoryBytes: 4096 });
    const evicted: string[] = [];
    const x = admitted(a, '10.0.0.1', evicted, 'x');
    const y = admitted(a, '10.0.0.1', evicted, 'y');
    expect(a.holdHead(x, 2048)).toBe(true);
    expect(a.holdHead(y, 2048)).toBe(true);
    expect(a.holdHead(y, 4096)).toBe(false);
    expect({ held: a.headMemoryBytes, refused: a.headMemoryRefused }).toEqual({ held: 4096, refused: 1 });
    a.release(x);
    expect(a.holdHead(y, 4096)).toBe(true);
    expect(a.holdHead(y, 0)).toBe(true);
    expect(a.headMemoryBytes).toBe(0);
  });
});

describe('refused connections', () => {
  it('are answered up to maxRefusing at once; past it they are closed without an answer until one has closed', () => {
    const a = admission({ maxConnections: 1, maxRefusing: 2 });
    expect([a.startRefusal(), a.startRefusal(), a.startRefusal()]).toEqual([true, true, false]);
    a.endRefusal();
    expect(a.startRefusal()).toBe(true);
    expect(a.refusing).toBe(2);
  });

  it('come out of the open files kept aside, so a flood of them cannot use up what accept and the nodes need', () => {
    // The gateway's share of 1,024 files: 768 client connections and 64 refusals, 192 files left.
    expect([connectionsWithin(1024), refusalsWithin(1024)]).toEqual([768, 64]);
    for (const files of [512, 1024, 4096, 65_536, 1_048_576]) {
      const left = files - connectionsWithin(files) - refusalsWithin(files);
      expect(left, `${files} open files`).toBeGreaterThanOrEqual(192);
    }
    expect(refusalsWithin(1_048_576)).toBe(MAX_REFUSING);
  });
});
