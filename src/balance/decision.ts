import type { Algorithm, BalanceNode, PickContext } from './algorithms/algorithm.js';
import type { OnSelectorError } from '../model/selector.js';

// The balance decision, one step per function, each saying what it decided and why. The balance
// stage, the proxy's retry and the explain endpoint all call these, so serving and explaining
// cannot drift apart (DESIGN.md, the request lifecycle: enabled → rules → health → panic → selector
// → algorithm; a retry picks again among the candidates not tried yet).

/** The gateway errors the balance decision can end in (keys of the gateway's error table). */
export type BalanceErrorCode =
  'NO_ENABLED_NODE' | 'RULES_EXCLUDED_ALL' | 'NO_HEALTHY_NODE' | 'SELECTOR_EMPTY' | 'SELECTOR_FAILED';

/** An API as the node filters see it (the static filters were applied when the snapshot was compiled). */
export interface FilteredApi<N> {
  /** Nodes the admin ticked. */
  readonly enabled: readonly N[];
  /** Enabled nodes whose rules hold. */
  readonly eligible: readonly N[];
  /** `allHealthy(eligible)`, made once when the snapshot is compiled: the common answer allocates nothing. */
  readonly whenAllHealthy?: FilterDecision<N>;
}

/** What the node filters decided: the list the selector gets (and whether panic mode made it), or why none. */
export type FilterDecision<N> =
  | { readonly ok: true; readonly nodes: readonly N[]; readonly panic: boolean }
  | { readonly ok: false; readonly code: BalanceErrorCode; readonly step: 'enabled' | 'rules' | 'health' };

const NO_ENABLED = { ok: false, code: 'NO_ENABLED_NODE', step: 'enabled' } as const;
const NO_ELIGIBLE = { ok: false, code: 'RULES_EXCLUDED_ALL', step: 'rules' } as const;
const NO_HEALTHY = { ok: false, code: 'NO_HEALTHY_NODE', step: 'health' } as const;

/**
 * enabled → rules → health → panic. `healthy` is the eligible list after the health view (the same
 * array when every node is healthy). When none is healthy, panic `use-all` goes on with every
 * eligible node (Envoy's reasoning: when all look down, the health view itself may be wrong).
 */
export function filterNodes<N>(
  api: FilteredApi<N>,
  healthy: readonly N[],
  panic: 'use-all' | 'reject',
): FilterDecision<N> {
  if (api.enabled.length === 0) return NO_ENABLED;
  if (api.eligible.length === 0) return NO_ELIGIBLE;
  if (healthy === api.eligible && api.whenAllHealthy !== undefined) return api.whenAllHealthy;
  if (healthy.length > 0) return allHealthy(healthy);
  if (panic === 'reject') return NO_HEALTHY;
  return { ok: true, nodes: api.eligible, panic: true };
}

/** The decision for a list of nodes that are all taken as they are. */
export function allHealthy<N>(nodes: readonly N[]): FilterDecision<N> {
  return { ok: true, nodes, panic: false };
}

/** How the selector ran, as the decision needs it: no selector, its picks, or a failure. */
export type SelectorRun<N> =
  { readonly kind: 'none' } | { readonly kind: 'picked'; readonly nodes: readonly N[] } | { readonly kind: 'failed' };

/** What the selector step decided: the candidates the algorithm and retries pick from, or why none. */
export type SelectorDecision<N> =
  | { readonly ok: true; readonly candidates: readonly N[]; readonly fallback: 'use-all' | null }
  | { readonly ok: false; readonly code: BalanceErrorCode; readonly fallback: 'reject' | null };

const SELECTOR_EMPTY = { ok: false, code: 'SELECTOR_EMPTY', fallback: null } as const;
const SELECTOR_REJECTED = { ok: false, code: 'SELECTOR_FAILED', fallback: 'reject' } as const;

/**
 * The selector's outcome applied to the filtered list: its picks (empty: 503 SELECTOR_EMPTY), or on
 * a failure the API's `onSelectorError` (`use-all` goes on with the input list, `reject` is 503).
 */
export function afterSelector<N>(
  run: SelectorRun<N>,
  filtered: readonly N[],
  onError: OnSelectorError,
): SelectorDecision<N> {
  if (run.kind === 'none') return { ok: true, candidates: filtered, fallback: null };
  if (run.kind === 'picked')
    return run.nodes.length === 0 ? SELECTOR_EMPTY : { ok: true, candidates: run.nodes, fallback: null };
  return onError === 'reject' ? SELECTOR_REJECTED : { ok: true, candidates: filtered, fallback: 'use-all' };
}

/** The selector's picks (catalog indices) as nodes of the API's catalog. */
export function nodesAt<N>(catalog: readonly N[], indices: readonly number[]): N[] {
  const nodes: N[] = [];
  for (const index of indices) nodes.push(catalog[index]!);
  return nodes;
}

/**
 * The algorithm's pick among the candidates whose catalog index is not in `tried` (the first try and
 * every retry); null once every candidate was tried (APISIX: at most nodes − 1 retries).
 */
export function nextPick<N extends BalanceNode>(
  algorithm: Algorithm,
  candidates: readonly N[],
  tried: readonly number[],
  ctx: PickContext,
): N | null {
  let left: readonly N[] = candidates;
  if (tried.length > 0) {
    left = candidates.filter((n) => !tried.includes(n.index));
    if (left.length === 0) return null;
  }
  return algorithm.pick(left, ctx) as N;
}

/** Where the `hash` algorithm reads its key (header names lower-cased). */
export interface HashSource {
  readonly source: 'header' | 'query' | 'cookie';
  readonly name: string;
}

/** The `hash` algorithm's key: the configured header, query parameter or cookie, else the client IP. */
export function hashKeyOf(
  on: HashSource,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  query: (name: string) => string | undefined,
  clientIp: string,
): string {
  let value: string | undefined;
  if (on.source === 'header') {
    const raw = Object.hasOwn(headers, on.name) ? headers[on.name] : undefined;
    value = Array.isArray(raw) ? raw.join(', ') : raw;
  } else if (on.source === 'query') value = query(on.name);
  else {
    const raw = headers['cookie'];
    value = cookieValue(Array.isArray(raw) ? raw.join('; ') : raw, on.name);
  }
  return value ? value : clientIp;
}

/** A cookie's value from a Cookie header (RFC 6265 §5.4: `name=value` pairs separated by `;`). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}
