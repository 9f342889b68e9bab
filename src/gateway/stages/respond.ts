import type { RequestContext } from '../context.js';
import { ERROR_HEADER, GATEWAY_ERRORS, errorBody } from '../errors.js';

/**
 * Stage 5 — respond: turns a recorded gateway error into its JSON response with the error header, or
 * a recorded https redirect into a 301 (GET, HEAD) or 308 (other methods keep their method and body).
 */
export function respondStage(ctx: RequestContext): void {
  const code = ctx.errorCode;
  const res = ctx.res;
  if (ctx.redirect !== null && code === null && !res.headersSent && !res.destroyed) {
    ctx.status = ctx.method === 'GET' || ctx.method === 'HEAD' ? 301 : 308;
    res.writeHead(ctx.status, { location: ctx.redirect, 'content-length': 0 });
    res.end();
    return;
  }
  if (code === null || res.headersSent || res.destroyed) return;
  const { status } = GATEWAY_ERRORS[code];
  const body = errorBody(code);
  ctx.status = status;
  const headers: string[] = [
    'content-type',
    'application/json',
    'content-length',
    String(body.length),
    ERROR_HEADER,
    code,
  ];
  if (ctx.allow !== null) headers.push('allow', ctx.allow);
  if (ctx.responseHeaders !== null) headers.push(...ctx.responseHeaders);
  res.writeHead(status, headers);
  res.end(ctx.method === 'HEAD' ? undefined : body);
}
