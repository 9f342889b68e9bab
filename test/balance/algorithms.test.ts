import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AlgorithmName } from '../../src/model/api.js';
import { algorithms, createAlgorithm, type Algorithm, type BalanceNode } from '../../src/balance/algorithms/index.js';

/** Node sets are written `{ a: 5, b: 1 }` (id → weight); `index` is the position, as in a snapshot. */
type Weights = Readonly<Record<string, number>>;

function nodesOf(weights: Weights): BalanceNode[] {
  return Object.entries(weights).map(([id, weight], index) => ({ index, id, weight }));
}

/** Candidates written as a string of one-letter ids (`'ac'`), taken from a full node list. */
function subset(all: readonly BalanceNode[], ids: string): BalanceNode[] {
  return [...ids].map((id) => {
    const node = all.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id} in the table`);
    return node;
  });
}

function pickIds(algorithm: Algorithm, nodes: readonly BalanceNode[], count: number, hashKey = ''): string {
  let out = '';
  for (let i = 0; i < count; i++) out += algorithm.pick(nodes, { hashKey }).id;
  return out;
}

function sumOf(weights: Weights): number {
  return Object.values(weights).reduce((a, b) => a + b, 0);
}

/** Longest run of the same node in a pick sequence, per node id. */
function maxRuns(sequence: readonly string[]): Map<string, number> {
  const runs = new Map<string, number>();
  let run = 0;
  for (let i = 0; i < sequence.length; i++) {
    run = i > 0 && sequence[i] === sequence[i - 1] ? run + 1 : 1;
    const id = sequence[i]!;
    runs.set(id, Math.max(runs.get(id) ?? 0, run));
  }
  return runs;
}

/** 10 000 client keys shaped like IPv4 addresses, in order (a hard case for a weak hash). */
const ipKeys = Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

describe('algorithm registry', () => {
  it('registers exactly the configurable names, each under its own name', () => {
    expect([...algorithms.keys()].sort()).toEqual([...AlgorithmName.options].sort());
    for (const [name, factory] of algorithms) expect(factory.name).toBe(name);
  });

  it.each(AlgorithmName.options)('keeps %s in the folder named after it', (name) => {
    const folder = new URL(`../../src/balance/algorithms/${name.replaceAll('_', '-')}/index.ts`, import.meta.url);
    expect(existsSync(fileURLToPath(folder))).toBe(true);
  });

  it.each(AlgorithmName.options)('creates a %s instance that picks from the candidates', (name) => {
    const nodes = nodesOf({ a: 1, b: 2, c: 3 });
    const picked = createAlgorithm(name).pick(nodes, { hashKey: '10.0.0.1' });
    expect(nodes).toContain(picked);
  });

  it.each(AlgorithmName.options)('%s rejects an empty candidate list with a RangeError', (name) => {
    expect(() => createAlgorithm(name).pick([], { hashKey: 'k' })).toThrow(RangeError);
  });

  it('refuses a name that is not registered', () => {
    expect(() => createAlgorithm('random' as AlgorithmName)).toThrow(/unknown balance algorithm: random/);
  });
});

describe('round_robin', () => {
  // Each step: the candidates the balance stage passes → the node expected. The ids are one letter.
  const cases: { name: string; weights: Weights; steps: [candidates: string, pick: string][] }[] = [
    {
      name: 'rotates through a fixed list',
      weights: { a: 1, b: 1, c: 1 },
      steps: [
        ['abc', 'a'],
        ['abc', 'b'],
        ['abc', 'c'],
        ['abc', 'a'],
        ['abc', 'b'],
        ['abc', 'c'],
        ['abc', 'a'],
      ],
    },
    {
      name: 'ignores weights',
      weights: { a: 5, b: 1 },
      steps: [
        ['ab', 'a'],
        ['ab', 'b'],
        ['ab', 'a'],
        ['ab', 'b'],
      ],
    },
    {
      name: 'continues when a node leaves and comes back',
      weights: { a: 1, b: 1, c: 1 },
      steps: [
        ['abc', 'a'],
        ['abc', 'b'],
        ['ac', 'c'],
        ['ac', 'a'],
        ['abc', 'b'],
        ['abc', 'c'],
        ['abc', 'a'],
      ],
    },
    {
      name: 'a retry without the tried node takes the next, and the rotation goes on from there',
      weights: { a: 1, b: 1, c: 1 },
      steps: [
        ['abc', 'a'],
        ['bc', 'b'],
        ['abc', 'c'],
        ['abc', 'a'],
        ['abc', 'b'],
      ],
    },
    {
      // `counter % length` would give a t a t a t a here and starve b.
      name: 'stays fair when a selector alternates between subsets',
      weights: { a: 1, b: 1, t: 1 },
      steps: [
        ['ab', 'a'],
        ['t', 't'],
        ['ab', 'b'],
        ['t', 't'],
        ['ab', 'a'],
        ['t', 't'],
        ['ab', 'b'],
      ],
    },
    {
      name: 'a node that joins is picked next, then takes its turn',
      weights: { a: 1, b: 1, c: 1 },
      steps: [
        ['ab', 'a'],
        ['ab', 'b'],
        ['abc', 'c'],
        ['abc', 'a'],
        ['abc', 'b'],
        ['abc', 'c'],
      ],
    },
    {
      name: 'follows the order of the candidates on the first round',
      weights: { a: 1, b: 1, c: 1 },
      steps: [
        ['cba', 'c'],
        ['cba', 'b'],
        ['cba', 'a'],
        ['abc', 'c'],
      ],
    },
  ];

  it.each(cases)('$name', ({ weights, steps }) => {
    const all = nodesOf(weights);
    const rr = createAlgorithm('round_robin');
    const picks = steps.map(([candidates]) => rr.pick(subset(all, candidates), { hashKey: 'ignored' }).id);
    expect(picks.join(' ')).toBe(steps.map(([, pick]) => pick).join(' '));
  });

  it('gives each node an exact share over 9 999 picks, whatever the weights', () => {
    const counts = new Map<string, number>();
    const rr = createAlgorithm('round_robin');
    const nodes = nodesOf({ a: 1, b: 7, c: 100 });
    for (let i = 0; i < 9_999; i++) {
      const id = rr.pick(nodes, { hashKey: '' }).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ a: 3_333, b: 3_333, c: 3_333 });
  });

  it('keeps one rotation per instance (per API)', () => {
    const nodes = nodesOf({ a: 1, b: 1, c: 1 });
    const first = createAlgorithm('round_robin');
    const second = createAlgorithm('round_robin');
    expect(pickIds(first, nodes, 2)).toBe('ab');
    expect(pickIds(second, nodes, 1)).toBe('a');
    expect(pickIds(first, nodes, 2)).toBe('ca');
    expect(pickIds(second, nodes, 3)).toBe('bca');
  });

  it('follows node ids, not indexes, when a new snapshot renumbers the nodes', () => {
    const rr = createAlgorithm('round_robin');
    expect(pickIds(rr, nodesOf({ a: 1, b: 1, c: 1 }), 2)).toBe('ab');
    expect(pickIds(rr, nodesOf({ c: 1, b: 1, a: 1 }), 3)).toBe('cab');
  });

  it('never lets a candidate wait more than one round when the subsets vary', () => {
    // Deterministic pseudo-random subsets of 6 nodes; a candidate must be picked within as many
    // picks (that it takes part in) as there are nodes.
    const all = nodesOf({ a: 1, b: 1, c: 1, d: 1, e: 1, f: 1 });
    const rr = createAlgorithm('round_robin');
    const waiting = new Map<string, number>(all.map((n) => [n.id, 0]));
    let seed = 12345;
    let worst = 0;
    for (let i = 0; i < 10_000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const candidates = all.filter((_, bit) => ((seed >>> 8) & (1 << bit)) !== 0);
      if (candidates.length === 0) continue;
      const picked = rr.pick(candidates, { hashKey: '' });
      for (const c of candidates) waiting.set(c.id, c === picked ? 0 : waiting.get(c.id)! + 1);
      worst = Math.max(worst, ...waiting.values());
    }
    expect(worst).toBeLessThan(all.length);
  });
});

describe('weighted (smooth weighted round robin)', () => {
  // One full cycle is Σw picks; `maxRun` is the longest run of one node over many cycles (a naive
  // weighted round robin would run the heaviest node Σw − (others) times in a row: 5 for {5,1,1}).
  const cases: { weights: Weights; cycle: string; maxRun: number }[] = [
    { weights: { a: 5, b: 1, c: 1 }, cycle: 'aabacaa', maxRun: 4 }, // nginx's documented order
    { weights: { a: 1, b: 1, c: 1 }, cycle: 'abc', maxRun: 1 },
    { weights: { a: 3, b: 2 }, cycle: 'ababa', maxRun: 2 },
    { weights: { a: 2, b: 1 }, cycle: 'aba', maxRun: 2 },
    { weights: { a: 4, b: 2, c: 1 }, cycle: 'abacaba', maxRun: 2 },
    { weights: { a: 1, b: 2, c: 3, d: 4, e: 5 }, cycle: 'edcbedaecdebcde', maxRun: 2 },
    { weights: { a: 9, b: 3, c: 3, d: 1 }, cycle: 'abacaadabcaabaca', maxRun: 2 },
    { weights: { a: 7, b: 7, c: 1 }, cycle: 'abababcabababab', maxRun: 1 },
    { weights: { a: 1 }, cycle: 'a', maxRun: 10_000 },
  ];

  it.each(cases)('$weights gives the cycle $cycle, repeated', ({ weights, cycle }) => {
    const nodes = nodesOf(weights);
    const w = createAlgorithm('weighted');
    expect(cycle).toHaveLength(sumOf(weights));
    expect(pickIds(w, nodes, cycle.length)).toBe(cycle);
    expect(pickIds(w, nodes, cycle.length * 3)).toBe(cycle.repeat(3));
  });

  it.each(cases)('$weights: over 10 000 picks every prefix is within one pick of the weights', ({ weights }) => {
    const nodes = nodesOf(weights);
    const total = sumOf(weights);
    const w = createAlgorithm('weighted');
    const counts = new Map<string, number>(nodes.map((n) => [n.id, 0]));
    let worst = 0;
    for (let i = 1; i <= 10_000; i++) {
      const id = w.pick(nodes, { hashKey: '' }).id;
      counts.set(id, counts.get(id)! + 1);
      for (const n of nodes) worst = Math.max(worst, Math.abs(counts.get(n.id)! - (i * n.weight) / total));
    }
    expect(worst).toBeLessThan(1);
    // Hence the 10 000-pick totals are the weights' shares, rounded one way or the other.
    for (const n of nodes) {
      const share = (10_000 * n.weight) / total;
      expect(counts.get(n.id)).toBeGreaterThanOrEqual(Math.floor(share));
      expect(counts.get(n.id)).toBeLessThanOrEqual(Math.ceil(share));
    }
  });

  it.each(cases)('$weights never picks one node more than $maxRun times in a row', ({ weights, maxRun }) => {
    const nodes = nodesOf(weights);
    const w = createAlgorithm('weighted');
    const sequence = Array.from({ length: 10_000 }, () => w.pick(nodes, { hashKey: '' }).id);
    expect(Math.max(...maxRuns(sequence).values())).toBe(Math.min(maxRun, 10_000));
  });

  it('on a tie picks the earlier candidate, as nginx does', () => {
    // Current weights: (1, 3) → h; (2, 2) is a tie → l; then h h.
    const w = createAlgorithm('weighted');
    expect(pickIds(w, nodesOf({ l: 1, h: 3 }), 4)).toBe('hlhh');
  });

  // Steps as for round_robin: candidates → expected pick. Worked by hand from the current weights.
  const subsetCases: { name: string; weights: Weights; steps: [candidates: string, pick: string][] }[] = [
    {
      // After a a b the current weights are (1, -4, 3); b leaves: a a c; b is back at -4, so it has
      // had its share and waits: a a a c a a a b.
      name: 'b leaves after its turn and comes back without a burst',
      weights: { a: 5, b: 1, c: 1 },
      steps: [
        ['abc', 'a'],
        ['abc', 'a'],
        ['abc', 'b'],
        ['ac', 'a'],
        ['ac', 'a'],
        ['ac', 'c'],
        ['abc', 'a'],
        ['abc', 'a'],
        ['abc', 'a'],
        ['abc', 'c'],
        ['abc', 'a'],
        ['abc', 'a'],
        ['abc', 'a'],
        ['abc', 'b'],
      ],
    },
    {
      name: 'a retry without the tried node goes to the next best',
      weights: { a: 2, b: 1, c: 1 },
      steps: [
        ['abc', 'a'],
        ['bc', 'b'],
        ['abc', 'c'],
        ['abc', 'a'],
      ],
    },
    {
      name: 'a single candidate is picked without touching the others',
      weights: { a: 1, b: 1 },
      steps: [
        ['ab', 'a'],
        ['b', 'b'],
        ['b', 'b'],
        ['ab', 'b'],
        ['ab', 'a'],
      ],
    },
  ];

  it.each(subsetCases)('$name', ({ weights, steps }) => {
    const all = nodesOf(weights);
    const w = createAlgorithm('weighted');
    const picks = steps.map(([candidates]) => w.pick(subset(all, candidates), { hashKey: '' }).id);
    expect(picks.join(' ')).toBe(steps.map(([, pick]) => pick).join(' '));
  });

  it('keeps the weights of the remaining nodes while one is out, and restores the share when it returns', () => {
    const all = nodesOf({ a: 5, b: 1, c: 1 });
    const w = createAlgorithm('weighted');
    pickIds(w, all, 3);
    const without = pickIds(w, subset(all, 'ac'), 6_000);
    expect(count(without, 'a')).toBeGreaterThanOrEqual(5_000 - 1);
    expect(count(without, 'a')).toBeLessThanOrEqual(5_000 + 1);
    expect(Math.max(...maxRuns([...without]).values())).toBeLessThanOrEqual(6);
    const back = pickIds(w, all, 7_000);
    expect(back.indexOf('b')).toBeLessThan(7);
    for (const [id, expected] of [
      ['a', 5_000],
      ['b', 1_000],
      ['c', 1_000],
    ] as const) {
      expect(Math.abs(count(back, id) - expected)).toBeLessThanOrEqual(1);
    }
  });

  it('keeps current weights per instance (per API)', () => {
    const nodes = nodesOf({ a: 5, b: 1, c: 1 });
    const first = createAlgorithm('weighted');
    const second = createAlgorithm('weighted');
    expect(pickIds(first, nodes, 3)).toBe('aab');
    expect(pickIds(second, nodes, 7)).toBe('aabacaa');
    expect(pickIds(first, nodes, 4)).toBe('acaa');
  });

  it('follows node ids, not indexes, when a new snapshot renumbers the nodes', () => {
    // Current weights after a a b are a 1, b -4, c 3, whatever the nodes' positions.
    const w = createAlgorithm('weighted');
    expect(pickIds(w, nodesOf({ a: 5, b: 1, c: 1 }), 3)).toBe('aab');
    expect(pickIds(w, nodesOf({ c: 1, b: 1, a: 5 }), 4)).toBe('acaa');
  });

  it('follows a weight change between picks (a new snapshot)', () => {
    const w = createAlgorithm('weighted');
    pickIds(w, nodesOf({ a: 1, b: 1 }), 2);
    expect(pickIds(w, nodesOf({ a: 1, b: 3 }), 8)).toBe('babbbabb');
  });
});

function count(picks: string, id: string): number {
  let n = 0;
  for (const ch of picks) if (ch === id) n++;
  return n;
}

describe.each(['round_robin', 'weighted'] as const)('%s after node id churn', (name) => {
  it('still rotates exactly once thousands of node ids have come and gone', () => {
    const algorithm = createAlgorithm(name);
    for (let i = 0; i < 10_000; i++) {
      algorithm.pick(
        [
          { index: 0, id: `gone-${i}`, weight: 1 },
          { index: 1, id: 'stay', weight: 1 },
        ],
        { hashKey: '' },
      );
    }
    expect(pickIds(algorithm, nodesOf({ a: 5, b: 1, c: 1 }), 14)).toBe(
      name === 'weighted' ? 'aabacaa'.repeat(2) : 'abc'.repeat(4) + 'ab',
    );
  });
});

describe('ip_hash (weighted rendezvous hashing)', () => {
  const ipHash = createAlgorithm('ip_hash');

  function owners(nodes: readonly BalanceNode[], keys: readonly string[] = ipKeys): string[] {
    return keys.map((hashKey) => ipHash.pick(nodes, { hashKey }).id);
  }

  // Node ids like the store's; shares must hold for ids that differ in one character only.
  const shareCases: { name: string; weights: Weights }[] = [
    { name: 'three equal nodes', weights: { 'node-1': 1, 'node-2': 1, 'node-3': 1 } },
    { name: 'two nodes 3:2', weights: { 'node-1': 3, 'node-2': 2 } },
    { name: '5:1:1', weights: { 'node-1': 5, 'node-2': 1, 'node-3': 1 } },
    { name: 'weights 1..5', weights: { n1: 1, n2: 2, n3: 3, n4: 4, n5: 5 } },
    { name: 'a heavy node among light ones', weights: { big: 100, s1: 10, s2: 10, s3: 10, s4: 10, s5: 10 } },
    {
      name: 'twenty equal nodes with uuid ids',
      weights: Object.fromEntries(
        Array.from({ length: 20 }, (_, i) => [`0b5c${i.toString(16).padStart(4, '0')}-9d1e-4c6a-8f3b-2a7d5e9c1f40`, 1]),
      ),
    },
  ];

  it.each(shareCases)('$name: 10 000 client IPs split within ±3 points of the weight shares', ({ weights }) => {
    const nodes = nodesOf(weights);
    const total = sumOf(weights);
    const counts = new Map<string, number>();
    for (const id of owners(nodes)) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const n of nodes) {
      const share = (counts.get(n.id) ?? 0) / ipKeys.length;
      expect(Math.abs(share - n.weight / total), `share of ${n.id}`).toBeLessThanOrEqual(0.03);
    }
  });

  it('sends the same key to the same node on every call, from any instance and in any candidate order', () => {
    const nodes = nodesOf({ a: 1, b: 2, c: 3, d: 4 });
    const reversed = [...nodes].reverse();
    const other = createAlgorithm('ip_hash');
    for (const hashKey of ipKeys.slice(0, 50)) {
      const first = ipHash.pick(nodes, { hashKey });
      for (let i = 0; i < 1_000; i++) {
        expect(ipHash.pick(nodes, { hashKey })).toBe(first);
      }
      expect(other.pick(nodes, { hashKey })).toBe(first);
      expect(reversed.indexOf(ipHash.pick(reversed, { hashKey }))).toBe(reversed.indexOf(first));
    }
  });

  it('breaks a tie (ids with the same 32-bit FNV-1a hash) by id, whatever the candidate order', () => {
    for (const [x, y] of [
      ['costarring', 'liquid'],
      ['altarage', 'zinke'],
    ] as const) {
      const forward = nodesOf({ [x]: 1, [y]: 1, other: 1 });
      const backward = [...forward].reverse();
      const picks = new Set<string>();
      for (const hashKey of ipKeys.slice(0, 300)) {
        const id = ipHash.pick(forward, { hashKey }).id;
        expect(ipHash.pick(backward, { hashKey }).id).toBe(id);
        picks.add(id);
      }
      // The colliding pair always ties, so the larger id is never picked.
      expect([...picks].sort()).toEqual([x, 'other']);
    }
  });

  it('spreads different keys (not all on one node)', () => {
    const picked = new Set(owners(nodesOf({ a: 1, b: 1, c: 1 }), ipKeys.slice(0, 30)));
    expect(picked.size).toBe(3);
  });

  it('returns the only node for any key', () => {
    const nodes = nodesOf({ only: 7 });
    expect(new Set(owners(nodes, ipKeys.slice(0, 100)))).toEqual(new Set(['only']));
  });

  it('depends on the node id, not its position or index', () => {
    const nodes = nodesOf({ a: 1, b: 1, c: 1 });
    const renumbered = nodes.map((n, i) => ({ ...n, index: 10 + ((i + 1) % 3) }));
    expect(owners(renumbered, ipKeys.slice(0, 500))).toEqual(owners(nodes, ipKeys.slice(0, 500)));
  });

  const remapCases: { name: string; weights: Weights }[] = [
    { name: 'five equal nodes', weights: { a: 1, b: 1, c: 1, d: 1, e: 1 } },
    { name: 'five weighted nodes', weights: { a: 1, b: 2, c: 3, d: 4, e: 5 } },
    // Removing b leaves equal weights, where the scores are compared without the logarithm.
    { name: 'one heavier node', weights: { a: 1, b: 2, c: 1, d: 1, e: 1 } },
  ];

  describe.each(remapCases)('minimal remap, $name', ({ weights }) => {
    const all = nodesOf(weights);
    const before = owners(all);

    it.each(all.map((n) => n.id))('removing %s moves only the keys it held, in weight proportion', (removed) => {
      const after = owners(all.filter((n) => n.id !== removed));
      const movedTo = new Map<string, number>();
      let otherChanges = 0;
      for (let k = 0; k < ipKeys.length; k++) {
        if (before[k] === removed) movedTo.set(after[k]!, (movedTo.get(after[k]!) ?? 0) + 1);
        else if (after[k] !== before[k]) otherChanges++;
      }
      expect(otherChanges).toBe(0);
      const moved = [...movedTo.values()].reduce((a, b) => a + b, 0);
      expect(moved).toBe(before.filter((o) => o === removed).length);
      // The removed node's keys spread over the others by weight (±5 points of that smaller sample).
      const rest = sumOf(weights) - weights[removed]!;
      for (const n of all) {
        if (n.id === removed) continue;
        expect(Math.abs((movedTo.get(n.id) ?? 0) / moved - n.weight / rest), `share of ${n.id}`).toBeLessThanOrEqual(
          0.05,
        );
      }
    });

    it.each([1, 3])('adding a node of weight %i moves about its share of keys, all onto it', (weight) => {
      const after = owners([...all, { index: all.length, id: 'new', weight }]);
      let moved = 0;
      for (let k = 0; k < ipKeys.length; k++) {
        if (after[k] === before[k]) continue;
        moved++;
        expect(after[k]).toBe('new');
      }
      const expected = weight / (sumOf(weights) + weight);
      expect(Math.abs(moved / ipKeys.length - expected)).toBeLessThanOrEqual(0.03);
    });
  });
});

describe('least_conn', () => {
  // Each step: candidates, in-flight counts (id → requests) → the node expected.
  const cases: {
    name: string;
    weights: Weights;
    steps: [candidates: string, inFlight: Record<string, number>, pick: string][];
  }[] = [
    {
      name: 'fewest in flight wins',
      weights: { a: 1, b: 1, c: 1 },
      steps: [
        ['abc', { a: 3, b: 1, c: 2 }, 'b'],
        ['abc', { a: 0, b: 1, c: 2 }, 'a'],
      ],
    },
    {
      name: 'in flight ÷ weight: 4 on weight 4 beats 2 on weight 1',
      weights: { a: 4, b: 1 },
      steps: [
        ['ab', { a: 4, b: 2 }, 'a'],
        ['ab', { a: 9, b: 2 }, 'b'],
      ],
    },
    {
      name: 'ties rotate: the tied node picked longest ago goes next',
      weights: { a: 1, b: 1, c: 1 },
      steps: [
        ['abc', {}, 'a'],
        ['abc', {}, 'b'],
        ['abc', {}, 'c'],
        ['abc', {}, 'a'],
        ['abc', { a: 1 }, 'b'],
        ['abc', { a: 1 }, 'c'],
      ],
    },
    {
      name: 'only the candidates count (a busy node that left the list is not picked)',
      weights: { a: 1, b: 1, c: 1 },
      steps: [
        ['bc', { a: 0, b: 5, c: 7 }, 'b'],
        ['c', { c: 100 }, 'c'],
      ],
    },
    {
      name: 'zero in flight on every node, weights do not break the tie order',
      weights: { a: 5, b: 1 },
      steps: [
        ['ab', {}, 'a'],
        ['ab', {}, 'b'],
      ],
    },
  ];

  it.each(cases)('$name', ({ weights, steps }) => {
    const algorithm = createAlgorithm('least_conn');
    const all = nodesOf(weights);
    for (const [candidates, inFlight, want] of steps) {
      const picked = algorithm.pick(subset(all, candidates), { hashKey: '', inFlight: (n) => inFlight[n.id] ?? 0 });
      expect(picked.id, `${candidates} ${JSON.stringify(inFlight)}`).toBe(want);
    }
  });

  it('spreads requests that each stay in flight in proportion to the weights', () => {
    const algorithm = createAlgorithm('least_conn');
    const all = nodesOf({ a: 3, b: 1 });
    const inFlight: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 400; i++)
      inFlight[algorithm.pick(all, { hashKey: '', inFlight: (n) => inFlight[n.id]! }).id]!++;
    expect(inFlight).toEqual({ a: 300, b: 100 });
  });
});

describe('hash', () => {
  it('is the same weighted rendezvous hashing as ip_hash, on whatever key the balance stage passes', () => {
    const hash = createAlgorithm('hash');
    const ipHash = createAlgorithm('ip_hash');
    const nodes = nodesOf({ 'node-1': 1, 'node-2': 2, 'node-3': 1 });
    const keys = ['user-1', 'user-2', 'session=abc', ...ipKeys.slice(0, 500)];
    expect(keys.map((hashKey) => hash.pick(nodes, { hashKey }).id)).toEqual(
      keys.map((hashKey) => ipHash.pick(nodes, { hashKey }).id),
    );
  });

  it('keeps a key on its node when another node leaves', () => {
    const hash = createAlgorithm('hash');
    const all = nodesOf({ 'node-1': 1, 'node-2': 1, 'node-3': 1 });
    const keys = Array.from({ length: 3000 }, (_, i) => `user-${i}`);
    const before = keys.map((hashKey) => hash.pick(all, { hashKey }).id);
    const after = keys.map(
      (hashKey) =>
        hash.pick(
          all.filter((n) => n.id !== 'node-2'),
          { hashKey },
        ).id,
    );
    for (let i = 0; i < keys.length; i++) if (before[i] !== 'node-2') expect(after[i]).toBe(before[i]);
  });
});
