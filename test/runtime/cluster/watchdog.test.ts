import { describe, expect, it } from 'vitest';
import { Watchdog } from '../../../src/runtime/cluster/watchdog.js';

/** A watchdog on a hand-driven clock: 1 s interval, unresponsive after 5 s, killed after 20 s. */
function setup() {
  let now = 0;
  const events: string[] = [];
  const dog = new Watchdog<string>({
    ping: (m) => events.push(`ping ${m}`),
    onUnresponsive: (m, silent) => events.push(`unresponsive ${m} ${silent}`),
    onResponsive: (m) => events.push(`responsive ${m}`),
    onKill: (m, silent) => events.push(`kill ${m} ${silent}`),
    intervalMs: 1_000,
    unresponsiveAfterMs: 5_000,
    killAfterMs: 20_000,
    now: () => now,
  });
  /** Advances the clock by `seconds` whole intervals, ticking once per interval. */
  const run = (seconds: number, answer: (second: number) => boolean = () => false) => {
    for (let i = 0; i < seconds; i++) {
      now += 1_000;
      dog.tick();
      if (answer(i)) dog.seen('w');
    }
  };
  return { dog, events, run, advance: (ms: number) => (now += ms) };
}

describe('Watchdog', () => {
  it('pings a member that answers every interval and never judges it', () => {
    const { dog, events, run } = setup();
    dog.track('w');
    run(60, () => true);
    expect(events.filter((e) => !e.startsWith('ping'))).toEqual([]);
    expect(events).toHaveLength(60);
  });

  it('a silent member is unresponsive after 5 s, killed after 20 s, once each, and no longer pinged', () => {
    const { dog, events, run } = setup();
    dog.track('w');
    run(30);
    expect(events.filter((e) => !e.startsWith('ping'))).toEqual(['unresponsive w 5000', 'kill w 20000']);
    expect(events.filter((e) => e.startsWith('ping'))).toHaveLength(19);
    expect(dog.isUnresponsive('w')).toBe(true);
  });

  it('a busy member that answers again within the kill bound is ready again and not killed', () => {
    const { dog, events, run } = setup();
    dog.track('w');
    // Silent for 12 s (a long synchronous config load), then answering again.
    run(40, (s) => s >= 12);
    expect(events.filter((e) => !e.startsWith('ping'))).toEqual(['unresponsive w 5000', 'responsive w']);
    expect(dog.isUnresponsive('w')).toBe(false);
  });

  it("a late tick (the primary itself was blocked) does not count the primary's pause against members", () => {
    const { dog, events, run, advance } = setup();
    dog.track('w');
    run(2, () => true);
    advance(30_000);
    dog.tick();
    expect(events.filter((e) => !e.startsWith('ping'))).toEqual([]);
    expect(dog.isUnresponsive('w')).toBe(false);
  });

  it('a forgotten member is neither pinged nor judged', () => {
    const { dog, events, run } = setup();
    dog.track('w');
    dog.forget('w');
    run(30);
    expect(events).toEqual([]);
  });
});
