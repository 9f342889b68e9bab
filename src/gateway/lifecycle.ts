import type { RequestContext } from './context.js';
import { accessStage } from './stages/access.js';
import { balanceStage } from './stages/balance.js';
import { proxyStage } from './stages/proxy.js';
import { respondStage } from './stages/respond.js';
import { routeStage } from './stages/route.js';
import { proxyUpgrade } from './upgrade/proxy-upgrade.js';

/** A stage runs on the shared context and says whether the request goes on to the next one. */
export type Stage = (ctx: RequestContext) => boolean | Promise<boolean>;

/**
 * The request lifecycle, in order (as in ShowAPI, balance is the third). respond and log run after
 * these for every request, whichever stage stopped it.
 */
export const STAGES: readonly Stage[] = [routeStage, accessStage, balanceStage, proxy];

/** Stage 4 — proxy: an upgrade goes to its own connection to the node, every other request through the pools. */
function proxy(ctx: RequestContext): Promise<boolean> {
  return ctx.req.upgrade !== null ? proxyUpgrade(ctx) : proxyStage(ctx);
}

/** Runs the stages, then respond. Never throws: an unexpected error becomes INTERNAL_ERROR. */
export async function runLifecycle(ctx: RequestContext): Promise<void> {
  try {
    for (const stage of STAGES) {
      let next = stage(ctx);
      if (typeof next !== 'boolean') next = await next;
      if (!next) break;
    }
  } catch (err) {
    ctx.upstreamError = err instanceof Error ? err.message : String(err);
    ctx.fail('INTERNAL_ERROR');
  }
  respondStage(ctx);
}
