import type { SelectorConfig } from '../model/selector.js';
import type { SelectorRequest, TrialResult } from '../selector/types.js';
import { AdminError, type ErrorDetail } from './errors.js';
import type { AdminRuntime } from './runtime.js';

/**
 * Trial-runs a selector in the sandbox on one sample request; throws SELECTOR_INVALID (with the
 * script's line and column when known) unless it compiled and returned a valid result.
 */
export async function requireSelectorTrial(
  runtime: AdminRuntime,
  apiId: string,
  config: SelectorConfig,
  request: SelectorRequest,
): Promise<TrialResult> {
  const result = await runtime.trialSelector(apiId, config, request);
  if (result.ok) return result;
  const failure = result.error;
  const detail: ErrorDetail = { path: 'code', message: failure?.message ?? 'the selector failed without a message' };
  if (failure?.line !== undefined) detail.line = failure.line;
  if (failure?.column !== undefined) detail.column = failure.column;
  const kind = failure?.kind ?? 'unknown';
  throw new AdminError('SELECTOR_INVALID', `the selector failed its trial run (${kind}); nothing was saved`, [detail]);
}
