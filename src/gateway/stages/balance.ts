import { parse as parseQuery } from 'node:querystring';
import type { CompiledApi, CompiledNode } from '../../snapshot/snapshot.js';
import type { SelectorRequest } from '../../selector/types.js';
import type { RequestContext } from '../context.js';
import { hasBody } from './access.js';

/** Bodies up to this size are read into memory so the selector sees them (and retries can resend them). */
export const SELECTOR_BODY_LIMIT = 64 * 1024;

/**
 * Stage 3 — balance: enabled nodes → rules hold → healthy → selector narrows → algorithm picks.
 * The static filters (enabled, rules) were applied when the snapshot was compiled.
 */
export function balanceStage(ctx: RequestContext): boolean | Promise<boolean> {
  const api = ctx.api!;
  if (api.enabled.length === 0) return fail(ctx, 'NO_ENABLED_NODE');
  if (api.eligible.length === 0) return fail(ctx, 'RULES_EXCLUDED_ALL');
  // Health filtering comes with active/passive checks; until then every eligible node is healthy.
  if (api.selector === null) {
    ctx.candidates = api.eligible;
    return pickFirst(ctx);
  }
  return runSelector(ctx, api);
}

async function runSelector(ctx: RequestContext, api: CompiledApi): Promise<boolean> {
  const selector = api.selector!;
  if (selector.state === 'broken') {
    ctx.selectorOutcome = `error:${selector.error.kind}`;
    return onSelectorError(ctx, api);
  }
  if (ctx.body === null && hasBody(ctx)) {
    const length = Number(ctx.req.headers['content-length']);
    if (length > 0 && length <= SELECTOR_BODY_LIMIT) ctx.body = await readBody(ctx, length);
  }
  const outcome = await selector.handle.select(selectorRequest(ctx), api.eligibleIndices);
  ctx.selectorUs = outcome.durationUs;
  if (!outcome.ok) {
    ctx.selectorOutcome = `error:${outcome.error.kind}`;
    return onSelectorError(ctx, api);
  }
  if (outcome.picked.length === 0) {
    ctx.selectorOutcome = 'empty';
    return fail(ctx, 'SELECTOR_EMPTY');
  }
  ctx.selectorOutcome = 'ok';
  const picked: CompiledNode[] = [];
  for (const index of outcome.picked) picked.push(api.nodes[index]!);
  ctx.candidates = picked;
  return pickFirst(ctx);
}

function onSelectorError(ctx: RequestContext, api: CompiledApi): boolean {
  if (api.api.selector?.onError === 'reject') return fail(ctx, 'SELECTOR_FAILED');
  ctx.candidates = api.eligible;
  return pickFirst(ctx);
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
  const all = ctx.candidates;
  let left: readonly CompiledNode[] = all;
  if (ctx.tried.length > 0) {
    left = all.filter((n) => !ctx.tried.includes(n.index));
    if (left.length === 0) return null;
  }
  const picked = ctx.api!.algorithm.pick(left, ctx) as CompiledNode;
  ctx.tried.push(picked.index);
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
  };
}

function fail(ctx: RequestContext, code: Parameters<RequestContext['fail']>[0]): false {
  ctx.fail(code);
  return false;
}

function readBody(ctx: RequestContext, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const req = ctx.req;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > length) req.destroy(new Error('body longer than its content-length'));
      else chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}
