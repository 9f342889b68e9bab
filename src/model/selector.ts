import { z } from 'zod';

/** What an API does when its selector fails (throw, timeout, out of memory, bad result, crash). */
export const OnSelectorError = z.enum(['use-all', 'reject']);
export type OnSelectorError = z.infer<typeof OnSelectorError>;

/** Largest selector source accepted, in characters. */
export const SELECTOR_MAX_CODE = 64 * 1024;

/** A selector as configured on an API: the user's `select(request, env, nodes)` script and its limits. */
export const SelectorConfig = z.strictObject({
  code: z.string().min(1).max(SELECTOR_MAX_CODE),
  onError: OnSelectorError.default('use-all'),
  /** CPU time per call. */
  timeoutMs: z.number().int().min(1).max(1000).default(20),
  /** Isolate heap limit (isolated-vm's minimum is 8 MB). */
  memoryMb: z.number().int().min(8).max(512).default(32),
  /**
   * The operator's promise that `select` keeps no state between calls and its result depends only on
   * its arguments: the gateway then replays recorded request reads instead of running it again.
   */
  memoize: z.boolean().default(false),
});
export type SelectorConfig = z.infer<typeof SelectorConfig>;
