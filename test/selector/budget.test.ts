import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envOf, Options, parseOptions, usage } from '../../src/config/options.js';
import { machineMemoryMb, selectorBudgetOf } from '../../src/config/selector-budget.js';
import type { Api } from '../../src/model/api.js';
import { admitSelectors, budgetRefusal, selectorUse, useDelta } from '../../src/model/selector-budget.js';

// The selector budget's rules (src/model/selector-budget.ts) and its options: which selectors a
// process starts, which writes are refused, and the default derived from the machine.

/** An API as the budget sees it: its id, creation time and selector's memoryMb (null: no selector). */
function api(id: string, createdAt: string, memoryMb: number | null): Api {
  return {
    id,
    createdAt,
    selector: memoryMb === null ? null : { code: 'x', onError: 'use-all', timeoutMs: 20, memoryMb, memoize: 'auto' },
  } as unknown as Api;
}

describe('admitSelectors', () => {
  it('starts the selectors of the oldest APIs first and leaves out those past the number of programs', () => {
    const apis = [
      api('d', '2024-01-04', 8),
      api('a', '2024-01-01', 32),
      api('plain', '2024-01-00', null),
      api('c', '2024-01-03', 8),
      api('b', '2024-01-02', 32),
    ];
    const admission = admitSelectors(apis, { programs: 3, memoryMb: 1000 });
    expect(admission.started).toEqual({ programs: 3, memoryMb: 72 });
    expect([...admission.overBudget.keys()]).toEqual(['d']);
    expect(admission.overBudget.get('d')).toMatch(/at most 3 selectors \(--selector-max-programs\)/);
  });

  it('skips a selector whose memoryMb does not fit and starts newer ones that still do', () => {
    const apis = [api('a', '2024-01-01', 64), api('b', '2024-01-02', 64), api('c', '2024-01-03', 32)];
    const admission = admitSelectors(apis, { programs: 10, memoryMb: 100 });
    expect(admission.started).toEqual({ programs: 2, memoryMb: 96 });
    expect([...admission.overBudget.keys()]).toEqual(['b']);
    expect(admission.overBudget.get('b')).toMatch(
      /memoryMb \(64 MB\).*100 MB for selectors \(--selector-memory-mb\).*\(36 MB\)/,
    );
  });

  it('leaves nothing out on a derived memory bound (a machine of another size stored them), only past the programs', () => {
    const apis = [api('a', '2024-01-01', 64), api('b', '2024-01-02', 64), api('c', '2024-01-03', 32)];
    const derived = admitSelectors(apis, { programs: 10, memoryMb: 100, memoryDerived: true });
    expect(derived.started).toEqual({ programs: 3, memoryMb: 160 });
    expect(derived.overBudget.size).toBe(0);
    const fewer = admitSelectors(apis, { programs: 2, memoryMb: 100, memoryDerived: true });
    expect([...fewer.overBudget.keys()]).toEqual(['c']);
  });

  it('orders APIs made in the same instant by id, so every process decides the same', () => {
    const apis = [api('z', '2024-01-01', 32), api('m', '2024-01-01', 32)];
    expect([...admitSelectors(apis, { programs: 1, memoryMb: 1000 }).overBudget.keys()]).toEqual(['z']);
    expect([...admitSelectors([...apis].reverse(), { programs: 1, memoryMb: 1000 }).overBudget.keys()]).toEqual(['z']);
  });
});

describe('budgetRefusal', () => {
  const budget = { programs: 3, memoryMb: 100 };

  it('refuses a write that adds to a use past the budget, with both bounds named', () => {
    expect(budgetRefusal({ programs: 1, memoryMb: 32 }, { programs: 4, memoryMb: 128 }, budget)).toMatch(
      /4 selectors with 128 MB .* 3 selectors \(--selector-max-programs\) and 100 MB .*nothing was saved/,
    );
    expect(budgetRefusal({ programs: 0, memoryMb: 8 }, { programs: 3, memoryMb: 104 }, budget)).not.toBeNull();
  });

  it('lets through a write that adds nothing past the budget, or stays within it', () => {
    // A config already past the budget (saved under a larger one) can be edited and brought back.
    expect(budgetRefusal({ programs: 0, memoryMb: 0 }, { programs: 5, memoryMb: 500 }, budget)).toBeNull();
    expect(budgetRefusal({ programs: -1, memoryMb: 8 }, { programs: 4, memoryMb: 96 }, budget)).toBeNull();
    expect(budgetRefusal({ programs: 1, memoryMb: 32 }, { programs: 3, memoryMb: 100 }, budget)).toBeNull();
  });

  it('counts a write by the APIs it changes', () => {
    const created = { before: null, after: api('a', '', 32) };
    const raised = { before: api('b', '', 32), after: api('b', '', 64) };
    const cleared = { before: api('c', '', 16), after: api('c', '', null) };
    const deleted = { before: api('d', '', 8), after: null };
    expect(useDelta([created, raised, cleared, deleted])).toEqual({ programs: -1, memoryMb: 40 });
    expect(selectorUse([api('a', '', 32), api('b', '', null), api('c', '', 8)])).toEqual({ programs: 2, memoryMb: 40 });
  });
});

describe('the selector budget options', () => {
  it('derives the memory from half the machine over the gateway processes unless it is given', () => {
    const options = { selectorMaxPrograms: 256, selectorMemoryMb: 0 };
    const derived = { programs: 256, memoryDerived: true };
    expect(selectorBudgetOf({ ...options, workers: 2 }, 24_000)).toEqual({ ...derived, memoryMb: 6000 });
    expect(selectorBudgetOf({ ...options, workers: 0 }, 24_000)).toEqual({ ...derived, memoryMb: 12_000 });
    expect(selectorBudgetOf({ ...options, workers: 64 }, 1000)).toEqual({ ...derived, memoryMb: 32 });
    expect(selectorBudgetOf({ selectorMaxPrograms: 3, selectorMemoryMb: 96, workers: 2 }, 24_000)).toEqual({
      programs: 3,
      memoryMb: 96,
    });
    expect(machineMemoryMb()).toBeGreaterThan(0);
  });

  it.each([
    ['--selector-max-programs', 'selectorMaxPrograms', 256],
    ['--selector-memory-mb', 'selectorMemoryMb', 0],
  ] as const)('%s: its default, its environment variable, --help and docs/operations.md', (flag, key, value) => {
    expect(Options.parse({})[key]).toBe(value);
    expect(parseOptions([flag, '77'], {})[key]).toBe(77);
    expect(parseOptions([], { [envOf(flag)]: '77' })[key]).toBe(77);
    expect(usage()).toContain(flag);
    const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    expect(doc).toMatch(new RegExp(`\\| \`${flag}\`[^|]*\\| \`${value}\``));
  });

  it('refuses a budget of no selectors and a negative memory', () => {
    expect(() => parseOptions(['--selector-max-programs', '0'], {})).toThrow(/--selector-max-programs/);
    expect(() => parseOptions(['--selector-memory-mb', '-1'], {})).toThrow(/--selector-memory-mb/);
  });
});
