import type { BalanceExplanation, NodeRef } from '../admin/runtime.js';
import { createAlgorithm } from '../balance/algorithms/index.js';
import type { SelectorConfig } from '../model/selector.js';
import type { SelectorSandbox } from '../selector/sandbox.js';
import type { SelectorRequest } from '../selector/types.js';
import type { CompiledApi, CompiledNode, Snapshot } from '../snapshot/snapshot.js';

/**
 * Runs the balance stage's steps for a sample request and reports each one. The selector runs as a
 * sandbox trial (a fresh compile), so explaining never counts towards the serving selector's quarantine.
 */
export async function explainBalance(
  snapshot: Snapshot,
  api: CompiledApi,
  request: SelectorRequest,
  selector: SelectorConfig | null,
  sandbox: SelectorSandbox,
): Promise<BalanceExplanation> {
  const refs = (nodes: readonly CompiledNode[]): NodeRef[] => nodes.map((n) => n.ref);
  const out: BalanceExplanation = {
    steps: { enabled: refs(api.enabled), rules: refs(api.eligible), health: refs(api.eligible), selector: [] },
    pick: null,
    selector: { ran: false, durationUs: 0, console: [], error: null, fallback: null },
    errorCode: null,
  };
  if (api.enabled.length === 0) return { ...out, errorCode: 'NO_ENABLED_NODE' };
  if (api.eligible.length === 0) return { ...out, errorCode: 'RULES_EXCLUDED_ALL' };
  let candidates: readonly CompiledNode[] = api.eligible;
  if (selector) {
    const env = Object.fromEntries(snapshot.variables);
    const trial = await sandbox.trial(selector, request, env, api.eligible.map((n) => n.view));
    out.selector = { ran: true, durationUs: trial.durationUs, console: trial.console, error: trial.error ?? null, fallback: null };
    if (trial.ok) {
      const byId = new Map(api.eligible.map((n) => [n.id, n]));
      candidates = trial.picked.map((id) => byId.get(id)!).filter(Boolean);
      if (candidates.length === 0) {
        out.steps.selector = [];
        return { ...out, errorCode: 'SELECTOR_EMPTY' };
      }
    } else if (selector.onError === 'reject') {
      out.selector.fallback = 'reject';
      return { ...out, errorCode: 'SELECTOR_FAILED' };
    } else out.selector.fallback = 'use-all';
  }
  out.steps.selector = refs(candidates);
  // A fresh instance, so explaining does not advance the serving rotation.
  const picked = createAlgorithm(api.api.algorithm).pick(candidates, { hashKey: request.clientIp }) as CompiledNode;
  out.pick = picked.ref;
  return out;
}
