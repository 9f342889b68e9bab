import { AsyncLocalStorage } from 'node:async_hooks';
import type { SelectorBudget } from '../model/selector-budget.js';
import { SYSTEM_ACTOR, type Actor } from '../model/token.js';
import type { Change } from './changes.js';

/** An `Idempotency-Key` a request claims: recorded with the first write it makes, in the same transaction. */
export interface IdempotencyClaim {
  readonly key: string;
  /** Hash of the request (method, path, body): the same key with another request is refused. */
  readonly fingerprint: string;
  /** The status a replay answers with (the route's success status). */
  readonly status: number;
  /** Set once a write recorded it, so a second write of the same request does not claim it again. */
  recorded: boolean;
}

/**
 * Who is writing and how, for every store write made inside it. The admin API opens one per request
 * (after authentication), the command line one per command; writes outside any scope are the
 * system's (the demo seed). The store's write helper reads it, so a new write method gets the audit
 * row, If-Match, dry run and Idempotency-Key handling without passing anything down.
 */
export interface WriteScope {
  readonly actor: Actor;
  /** `If-Match`: the entity tags the write's first object must have now; '*' only needs it to exist. */
  readonly ifMatch?: readonly string[] | '*';
  /** Run the write up to its commit, then roll it back (the store throws DryRunResult). */
  readonly dryRun?: boolean;
  readonly idempotency?: IdempotencyClaim;
  /**
   * Sees the changes a write is about to commit, inside its transaction; a throw rolls it back
   * (`config apply` refuses changes other than the ones it showed).
   */
  readonly confirm?: (changes: readonly Change[]) => void;
  /**
   * The selector budget of the gateway processes this writer serves (`--selector-max-programs`,
   * `--selector-memory-mb`): a write that adds selectors or memory past it is refused inside its
   * transaction (SELECTOR_BUDGET_EXCEEDED). Absent: not checked (the system's own writes).
   */
  readonly selectorBudget?: SelectorBudget;
}

const scopes = new AsyncLocalStorage<WriteScope>();

/** Runs `fn` (and everything it awaits) with this write scope. */
export function withWriteScope<T>(scope: WriteScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

/** The write scope of the code running now (the system's when none was opened). */
export function currentWriteScope(): WriteScope {
  return scopes.getStore() ?? { actor: SYSTEM_ACTOR };
}
