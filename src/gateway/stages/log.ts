import type { GatewayMetrics } from '../../metrics/gateway-metrics.js';
import type { AccessLog } from '../access-log.js';
import type { RequestContext } from '../context.js';
import { apiErrorKey, type NodeStats } from '../node-stats.js';

/** Where finished requests are reported. */
export interface LogSinks {
  /** One line per request; null turns it off. */
  accessLog: AccessLog | null;
  stats: NodeStats;
  /** Prometheus counters of this process. */
  metrics: GatewayMetrics;
}

/**
 * Stage 6 — log: the access-log line (API, node, status, durations, selector time and outcome, the
 * opt-in fields), per-node stats and metrics.
 */
export function logStage(ctx: RequestContext, sinks: LogSinks): void {
  const ms = performance.now() - ctx.startedAt;
  const error = ctx.errorCode !== null || ctx.status >= 500 || ctx.status === 0;
  if (ctx.node !== null) sinks.stats.record(ctx.node.id, error, ms);
  // Per API as well, so the console sees gateway-made errors (no node, selector empty, …) where it looks.
  if (ctx.api !== null) {
    sinks.stats.record(ctx.api.api.id, error, ms);
    if (ctx.errorCode !== null) sinks.stats.record(apiErrorKey(ctx.api.api.id, ctx.errorCode), true, ms);
  }
  sinks.metrics.record(ctx, ms);
  const log = sinks.accessLog;
  if (log === null) return;
  const fields = log.fields;
  log.write(
    {
      method: ctx.method,
      path: ctx.path,
      clientIp: ctx.clientIp,
      consumer: ctx.consumer === null ? null : ctx.consumer.name,
      api: ctx.api?.api.name ?? null,
      node: ctx.node?.name ?? null,
      status: ctx.res.destroyed && ctx.status === 0 ? 499 : ctx.status,
      code: ctx.errorCode,
      tries: ctx.tried.length,
      upstreamError: ctx.upstreamError,
      ms,
      upstreamMs: ctx.upstreamMs,
      selector: ctx.selectorOutcome,
      selectorUs: ctx.selectorUs,
      version: ctx.snapshot.version,
      tls: ctx.req.tls,
      proto: ctx.req.protocol,
    },
    // The opt-in fields (`--access-log-fields`): one check when there are none.
    fields === null ? '' : fields.render(ctx),
  );
}
