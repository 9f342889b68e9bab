import { createAlgorithm } from '../balance/algorithms/index.js';
import { afterSelector, filterNodes, hashKeyOf, nextPick, nodesAt, type SelectorRun } from '../balance/decision.js';
import { explainAccess } from '../access/explain.js';
import type { BalanceExplanation, NodeRef } from '../explain/explanation.js';
import type { SelectorConfig } from '../model/selector.js';
import type { SelectorSandbox } from '../selector/sandbox.js';
import type { SelectorRequest } from '../selector/types.js';
import type { CompiledApi, CompiledNode, Snapshot } from '../snapshot/snapshot.js';

/** Whether a node takes traffic as far as health goes; null when this process has no health view. */
export type HealthLookup = ((node: CompiledNode) => boolean) | null;

/**
 * Runs the balance decision (`balance/decision.ts`, as the stage does) for a sample request and
 * reports each step. The selector runs as a sandbox trial (a fresh compile), so explaining never
 * counts towards the serving selector's quarantine.
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
  const afterHealth = healthy === null ? api.eligible : api.eligible.filter(healthy);
  const out: BalanceExplanation = {
    steps: { enabled: refs(api.enabled), rules: refs(api.eligible), health: refs(afterHealth), selector: [] },
    pick: null,
    selector: { ran: false, durationUs: 0, console: [], error: null, fallback: null },
    errorCode: null,
    access: null,
    health: { known: healthy !== null, panic: false },
  };
  const filtered = filterNodes(api, afterHealth, api.api.health.panic);
  if (!filtered.ok) return { ...out, errorCode: filtered.code };
  out.health.panic = filtered.panic;
  // The stored selector of an API past the budget does not run when serving: nor does it here.
  if (selector !== null && selector === api.api.selector && api.selector?.state === 'over-budget') {
    out.selector.error = { kind: 'unavailable', message: api.selector.reason };
    return { ...out, errorCode: 'SELECTOR_OVER_BUDGET' };
  }
  let run: SelectorRun<CompiledNode> = { kind: 'none' };
  if (selector) {
    const env = Object.fromEntries(snapshot.variables);
    const trial = await sandbox.trial(
      selector,
      request,
      env,
      filtered.nodes.map((n) => n.view),
    );
    out.selector = {
      ran: true,
      durationUs: trial.durationUs,
      console: trial.console,
      error: trial.error ?? null,
      fallback: null,
    };
    // The trial names its picks by id; as catalog indices they map to nodes the way serving maps them.
    const indexById = new Map(api.nodes.map((n) => [n.id, n.index]));
    run = trial.ok
      ? {
          kind: 'picked',
          nodes: nodesAt(
            api.nodes,
            trial.picked.map((id) => indexById.get(id)!),
          ),
        }
      : { kind: 'failed' };
  }
  const decision = afterSelector(run, filtered.nodes, selector?.onError ?? 'use-all');
  out.selector.fallback = decision.fallback;
  if (!decision.ok) return { ...out, errorCode: decision.code };
  out.steps.selector = refs(decision.candidates);
  const hashKey =
    api.hashOn === null
      ? request.clientIp
      : hashKeyOf(api.hashOn, lowerCaseKeys(request.headers), (name) => first(request.query[name]), request.clientIp);
  // A fresh instance, so explaining does not advance the serving rotation (and sees no load: least_conn rotates).
  out.pick = nextPick(createAlgorithm(api.api.algorithm), decision.candidates, [], { hashKey })!.ref;
  return out;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function lowerCaseKeys(headers: SelectorRequest['headers']): Record<string, string | string[] | undefined> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/**
 * Explains a sample request the way it would be served: the access decision first (its credentials,
 * client IP and origin; rate limits looked at, not spent), then, if it passes, the balance steps
 * with the consumer it found as `request.consumer` and its credentials stripped.
 */
export async function explainRequest(
  snapshot: Snapshot,
  api: CompiledApi,
  request: SelectorRequest,
  selector: SelectorConfig | null,
  sandbox: SelectorSandbox,
  healthy: HealthLookup,
  limitsKnown: boolean,
): Promise<BalanceExplanation> {
  if (api.access === null)
    return explainBalance(snapshot, api, { ...request, consumer: null }, selector, sandbox, healthy);
  const access = await explainAccess(api.access, snapshot.consumers, request, limitsKnown);
  if (!access.decision.ok || access.decision.preflight) {
    const refs = (nodes: readonly CompiledNode[]): NodeRef[] => nodes.map((n) => n.ref);
    return {
      steps: { enabled: refs(api.enabled), rules: refs(api.eligible), health: [], selector: [] },
      pick: null,
      selector: { ran: false, durationUs: 0, console: [], error: null, fallback: null },
      errorCode: access.decision.code,
      access: access.explanation,
      health: { known: healthy !== null, panic: false },
    };
  }
  return {
    ...(await explainBalance(snapshot, api, access.request, selector, sandbox, healthy)),
    access: access.explanation,
  };
}
