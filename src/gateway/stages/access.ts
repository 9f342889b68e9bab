import type { RequestContext } from '../context.js';

/** Stage 2 — access: per-API checks before any backend work (the body size; methods were matched by route). */
export function accessStage(ctx: RequestContext): boolean {
  const api = ctx.api!;
  const length = ctx.req.headers['content-length'];
  if (length !== undefined && Number(length) > api.api.maxBodyBytes) {
    ctx.fail('BODY_TOO_LARGE');
    return false;
  }
  return true;
}

/** Whether the request carries a body (a length above zero, or chunked). */
export function hasBody(ctx: RequestContext): boolean {
  const h = ctx.req.headers;
  const length = h['content-length'];
  if (length !== undefined) return length !== '0';
  return h['transfer-encoding'] !== undefined;
}
