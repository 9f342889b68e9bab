import { parse as parseQuery } from 'node:querystring';
import type { CompiledApi, CompiledHashOn, CompiledNode } from '../../snapshot/snapshot.js';
import type { SelectOutcome, SelectorRequest } from '../../selector/types.js';
import type { RequestContext } from '../context.js';
import { hasBody } from './access.js';

/** Bodies up to this size are read into memory so the selector sees them (and retries can resend them). */
export const SELECTOR_BODY_LIMIT = 64 * 1024;

/**
 * Stage 3 — balance: enabled nodes → rules hold → healthy → selector narrows → algorithm picks.
 * The static filters (enabled, rules) were applied when the snapshot was compiled; health is live.
 */
export function balanceStage(ctx: RequestContext): boolean | Promise<boolean> {
  const api = ctx.api!;
  if (api.enabled.length === 0) return fail(ctx, 'NO_ENABLED_NODE');
  if (api.eligible.length === 0) return fail(ctx, 'RULES_EXCLUDED_ALL');
  let healthy = ctx.snapshot.health.available(api.eligible);
  if (healthy.length === 0) {
    if (api.api.health.panic === 'reject') return fail(ctx, 'NO_HEALTHY_NODE');
    // Panic (Envoy's reasoning): when every node looks down the health view itself may be wrong
    // (a probe path that broke, a shared dependency), and trying all beats failing every request.
    ctx.panic = true;
    healthy = api.eligible;
  }
  if (api.hashOn !== null) ctx.hashKey = hashKeyOf(api.hashOn, ctx.req.headers, (name) => firstQueryValue(ctx.rawQuery, name), ctx.clientIp);
  // Retries resend small bodies, so they are buffered when another try may need them.
  const buffer = api.api.retries > 0 && ctx.body === null && hasBody(ctx);
  if (api.selector === null && !buffer) {
    ctx.candidates = healthy;
    return pickFirst(ctx);
  }
  return runSelector(ctx, api, healthy);
}

function runSelector(ctx: RequestContext, api: CompiledApi, healthy: readonly CompiledNode[]): boolean | Promise<boolean> {
  if (ctx.body === null && hasBody(ctx)) {
    const length = Number(ctx.req.headers['content-length']);
    if (length > 0 && length <= SELECTOR_BODY_LIMIT) {
      return readBody(ctx, length).then((body) => {
        ctx.body = body;
        return select(ctx, api, healthy);
      });
    }
  }
  return select(ctx, api, healthy);
}

// Synchronous when the selector answers at once (a memoized result), so such requests take no
// promise turn here.
function select(ctx: RequestContext, api: CompiledApi, healthy: readonly CompiledNode[]): boolean | Promise<boolean> {
  const selector = api.selector;
  if (selector === null) {
    ctx.candidates = healthy;
    return pickFirst(ctx);
  }
  if (selector.state === 'broken') {
    ctx.selectorOutcome = `error:${selector.error.kind}`;
    return onSelectorError(ctx, api, healthy);
  }
  const indices = healthy === api.eligible ? api.eligibleIndices : healthy.map((n) => n.index);
  const outcome = selector.handle.select(selectorRequest(ctx), indices);
  return outcome instanceof Promise ? outcome.then((o) => selected(ctx, api, healthy, o)) : selected(ctx, api, healthy, outcome);
}

function selected(ctx: RequestContext, api: CompiledApi, healthy: readonly CompiledNode[], outcome: SelectOutcome): boolean {
  ctx.selectorUs = outcome.durationUs;
  if (!outcome.ok) {
    ctx.selectorOutcome = `error:${outcome.error.kind}`;
    return onSelectorError(ctx, api, healthy);
  }
  if (outcome.picked.length === 0) {
    ctx.selectorOutcome = 'empty';
    return fail(ctx, 'SELECTOR_EMPTY');
  }
  ctx.selectorOutcome = 'ok';
  ctx.candidates = outcome.cached === true ? cachedNodes(api, outcome.picked) : nodesAt(api, outcome.picked);
  return pickFirst(ctx);
}

function nodesAt(api: CompiledApi, indices: readonly number[]): CompiledNode[] {
  const nodes: CompiledNode[] = [];
  for (const index of indices) nodes.push(api.nodes[index]!);
  return nodes;
}

// A memoized answer's picks are one frozen array per cache entry (each config version loads its own
// selector and cache): their nodes are looked up once per entry and compiled API.
const pickedNodes = new WeakMap<readonly number[], { api: CompiledApi; nodes: readonly CompiledNode[] }>();

function cachedNodes(api: CompiledApi, indices: readonly number[]): readonly CompiledNode[] {
  let entry = pickedNodes.get(indices);
  if (entry === undefined || entry.api !== api) pickedNodes.set(indices, (entry = { api, nodes: Object.freeze(nodesAt(api, indices)) }));
  return entry.nodes;
}

function onSelectorError(ctx: RequestContext, api: CompiledApi, healthy: readonly CompiledNode[]): boolean {
  if (api.api.selector?.onError === 'reject') return fail(ctx, 'SELECTOR_FAILED');
  ctx.candidates = healthy;
  return pickFirst(ctx);
}

/** The `hash` algorithm's key: the configured header, query parameter or cookie, else the client IP. */
export function hashKeyOf(
  on: CompiledHashOn,
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
    tls: ctx.req.tls,
  };
}

function fail(ctx: RequestContext, code: Parameters<RequestContext['fail']>[0]): false {
  ctx.fail(code);
  return false;
}

function firstQueryValue(rawQuery: string, name: string): string | undefined {
  if (rawQuery === '') return undefined;
  const raw = parseQuery(rawQuery)[name];
  return Array.isArray(raw) ? raw[0] : raw;
}

function readBody(ctx: RequestContext, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const req = ctx.req.body;
    if (req === null) {
      resolve(Buffer.alloc(0));
      return;
    }
    if (req.destroyed) {
      reject(req.errored ?? new Error('request body destroyed'));
      return;
    }
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > length) req.destroy(new Error('body longer than its content-length'));
      else chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}
