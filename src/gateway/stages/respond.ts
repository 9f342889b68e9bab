import type { RequestContext } from '../context.js';
import { ERROR_HEADER, GATEWAY_ERRORS, errorBody } from '../errors.js';

/** Stage 5 — respond: turns a recorded gateway error into its JSON response with the error header. */
export function respondStage(ctx: RequestContext): void {
  const code = ctx.errorCode;
  const res = ctx.res;
  if (code === null || res.headersSent || res.destroyed) return;
  const { status } = GATEWAY_ERRORS[code];
  const body = errorBody(code);
  ctx.status = status;
  const headers: string[] = ['content-type', 'application/json', 'content-length', String(body.length), ERROR_HEADER, code];
  if (ctx.allow !== null) headers.push('allow', ctx.allow);
  if (ctx.responseHeaders !== null) headers.push(...ctx.responseHeaders);
  res.writeHead(status, headers);
  res.end(ctx.method === 'HEAD' ? undefined : body);
}
