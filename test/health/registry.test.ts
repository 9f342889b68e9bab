import { describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { HealthRegistry } from '../../src/health/registry.js';
import { ActiveCheck, PassiveCheck } from '../../src/model/health.js';

const passive = PassiveCheck.parse({ consecutiveFailures: 2, baseEjectionMs: 1_000, maxEjectionMs: 2_500 });
const active = ActiveCheck.parse({ healthyThreshold: 2, unhealthyThreshold: 3 });
const probe = (ok: boolean, at: number) => ({
  at: new Date(at).toISOString(),
  ok,
  status: ok ? 200 : 500,
  error: null,
  ms: 1,
});

/** Fails the node until it is ejected at `now`; returns how long the ejection lasts. */
function eject(entry: ReturnType<HealthRegistry['entry']>, now: number): number {
  entry.failed('connect', 'ECONNREFUSED', passive, now);
  entry.failed('connect', 'ECONNREFUSED', passive, now);
  expect(entry.state(now)).toBe('ejected');
  return entry.ejectedUntil - now;
}

describe('node health', () => {
  it('keeps its deadlines on a steady clock: the wall clock set back an hour does not hold an ejected node out', async () => {
    // Fixed (was): ejections ended at a Date.now() time, so an NTP step or `date -s` an hour back kept
    // every ejected node out of rotation an hour longer (and one forward ended them at once).
    const registry = new HealthRegistry();
    const entry = registry.entry('n', 'http://x');
    const short = PassiveCheck.parse({ consecutiveFailures: 1, baseEjectionMs: 100, maxEjectionMs: 100 });
    entry.failed('connect', 'ECONNREFUSED', short);
    expect(registry.available([{ health: entry }])).toEqual([]);
    const wall = Date.now();
    const stepped = vi.spyOn(Date, 'now').mockImplementation(() => wall - 3_600_000);
    try {
      await new Promise((r) => setTimeout(r, 150));
      expect(entry.state()).toBe('healthy');
      expect(registry.available([{ health: entry }])).toHaveLength(1);
    } finally {
      stepped.mockRestore();
    }
  });

  it('ejects after consecutive failures only; a success in between resets the streak', () => {
    const entry = new HealthRegistry().entry('n', 'http://x');
    entry.failed('status', 'HTTP 500', passive, 0);
    entry.passed();
    entry.failed('status', 'HTTP 500', passive, 0);
    expect(entry.state(0)).toBe('healthy');
    entry.failed('status', 'HTTP 500', passive, 0);
    expect(entry.state(0)).toBe('ejected');
    expect(entry.view(0).reason).toBe('2 failed requests in a row (last: status HTTP 500)');
  });

  it('backs off base × ejections, capped at maxEjectionMs, and the multiplier decays while the node stays in', () => {
    const entry = new HealthRegistry().entry('n', 'http://x');
    let now = 0;
    const lengths: number[] = [];
    for (let i = 0; i < 4; i++) {
      const ms = eject(entry, now);
      lengths.push(ms);
      now += ms;
      expect(entry.state(now)).toBe('healthy'); // back when the ejection ends (no active checks)
    }
    expect(lengths).toEqual([1_000, 2_000, 2_500, 2_500]);
    // Two base periods without an ejection take two steps off the multiplier (4 → 2): the next is the 3rd in a row (3 × base, capped).
    now += 2_000;
    expect(eject(entry, now)).toBe(2_500);
    expect(entry.view(now).ejections).toBe(3);
  });

  it('probes: unhealthy after unhealthyThreshold failures, healthy after healthyThreshold passes; a passing probe ends an ejection', () => {
    const entry = new HealthRegistry().entry('n', 'http://x');
    entry.probed(probe(false, 0), active, 0);
    entry.probed(probe(false, 1), active, 1);
    expect(entry.state(1)).toBe('healthy');
    entry.probed(probe(false, 2), active, 2);
    expect(entry.state(2)).toBe('unhealthy');
    entry.probed(probe(true, 3), active, 3);
    expect(entry.state(3)).toBe('unhealthy');
    entry.probed(probe(true, 4), active, 4);
    expect(entry.state(4)).toBe('healthy');
    eject(entry, 10);
    entry.probed(probe(true, 20), active, 20);
    expect(entry.state(20)).toBe('healthy');
    expect(entry.view(20).reason).toBe('a probe passed during the ejection');
  });

  it('the registry filters lists only while something is down, and keeps entries only for nodes still configured', () => {
    const registry = new HealthRegistry();
    const nodes = ['a', 'b', 'c'].map((id) => ({ id, health: registry.entry(id, `http://${id}`) }));
    expect(registry.available(nodes)).toBe(nodes); // untouched, no copy
    eject(nodes[1]!.health, Date.now());
    expect(registry.available(nodes).map((n) => n.id)).toEqual(['a', 'c']);
    expect(registry.available(nodes)).toBe(registry.available(nodes)); // cached until health moves
    expect(registry.entry('b', 'http://b')).toBe(nodes[1]!.health); // same target: same entry
    registry.retain(new Set(['a', 'c']));
    expect(registry.get('b')).toBeUndefined();
    expect(registry.available(nodes)).toBe(nodes); // the forgotten node no longer counts as down
    expect(registry.entry('a', 'http://elsewhere')).not.toBe(nodes[0]!.health);
  });
});

describe('state moves in the log', () => {
  it('a flapping node logs a burst of moves, then one per refill period carrying how many were left out', () => {
    const lines: Array<{ msg: string; movesNotLogged?: number }> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    let now = 0;
    const registry = new HealthRegistry(log, () => now);
    const entry = registry.entry('n', 'http://x');
    // 100 flaps (in and out on every probe), one per second of the clock.
    for (let i = 0; i < 100; i++) {
      now += 1_000;
      entry.probed(probe(false, now), ActiveCheck.parse({ healthyThreshold: 1, unhealthyThreshold: 1 }), now);
      now += 1_000;
      entry.probed(probe(true, now), ActiveCheck.parse({ healthyThreshold: 1, unhealthyThreshold: 1 }), now);
    }
    // 200 moves in 200 s: the burst of 6, then one per 10 s.
    expect(lines.length).toBeGreaterThanOrEqual(6 + 19);
    expect(lines.length).toBeLessThanOrEqual(6 + 21);
    expect(lines.slice(0, 6).every((l) => l.movesNotLogged === undefined)).toBe(true);
    const later = lines.slice(6);
    expect(later.every((l) => (l.movesNotLogged ?? 0) > 0)).toBe(true);
    // Every move is either a line or counted on a later one.
    const counted = lines.length + later.reduce((n, l) => n + (l.movesNotLogged ?? 0), 0);
    expect(counted).toBeLessThanOrEqual(200);
    expect(counted).toBeGreaterThan(200 - 10);
    // Quiet for a while, the node logs its next moves at once again.
    now += 120_000;
    const before = lines.length;
    entry.probed(probe(false, now), ActiveCheck.parse({ healthyThreshold: 1, unhealthyThreshold: 1 }), now);
    expect(lines.length).toBe(before + 1);
    expect(lines.at(-1)!.msg).toBe('node out of rotation');
  });
});
