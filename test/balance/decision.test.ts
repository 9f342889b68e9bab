import { describe, expect, it } from 'vitest';
import { createAlgorithm } from '../../src/balance/algorithms/index.js';
import { afterSelector, filterNodes, hashKeyOf, nextPick, nodesAt } from '../../src/balance/decision.js';

// The balance decision as data: node sets and outcomes → what was decided and why.

const node = (index: number) => ({ index, id: `n${index}`, weight: 1 });
const [a, b, c] = [node(0), node(1), node(2)];

describe('filterNodes', () => {
  it.each([
    [
      'no enabled node',
      { enabled: [], eligible: [] },
      [],
      'use-all',
      { ok: false, code: 'NO_ENABLED_NODE', step: 'enabled' },
    ],
    [
      'rules exclude all',
      { enabled: [a], eligible: [] },
      [],
      'use-all',
      { ok: false, code: 'RULES_EXCLUDED_ALL', step: 'rules' },
    ],
    [
      'all healthy',
      { enabled: [a, b], eligible: [a, b] },
      [a, b],
      'use-all',
      { ok: true, nodes: [a, b], panic: false },
    ],
    ['some healthy', { enabled: [a, b], eligible: [a, b] }, [b], 'reject', { ok: true, nodes: [b], panic: false }],
    [
      'none healthy, panic use-all',
      { enabled: [a, b], eligible: [a, b] },
      [],
      'use-all',
      { ok: true, nodes: [a, b], panic: true },
    ],
    [
      'none healthy, panic reject',
      { enabled: [a, b], eligible: [a, b] },
      [],
      'reject',
      { ok: false, code: 'NO_HEALTHY_NODE', step: 'health' },
    ],
  ] as const)('%s', (_name, api, healthy, panic, expected) => {
    expect(filterNodes(api, healthy, panic)).toEqual(expected);
  });
});

describe('afterSelector', () => {
  it.each([
    ['no selector', { kind: 'none' }, 'use-all', { ok: true, candidates: [a, b], fallback: null }],
    ['picks', { kind: 'picked', nodes: [b] }, 'reject', { ok: true, candidates: [b], fallback: null }],
    ['empty picks', { kind: 'picked', nodes: [] }, 'use-all', { ok: false, code: 'SELECTOR_EMPTY', fallback: null }],
    ['failure, use-all', { kind: 'failed' }, 'use-all', { ok: true, candidates: [a, b], fallback: 'use-all' }],
    ['failure, reject', { kind: 'failed' }, 'reject', { ok: false, code: 'SELECTOR_FAILED', fallback: 'reject' }],
  ] as const)('%s', (_name, run, onError, expected) => {
    expect(afterSelector(run, [a, b], onError)).toEqual(expected);
  });
});

describe('nextPick', () => {
  it('picks among the candidates not tried yet, then null', () => {
    const rr = createAlgorithm('round_robin');
    const tried: number[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const picked = nextPick(rr, [a, b, c], tried, { hashKey: 'k' })!;
      expect(tried).not.toContain(picked.index);
      tried.push(picked.index);
      seen.add(picked.id);
    }
    expect(seen.size).toBe(3);
    expect(nextPick(rr, [a, b, c], tried, { hashKey: 'k' })).toBeNull();
  });

  it('maps picks by catalog index', () => {
    expect(nodesAt([a, b, c], [2, 0])).toEqual([c, a]);
  });
});

describe('hashKeyOf', () => {
  it('reads a header, a query parameter or a cookie, else the client IP', () => {
    const headers = { 'x-user': 'u1', cookie: 'a=1; sid="s9"' };
    expect(hashKeyOf({ source: 'header', name: 'x-user' }, headers, () => undefined, '1.2.3.4')).toBe('u1');
    expect(hashKeyOf({ source: 'query', name: 'q' }, headers, (n) => (n === 'q' ? 'v' : undefined), '1.2.3.4')).toBe(
      'v',
    );
    expect(hashKeyOf({ source: 'cookie', name: 'sid' }, headers, () => undefined, '1.2.3.4')).toBe('s9');
    expect(hashKeyOf({ source: 'header', name: 'x-none' }, headers, () => undefined, '1.2.3.4')).toBe('1.2.3.4');
  });
});
