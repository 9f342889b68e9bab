import { parse as parseQuery } from 'node:querystring';
import {
  afterSelector,
  filterNodes,
  hashKeyOf,
  nextPick,
  nodesAt,
  type SelectorDecision,
} from '../../balance/decision.js';
import type { CompiledApi, CompiledNode } from '../../snapshot/snapshot.js';
import type { SelectOutcome, SelectorRequest } from '../../selector/types.js';
import type { RequestContext } from '../context.js';
import type { GatewayErrorCode } from '../errors.js';
import { hasBody } from './access.js';
import { bodyFailed, readBody } from './read-body.js';

/** Bodies up to this size are read into memory so the selector sees them (and retries can resend them). */
export const SELECTOR_BODY_LIMIT = 64 * 1024;

/**
 * Stage 3 — balance: enabled nodes → rules hold → healthy → selector narrows → algorithm picks, each
 * step decided by `balance/decision.ts` (which explain and the proxy's retry call too). The static
 * filters (enabled, rules) were applied when the snapshot was compiled; health is live.
 */
export function balanceStage(ctx: RequestContext): boolean | Promise<boolean> {
  const api = ctx.api!;
  const filtered = filterNodes(api, ctx.snapshot.health.available(api.eligible), api.api.health.panic);
  if (!filtered.ok) return fail(ctx, filtered.code);
  ctx.panic = filtered.panic;
  const healthy = filtered.nodes;
  if (api.hashOn !== null)
    ctx.hashKey = hashKeyOf(api.hashOn, ctx.req.headers, (name) => firstQueryValue(ctx.rawQuery, name), ctx.clientIp);
  // Retries resend small bodies, so they are buffered when another try may need them.
  const buffer = api.api.retries > 0 && ctx.body === null && hasBody(ctx);
  if (api.selector === null && !buffer) {
    ctx.candidates = healthy;
    return pickFirst(ctx);
  }
  return runSelector(ctx, api, healthy);
}

function runSelector(
  ctx: RequestContext,
  api: CompiledApi,
  healthy: readonly CompiledNode[],
): boolean | Promise<boolean> {
  // Not onError's to decide: the selector may keep requests off nodes for a reason (a canary, a
  // tenant), and it never ran; the API answers with the cause until the config fits the budget.
  if (api.selector?.state === 'over-budget') return fail(ctx, 'SELECTOR_OVER_BUDGET');
  if (ctx.body === null && hasBody(ctx)) {
    const length = Number(ctx.req.headers['content-length']);
    if (length > 0 && length <= SELECTOR_BODY_LIMIT) {
      return readBody(ctx.req.body, length, ctx.bodyTimeoutMs).then(
        (body) => {
          ctx.body = body;
          return select(ctx, api, healthy);
        },
        (err: unknown) => bodyFailed(ctx, err),
      );
    }
  }
  return select(ctx, api, healthy);
}

// Synchronous when the selector answers at once (a memoized result), so such requests take no
// promise turn here.
function select(ctx: RequestContext, api: CompiledApi, healthy: readonly CompiledNode[]): boolean | Promise<boolean> {
  const selector = api.selector;
  if (selector === null) return decided(ctx, afterSelector(NO_SELECTOR, healthy, 'use-all'));
  if (selector.state === 'over-budget') return fail(ctx, 'SELECTOR_OVER_BUDGET');
  if (selector.state === 'broken') {
    ctx.selectorOutcome = `error:${selector.error.kind}`;
    return decided(ctx, afterSelector(FAILED, healthy, api.api.selector?.onError ?? 'use-all'));
  }
  const indices = healthy === api.eligible ? api.eligibleIndices : healthy.map((n) => n.index);
  const outcome = selector.handle.select(selectorRequest(ctx), indices);
  return outcome instanceof Promise
    ? outcome.then((o) => selected(ctx, api, healthy, o))
    : selected(ctx, api, healthy, outcome);
}

const NO_SELECTOR = { kind: 'none' } as const;
const FAILED = { kind: 'failed' } as const;

function selected(
  ctx: RequestContext,
  api: CompiledApi,
  healthy: readonly CompiledNode[],
  outcome: SelectOutcome,
): boolean {
  ctx.selectorUs = outcome.durationUs;
  const onError = api.api.selector?.onError ?? 'use-all';
  if (!outcome.ok) {
    ctx.selectorOutcome = `error:${outcome.error.kind}`;
    return decided(ctx, afterSelector(FAILED, healthy, onError));
  }
  const nodes = outcome.cached === true ? cachedNodes(api, outcome.picked) : nodesAt(api.nodes, outcome.picked);
  ctx.selectorOutcome = nodes.length === 0 ? 'empty' : 'ok';
  return decided(ctx, afterSelector({ kind: 'picked', nodes }, healthy, onError));
}

function decided(ctx: RequestContext, decision: SelectorDecision<CompiledNode>): boolean {
  if (!decision.ok) return fail(ctx, decision.code);
  ctx.candidates = decision.candidates;
  return pickFirst(ctx);
}

// A memoized answer's picks are one frozen array per cache entry (each config version loads its own
// selector and cache): their nodes are looked up once per entry and compiled API.
const pickedNodes = new WeakMap<readonly number[], { api: CompiledApi; nodes: readonly CompiledNode[] }>();

function cachedNodes(api: CompiledApi, indices: readonly number[]): readonly CompiledNode[] {
  let entry = pickedNodes.get(indices);
  if (entry === undefined || entry.api !== api)
    pickedNodes.set(indices, (entry = { api, nodes: Object.freeze(nodesAt(api.nodes, indices)) }));
  return entry.nodes;
}

function pickFirst(ctx: RequestContext): boolean {
  ctx.node = pickNext(ctx);
  return true;
}

/**
 * Picks among the candidates not tried yet (used for the first try and for retries); null when
 * every candidate was tried.
 */
export function pickNext(ctx: RequestContext): CompiledNode | null {
  const picked = nextPick(ctx.api!.algorithm, ctx.candidates, ctx.tried, ctx);
  if (picked !== null) ctx.tried.push(picked.index);
  return picked;
}

/** The `request` argument the selector gets. */
export function selectorRequest(ctx: RequestContext): SelectorRequest {
  return {
    method: ctx.method,
    path: ctx.path,
    query: ctx.rawQuery === '' ? {} : (parseQuery(ctx.rawQuery) as Record<string, string | string[]>),
    headers: ctx.req.headers,
    body: ctx.body === null ? null : ctx.body.toString('utf8'),
    clientIp: ctx.clientIp,
    tls: ctx.req.tls,
    consumer: ctx.consumer === null ? null : ctx.consumer.view,
  };
}

function fail(ctx: RequestContext, code: GatewayErrorCode): false {
  ctx.fail(code);
  return false;
}

function firstQueryValue(rawQuery: string, name: string): string | undefined {
  if (rawQuery === '') return undefined;
  const raw = parseQuery(rawQuery)[name];
  return Array.isArray(raw) ? raw[0] : raw;
}
