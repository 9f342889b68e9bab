import type { Logger } from 'pino';
import type { SelectorBudget } from '../model/selector-budget.js';
import type { Store } from '../store/store.js';
import type { AdminRuntime } from './runtime.js';

/** What the admin API is built from. */
export interface AdminDeps {
  store: Store;
  /** The bearer token every `/admin/*` request must present. */
  token: string;
  runtime: AdminRuntime;
  logger: Logger;
  /** The built web console served at `/` (default `web/dist` under the package root). */
  consoleDir?: string;
  /** Where `GET /admin/selector-templates` reads its `*.js` files (default `scripts-examples/`). */
  templatesDir?: string;
  /**
   * The selector budget of the gateway processes (src/model/selector-budget.ts): a write that adds
   * selectors past it is refused with SELECTOR_BUDGET_EXCEEDED. Absent: not checked.
   */
  selectorBudget?: SelectorBudget;
}
