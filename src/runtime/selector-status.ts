import type { SelectorBudget, SelectorUse } from '../model/selector-budget.js';
import type { SelectorSandbox } from '../selector/sandbox.js';
import type { SelectorStatus } from '../selector/types.js';
import type { Snapshot } from '../snapshot/snapshot.js';

/**
 * The runtime state of an API's selector in this process: the sandbox's for a selector it runs; for
 * one the serving snapshot left out (past the selector budget), `over-budget` with why; null when
 * the API has none loaded.
 */
export function selectorStatusOf(
  snapshot: Snapshot | null,
  sandbox: SelectorSandbox,
  apiId: string,
): SelectorStatus | null {
  const api = snapshot?.apis.get(apiId);
  if (api?.selector?.state !== 'over-budget') return sandbox.status(apiId);
  return {
    state: 'over-budget',
    notStarted: api.selector.reason,
    calls: 0,
    failures: 0,
    quarantinedAt: null,
    lastErrors: [],
    memoization: { mode: api.api.selector?.memoize ?? false, active: false, reason: null },
  };
}

/** APIs named by /status when selectors are not started. */
const NAMED_APIS = 10;

/** What /status says of a process's selector budget. */
export interface SelectorBudgetView {
  budget: SelectorBudget;
  /** What the selectors it started take. */
  started: SelectorUse;
  /** How many APIs' selectors it did not start (past the budget: those APIs answer SELECTOR_OVER_BUDGET). */
  notStarted: number;
  /** The first of those APIs, by name (at most 10). */
  notStartedApis: string[];
}

/** The selector budget view of the serving snapshot; null before the first load or without a budget. */
export function selectorBudgetView(snapshot: Snapshot | null): SelectorBudgetView | null {
  const selectors = snapshot?.selectors;
  if (!selectors) return null;
  return {
    budget: { ...selectors.budget },
    started: { ...selectors.started },
    notStarted: selectors.overBudget.size,
    notStartedApis: [...selectors.overBudget.keys()]
      .slice(0, NAMED_APIS)
      .map((id) => snapshot.apis.get(id)?.api.name ?? id),
  };
}
