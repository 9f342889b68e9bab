import type { RequestContext } from '../context.js';

/** Stage 2 — access: per-API checks before any backend work (the body size; methods were matched by route). */
export function accessStage(ctx: RequestContext): boolean {
  const api = ctx.api!;
  const length = ctx.req.headers['content-length'];
  if (length !== undefined && Number(length) > api.api.maxBodyBytes) {
    ctx.fail('BODY_TOO_LARGE');
    return false;
  }
  if (length === undefined) ctx.req.limitBody?.(api.api.maxBodyBytes);
  return true;
}

/** Whether the request carries a body (a length above zero, chunked, or HTTP/2 DATA frames). */
export function hasBody(ctx: RequestContext): boolean {
  return ctx.req.body !== null;
}
