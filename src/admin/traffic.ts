import { apiErrorKey, type NodeStatsSlot, type NodeStatsWindow } from '../gateway/node-stats.js';
import { GATEWAY_ERRORS } from '../gateway/errors.js';
import type { AdminRuntime } from './runtime.js';

/** Gateway-made errors by code over a window (codes without any are left out). */
export type ErrorsByCode = Record<string, number>;

/**
 * Every request an API answered over the last minute and five minutes, gateway-made errors (no node,
 * selector empty, …) included, with those errors by code; summed over the gateway processes.
 */
export interface ApiTraffic {
  lastMinute: NodeStatsWindow;
  lastFiveMinutes: NodeStatsWindow;
  recent: NodeStatsSlot[];
  errorsByCode: { lastMinute: ErrorsByCode; lastFiveMinutes: ErrorsByCode };
}

const CODES = Object.keys(GATEWAY_ERRORS);

/** One API's traffic with its gateway errors by code. */
export async function apiTraffic(runtime: AdminRuntime, apiId: string): Promise<ApiTraffic> {
  const stats = await runtime.nodeStats([apiId, ...CODES.map((c) => apiErrorKey(apiId, c))]);
  const byCode = (window: 'lastMinute' | 'lastFiveMinutes'): ErrorsByCode => {
    const out: ErrorsByCode = {};
    for (const code of CODES) {
      const n = stats[apiErrorKey(apiId, code)]?.[window].requests ?? 0;
      if (n > 0) out[code] = n;
    }
    return out;
  };
  const own = stats[apiId]!;
  return {
    lastMinute: own.lastMinute,
    lastFiveMinutes: own.lastFiveMinutes,
    recent: own.recent,
    errorsByCode: { lastMinute: byCode('lastMinute'), lastFiveMinutes: byCode('lastFiveMinutes') },
  };
}

/** The last minute of each API's traffic (for the APIs list). */
export async function lastMinuteOf(
  runtime: AdminRuntime,
  apiIds: readonly string[],
): Promise<Record<string, NodeStatsWindow>> {
  if (apiIds.length === 0) return {};
  const stats = await runtime.nodeStats(apiIds);
  return Object.fromEntries(apiIds.map((id) => [id, stats[id]!.lastMinute]));
}
