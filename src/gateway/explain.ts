import type { BalanceExplanation, NodeRef } from '../explain/explanation.js';
import { createAlgorithm } from '../balance/algorithms/index.js';
import type { SelectorConfig } from '../model/selector.js';
import type { SelectorSandbox } from '../selector/sandbox.js';
import type { SelectorRequest } from '../selector/types.js';
import type { CompiledApi, CompiledNode, Snapshot } from '../snapshot/snapshot.js';
import { hashKeyOf } from './stages/balance.js';

/** Whether a node takes traffic as far as health goes; null when this process has no health view. */
export type HealthLookup = ((node: CompiledNode) => boolean) | null;

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
  healthy: HealthLookup,
): Promise<BalanceExplanation> {
  const refs = (nodes: readonly CompiledNode[]): NodeRef[] => nodes.map((n) => n.ref);
  let afterHealth = healthy === null ? api.eligible : api.eligible.filter(healthy);
  const out: BalanceExplanation = {
    steps: { enabled: refs(api.enabled), rules: refs(api.eligible), health: refs(afterHealth), selector: [] },
    pick: null,
    selector: { ran: false, durationUs: 0, console: [], error: null, fallback: null },
    errorCode: null,
    health: { known: healthy !== null, panic: false },
  };
  if (api.enabled.length === 0) return { ...out, errorCode: 'NO_ENABLED_NODE' };
  if (api.eligible.length === 0) return { ...out, errorCode: 'RULES_EXCLUDED_ALL' };
  if (afterHealth.length === 0) {
    if (api.api.health.panic === 'reject') return { ...out, errorCode: 'NO_HEALTHY_NODE' };
    out.health.panic = true;
    afterHealth = api.eligible;
  }
  let candidates: readonly CompiledNode[] = afterHealth;
  if (selector) {
    const env = Object.fromEntries(snapshot.variables);
    const trial = await sandbox.trial(selector, request, env, afterHealth.map((n) => n.view));
    out.selector = { ran: true, durationUs: trial.durationUs, console: trial.console, error: trial.error ?? null, fallback: null };
    if (trial.ok) {
      const byId = new Map(afterHealth.map((n) => [n.id, n]));
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
  const hashKey =
    api.hashOn === null
      ? request.clientIp
      : hashKeyOf(api.hashOn, lowerCaseKeys(request.headers), (name) => first(request.query[name]), request.clientIp);
  // A fresh instance, so explaining does not advance the serving rotation (and sees no load: least_conn rotates).
  const picked = createAlgorithm(api.api.algorithm).pick(candidates, { hashKey }) as CompiledNode;
  out.pick = picked.ref;
  return out;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function lowerCaseKeys(headers: SelectorRequest['headers']): Record<string, string | string[] | undefined> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
