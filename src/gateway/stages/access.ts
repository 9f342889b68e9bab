import { decideAccess, type AccessDecision } from '../../access/decision.js';
import { stripCredentials } from '../../access/strip.js';
import type { RequestContext } from '../context.js';

/**
 * Stage 2 — access: per-API checks before any backend work: the body size, then (when the API has an
 * access config) IP lists, CORS, authentication, the consumer and rate limits, decided by
 * `access/decision.ts` (which explain calls too). An API without an access config pays one null check.
 */
export function accessStage(ctx: RequestContext): boolean | Promise<boolean> {
  const api = ctx.api!;
  const length = ctx.req.headers['content-length'];
  if (length !== undefined && Number(length) > api.api.maxBodyBytes) {
    ctx.fail('BODY_TOO_LARGE');
    return false;
  }
  const access = api.access;
  if (access === null) return true;
  // The context has the decision's input fields (method, clientIp, rawQuery) and the request its headers.
  const decision = decideAccess(
    access,
    { method: ctx.method, headers: ctx.req.headers, rawQuery: ctx.rawQuery, clientIp: ctx.clientIp },
    ctx.snapshot.consumers,
    'serve',
  );
  return decision instanceof Promise ? decision.then((d) => apply(ctx, d)) : apply(ctx, decision);
}

/** Applies an access decision to the request: its headers, its consumer, the preflight answer or the error. */
function apply(ctx: RequestContext, d: AccessDecision): boolean {
  ctx.responseHeaders = d.headers;
  ctx.consumer = d.consumer;
  if (d.preflight) {
    // Answered here: a preflight never reaches a node (and carries no credentials to check).
    ctx.status = 204;
    ctx.res.writeHead(204, d.headers ?? []);
    ctx.res.end();
    return false;
  }
  if (!d.ok) {
    ctx.fail(d.code!);
    if (d.code === 'METHOD_NOT_ALLOWED') ctx.allow = [...ctx.api!.access!.methods].join(', ');
    return false;
  }
  const auth = ctx.api!.access!.auth;
  if (auth !== null && !auth.config.forwardCredentials)
    ctx.rawQuery = stripCredentials(ctx.req, ctx.rawQuery, auth.methods);
  return true;
}

/** Whether the request carries a body (a length above zero, chunked, or HTTP/2 DATA frames). */
export function hasBody(ctx: RequestContext): boolean {
  return ctx.req.body !== null;
}

/**
 * The response headers a node's answer is sent with: the node's, less its own CORS headers when the
 * gateway answers CORS for the API, plus the access stage's (CORS, RateLimit-*).
 */
export function withAccessHeaders(ctx: RequestContext, headers: string[]): string[] {
  const extra = ctx.responseHeaders;
  if (extra === null) return headers;
  const out =
    ctx.api!.access?.cors == null
      ? headers
      : headers.filter((_, i) => (i % 2 === 1 ? !isCorsHeader(headers[i - 1]!) : !isCorsHeader(headers[i]!)));
  out.push(...extra);
  return out;
}

function isCorsHeader(name: string): boolean {
  return name.length > 15 && name.slice(0, 15).toLowerCase() === 'access-control-';
}
