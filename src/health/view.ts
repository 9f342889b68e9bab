import type { ApiHealth } from '../model/health.js';

/** Where a health answer comes from: this process's data plane, its gateway workers, or nowhere (an admin-only process). */
export type HealthSource = 'process' | 'workers' | 'none';

/** A node's health: taking traffic, out by active probes, or ejected by passive checks; unknown where nothing serves. */
export type HealthState = 'healthy' | 'unhealthy' | 'ejected' | 'unknown';

/** One active probe's outcome. */
export interface ProbeResult {
  /** ISO time the probe finished. */
  at: string;
  ok: boolean;
  /** The node's status, or null when it did not answer. */
  status: number | null;
  /** Why it failed without a status (`ECONNREFUSED`, `timeout`), else null. */
  error: string | null;
  ms: number;
}

/** A node's health as the admin API, the console and metrics read it. */
export interface NodeHealthView {
  state: HealthState;
  /** Why it is in this state (for healthy: how it came back), null when it never changed. */
  reason: string | null;
  /** ISO time of the last state change, null when it never changed. */
  since: string | null;
  /** Ejections in a row (the backoff multiplier: the next ejection lasts base × this + 1, capped). */
  ejections: number;
  /** ISO time the current ejection ends, null when not ejected. */
  ejectedUntil: string | null;
  /** Failed requests in a row so far (passive checks). */
  consecutiveFailures: number;
  /** Null when the API has no active checks or none ran yet. */
  lastProbe: ProbeResult | null;
  /** Requests to the node in flight now. */
  inFlight: number;
}

/** How many gateway processes see a node in each state (present when the view merges workers). */
export type HealthVotes = Record<Exclude<HealthState, 'unknown'>, number>;

/** A node's health merged over the gateway workers of a machine. */
export interface MergedNodeHealthView extends NodeHealthView {
  workers?: HealthVotes;
}

const SEVERITY: Record<HealthState, number> = { unknown: 0, healthy: 1, unhealthy: 2, ejected: 3 };

/**
 * Merges the workers' views of each node: the worst state any worker sees wins (each worker probes
 * and ejects on its own, so one worker's ejection is real traffic avoiding that node), with its
 * reason and times; counts and in-flight requests are summed, `workers` says how many see what.
 */
export function mergeNodeHealth(
  parts: ReadonlyArray<Record<string, NodeHealthView>>,
  nodeIds: readonly string[],
): Record<string, MergedNodeHealthView> {
  return Object.fromEntries(
    nodeIds.map((id) => {
      const views = parts.map((p) => p[id]).filter((v): v is NodeHealthView => v !== undefined);
      if (views.length === 0) return [id, unknownHealth('no gateway worker answered')];
      const worst = views.reduce((a, b) => (SEVERITY[b.state] > SEVERITY[a.state] ? b : a));
      const probes = views.map((v) => v.lastProbe).filter((p): p is ProbeResult => p !== null);
      const workers: HealthVotes = { healthy: 0, unhealthy: 0, ejected: 0 };
      for (const v of views) if (v.state !== 'unknown') workers[v.state]++;
      return [
        id,
        {
          ...worst,
          ejections: Math.max(...views.map((v) => v.ejections)),
          consecutiveFailures: Math.max(...views.map((v) => v.consecutiveFailures)),
          lastProbe: probes.sort((a, b) => (a.at < b.at ? 1 : -1))[0] ?? null,
          inFlight: views.reduce((n, v) => n + v.inFlight, 0),
          workers,
        },
      ];
    }),
  );
}

/** The view of a node nobody here keeps health for. */
export function unknownHealth(reason: string): NodeHealthView {
  return {
    state: 'unknown',
    reason,
    since: null,
    ejections: 0,
    ejectedUntil: null,
    consecutiveFailures: 0,
    lastProbe: null,
    inFlight: 0,
  };
}

/** One node in `GET /admin/apis/:id/health`. */
export type NodeHealthEntry = { id: string; name: string; enabled: boolean } & MergedNodeHealthView;

/** `GET /admin/apis/:id/health`. */
export interface ApiHealthReport {
  apiId: string;
  /** `process`: this process serves traffic; `workers`: merged over its gateway workers; `none`: no view here (admin-only). */
  source: HealthSource;
  settings: ApiHealth;
  nodes: NodeHealthEntry[];
}
