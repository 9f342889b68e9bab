import { z } from 'zod';

/** What an API does when its selector fails (throw, timeout, out of memory, bad result, crash). */
export const OnSelectorError = z.enum(['use-all', 'reject']);
export type OnSelectorError = z.infer<typeof OnSelectorError>;

/** How an API's selector results may be memoized (see SelectorConfig.memoize). */
export const MemoizeMode = z.union([z.boolean(), z.literal('auto')]);
export type MemoizeMode = z.infer<typeof MemoizeMode>;

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
   * Whether the gateway may answer from recorded results instead of running `select` again:
   * `"auto"` when the script is found to keep no state between calls (state-analysis.ts), `true` on
   * the operator's promise that it keeps none, `false` never.
   */
  memoize: MemoizeMode.default('auto'),
});
export type SelectorConfig = z.infer<typeof SelectorConfig>;
