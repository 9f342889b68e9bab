import type { Logger } from 'pino';
import type { RequestContext } from '../context.js';

/** Stage 6 — log: one access-log line per request (API, node, status, durations, selector time and outcome). */
export function logStage(ctx: RequestContext, log: Logger): void {
  const api = ctx.api;
  log.info({
    method: ctx.method,
    path: ctx.path,
    clientIp: ctx.clientIp,
    api: api?.api.name ?? null,
    node: ctx.node?.name ?? null,
    status: ctx.res.destroyed && ctx.status === 0 ? 499 : ctx.status,
    code: ctx.errorCode,
    tries: ctx.tried.length,
    upstreamError: ctx.upstreamError,
    ms: round(performance.now() - ctx.startedAt),
    upstreamMs: round(ctx.upstreamMs),
    selector: ctx.selectorOutcome,
    selectorUs: ctx.selectorUs,
    version: ctx.snapshot.version,
  });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
