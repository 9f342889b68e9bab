import type { Api } from './api.js';

/**
 * How much selector work one gateway process takes on: how many selector programs it runs (one per
 * API with a selector) and the sum of their `memoryMb` limits (each program's heap may grow to its
 * limit, so the sum bounds what the programs can hold). Every gateway process runs every API's
 * selector, so the whole config must fit one process's budget.
 */
export interface SelectorBudget {
  /** Most selector programs (`--selector-max-programs`). */
  readonly programs: number;
  /** Most memory their limits add up to, in MB (`--selector-memory-mb`). */
  readonly memoryMb: number;
  /**
   * `memoryMb` was derived from the machine's memory (no `--selector-memory-mb`): it refuses saves
   * past it, but a stored config past it still starts every selector the programs bound admits.
   * Machines of different sizes derive different figures, so a derived bound is not a reason to
   * leave out a selector that another process stored. Unset: the bound was given, and holds.
   */
  readonly memoryDerived?: boolean;
}

/** What some selectors take of a budget. */
export interface SelectorUse {
  programs: number;
  memoryMb: number;
}

/** The budget's use by these APIs' selectors: one program per API with a selector, with its `memoryMb`. */
export function selectorUse(apis: Iterable<Pick<Api, 'selector'>>): SelectorUse {
  const use = { programs: 0, memoryMb: 0 };
  for (const api of apis) {
    if (api.selector === null) continue;
    use.programs++;
    use.memoryMb += api.selector.memoryMb;
  }
  return use;
}

/** The budget in words, naming its flags. */
export function budgetText(budget: SelectorBudget): string {
  return `${budget.programs} ${budget.programs === 1 ? 'selector' : 'selectors'} (--selector-max-programs) and ${budget.memoryMb} MB of their memoryMb (--selector-memory-mb)`;
}

/** Which selectors of a config one process starts, and why each other one is not started. */
export interface SelectorAdmission {
  /** What the started selectors take. */
  readonly started: SelectorUse;
  /** APIs whose selector is not started, by id, with why. */
  readonly overBudget: ReadonlyMap<string, string>;
}

/**
 * The selectors a gateway process starts within `budget`: the APIs' selectors in the order the APIs
 * were created (then by id), each that still fits, so an API that served keeps its selector when a
 * newer one is added; one that does not fit is skipped, and newer ones that still fit are started.
 * Every process with the same budget decides the same for the same config. A derived memory bound
 * (`memoryDerived`) leaves nothing out: only the programs bound does then.
 */
export function admitSelectors(apis: readonly Api[], budget: SelectorBudget): SelectorAdmission {
  const ordered = apis
    .filter((api) => api.selector !== null)
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  const started = { programs: 0, memoryMb: 0 };
  const overBudget = new Map<string, string>();
  for (const api of ordered) {
    const memoryMb = api.selector!.memoryMb;
    const memoryFits = budget.memoryDerived === true || started.memoryMb + memoryMb <= budget.memoryMb;
    if (started.programs + 1 <= budget.programs && memoryFits) {
      started.programs++;
      started.memoryMb += memoryMb;
      continue;
    }
    overBudget.set(
      api.id,
      started.programs + 1 > budget.programs
        ? `not started: this gateway process runs at most ${budget.programs} ${budget.programs === 1 ? 'selector' : 'selectors'} (--selector-max-programs), all taken by APIs created before this one`
        : `not started: its memoryMb (${memoryMb} MB) does not fit in what is left of this gateway process's ${budget.memoryMb} MB for selectors (--selector-memory-mb) after the APIs created before this one (${budget.memoryMb - started.memoryMb} MB)`,
    );
  }
  return { started, overBudget };
}

/** An API as a write's change holds it (`before` or `after`), or null. */
type ApiSide = Pick<Api, 'selector'> | null;

/**
 * How a write's API changes move the selectors' use (positive: it adds programs or memory). `sides`
 * are each changed API's before and after (null: created or deleted).
 */
export function useDelta(sides: Iterable<{ before: ApiSide; after: ApiSide }>): SelectorUse {
  const delta = { programs: 0, memoryMb: 0 };
  for (const { before, after } of sides) {
    const add = selectorUse(after === null ? [] : [after]);
    const remove = selectorUse(before === null ? [] : [before]);
    delta.programs += add.programs - remove.programs;
    delta.memoryMb += add.memoryMb - remove.memoryMb;
  }
  return delta;
}

/**
 * Why a write may not commit, or null: it adds to a use (programs, or memory) that is then past the
 * budget. A write that adds nothing to a use is never refused for it, so a config over the budget
 * (saved under a larger one) can always be brought back within it.
 */
export function budgetRefusal(delta: SelectorUse, total: SelectorUse, budget: SelectorBudget): string | null {
  const programs = delta.programs > 0 && total.programs > budget.programs;
  const memory = delta.memoryMb > 0 && total.memoryMb > budget.memoryMb;
  if (!programs && !memory) return null;
  return `this would store ${total.programs} ${total.programs === 1 ? 'selector' : 'selectors'} with ${total.memoryMb} MB of memoryMb in all, past what each gateway process runs: ${budgetText(budget)}; nothing was saved (delete a selector, or lower a memoryMb, first)`;
}
