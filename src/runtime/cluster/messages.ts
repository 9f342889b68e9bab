import type { NodeStatsSlot, NodeStatsView, NodeStatsWindow } from '../../gateway/node-stats.js';
import type { RedisStatus } from '../../access/limits/redis.js';
import type { SelectorStatus } from '../../selector/types.js';
import type { ConfigLoadError } from '../../snapshot/holder.js';
import type { SelectorBudgetView } from '../selector-status.js';

/** Primary → worker. Every request carries an id its answer repeats. */
export type ToWorker =
  | { t: 'refresh'; id: number }
  | { t: 'selectorStatuses'; id: number; apiIds: string[] }
  | { t: 'nodeStats'; id: number; nodeIds: string[] }
  | { t: 'metrics'; id: number }
  | { t: 'nodeHealth'; id: number; nodeIds: string[] }
  /** The primary's liveness check (watchdog.ts): answered with a pong at once. */
  | { t: 'ping'; id: number };

/** A request to workers before the primary gives it an id. */
export type WorkerQuery =
  Exclude<ToWorker, { t: 'ping' }> extends infer T ? (T extends ToWorker ? Omit<T, 'id'> : never) : never;

/** Worker → primary. */
export type FromWorker =
  | { t: 'ready'; version: number }
  | { t: 'version'; version: number }
  | { t: 'failed'; flag: string | null; message: string }
  | { t: 'redis'; status: RedisStatus }
  /** Why its loads of the stored config fail now, or null once one works. */
  | { t: 'config'; error: ConfigLoadError | null }
  /** Its selector budget and the selectors it left out, when that changes. */
  | { t: 'selectors'; view: SelectorBudgetView | null }
  | { t: 'answer'; id: number; value: unknown; error?: string }
  | { t: 'pong'; id: number };

/** Environment variable carrying the parsed options to workers. */
export const WORKER_OPTIONS_ENV = 'ISOGATE_WORKER_OPTIONS';

/**
 * One selector status for the whole machine: quarantined where any worker quarantined it, else not
 * started where any worker left it out for its budget, counts summed.
 */
export function mergeSelectorStatus(parts: ReadonlyArray<SelectorStatus | null>): SelectorStatus | null {
  const present = parts.filter((p): p is SelectorStatus => p !== null);
  if (present.length === 0) return null;
  const quarantinedAt =
    present
      .map((p) => p.quarantinedAt)
      .filter((q): q is string => q !== null)
      .sort()[0] ?? null;
  const notStarted = present.find((p) => p.state === 'over-budget')?.notStarted;
  return {
    state: present.some((p) => p.state === 'quarantined')
      ? 'quarantined'
      : notStarted !== undefined
        ? 'over-budget'
        : 'active',
    ...(notStarted === undefined ? {} : { notStarted }),
    calls: present.reduce((n, p) => n + p.calls, 0),
    failures: present.reduce((n, p) => n + p.failures, 0),
    quarantinedAt,
    lastErrors: present
      .flatMap((p) => p.lastErrors)
      .sort((a, b) => (a.at < b.at ? 1 : -1))
      .slice(0, 10),
    // Every worker analyses the same code the same way; memoized only where all of them memoize.
    memoization: {
      ...present[0]!.memoization,
      active: present.every((p) => p.memoization.active),
      reason: present.find((p) => p.memoization.reason !== null)?.memoization.reason ?? null,
    },
    ...mergeCache(present),
  };
}

/** `mergeSelectorStatus` of each API over the workers' answers to one `selectorStatuses` ask. */
export function mergeSelectorStatuses(
  parts: ReadonlyArray<Record<string, SelectorStatus | null>>,
  apiIds: readonly string[],
): Record<string, SelectorStatus | null> {
  return Object.fromEntries(apiIds.map((id) => [id, mergeSelectorStatus(parts.map((p) => p[id] ?? null))]));
}

function mergeCache(present: readonly SelectorStatus[]): Pick<SelectorStatus, 'cache'> {
  const caches = present.map((p) => p.cache).filter((c) => c !== undefined);
  if (caches.length === 0) return {};
  const sum = (key: keyof NonNullable<SelectorStatus['cache']>) => caches.reduce((n, c) => n + c[key], 0);
  return {
    cache: {
      hits: sum('hits'),
      misses: sum('misses'),
      entries: sum('entries'),
      refused: sum('refused'),
      uncacheable: sum('uncacheable'),
      verified: sum('verified'),
      mismatches: sum('mismatches'),
      skipped: sum('skipped'),
    },
  };
}

function mergeWindow(parts: readonly NodeStatsWindow[]): NodeStatsWindow {
  const requests = parts.reduce((n, p) => n + p.requests, 0);
  const errors = parts.reduce((n, p) => n + p.errors, 0);
  const p99s = parts.map((p) => p.p99Ms).filter((p): p is number => p !== null);
  return {
    requests,
    errors,
    rps: parts.reduce((n, p) => n + p.rps, 0),
    errorRate: requests > 0 ? errors / requests : 0,
    // Workers keep separate histograms; the slowest worker's p99 bounds the machine's from above.
    p99Ms: p99s.length > 0 ? Math.max(...p99s) : null,
  };
}

// Slots are aligned on wall-clock 10-s boundaries, so workers' slots match by start time; a worker
// that answered just after a boundary has one newer slot, and the newest ones are kept.
function mergeRecent(parts: ReadonlyArray<readonly NodeStatsSlot[]>): NodeStatsSlot[] {
  const byAt = new Map<number, NodeStatsSlot>();
  for (const slots of parts) {
    for (const slot of slots) {
      const seen = byAt.get(slot.at);
      if (!seen) byAt.set(slot.at, { ...slot });
      else {
        seen.requests += slot.requests;
        seen.errors += slot.errors;
        seen.p99Ms =
          seen.p99Ms === null ? slot.p99Ms : slot.p99Ms === null ? seen.p99Ms : Math.max(seen.p99Ms, slot.p99Ms);
      }
    }
  }
  const length = Math.max(0, ...parts.map((p) => p.length));
  return [...byAt.values()].sort((a, b) => a.at - b.at).slice(-length);
}

/** Node stats summed over workers. */
export function mergeNodeStats(
  parts: ReadonlyArray<Record<string, NodeStatsView>>,
  nodeIds: readonly string[],
): Record<string, NodeStatsView> {
  return Object.fromEntries(
    nodeIds.map((id) => {
      const views = parts.map((p) => p[id]).filter((v): v is NodeStatsView => v !== undefined);
      return [
        id,
        {
          lastMinute: mergeWindow(views.map((v) => v.lastMinute)),
          lastFiveMinutes: mergeWindow(views.map((v) => v.lastFiveMinutes)),
          recent: mergeRecent(views.map((v) => v.recent)),
          upgraded: views.reduce((n, v) => n + (v.upgraded ?? 0), 0),
        },
      ];
    }),
  );
}
