import { z } from 'zod';

/** The command a process was started as. */
export const ProcessRole = z.enum(['start', 'gateway', 'admin']);
export type ProcessRole = z.infer<typeof ProcessRole>;

/** What a registered process serves: gateway traffic, the admin API, or both (`start --workers 0`). */
export const ProcessServes = z.enum(['gateway', 'admin', 'both']);
export type ProcessServes = z.infer<typeof ProcessServes>;

/** What a process reports in each heartbeat; the store adds when it last heard from it. */
export const ProcessBeat = z.strictObject({
  /** Random per process start, so a restarted process (same pid or not) is a new row. */
  id: z.string().min(1).max(128),
  host: z.string().min(1).max(255),
  pid: z.number().int().positive(),
  role: ProcessRole,
  /** Worker number (1..N) of a `--workers N` gateway worker; null for a process that is no worker. */
  worker: z.number().int().min(1).max(64).nullable(),
  serves: ProcessServes,
  startedAt: z.iso.datetime(),
  /** The config version it serves (or, for an admin process, has loaded); null before the first load. */
  configVersion: z.number().int().min(0).nullable(),
  /** Its heartbeat interval: readers call it stale after a few of these without news. */
  heartbeatMs: z.number().int().min(50).max(600_000),
});
export type ProcessBeat = z.infer<typeof ProcessBeat>;

/** A registered process as stored: its last beat and when the store received it (by the store's clock). */
export const ClusterProcess = ProcessBeat.extend({ lastSeen: z.iso.datetime() });
export type ClusterProcess = z.infer<typeof ClusterProcess>;

/** Every registered process, with the store's clock when they were read (ages never depend on the reader's clock). */
export interface ClusterState {
  readonly now: string;
  readonly processes: readonly ClusterProcess[];
}

/** A process is stale once this many of its heartbeat intervals passed without a beat. */
export const STALE_AFTER_BEATS = 3;

/** Rows not seen for this long are deleted (a process that vanished without a clean stop). */
export const PRUNE_AFTER_MS = 60 * 60 * 1000;

/** Whether a process still beats: `alive`, or `stale` after STALE_AFTER_BEATS missed intervals. */
export const ProcessState = z.enum(['alive', 'stale']);
export type ProcessState = z.infer<typeof ProcessState>;

/** The state of `process` at the store's time `now`, and how long ago it was last seen. */
export function processState(process: ClusterProcess, now: string): { state: ProcessState; ageMs: number } {
  const ageMs = Math.max(0, Date.parse(now) - Date.parse(process.lastSeen));
  return { state: ageMs > STALE_AFTER_BEATS * process.heartbeatMs ? 'stale' : 'alive', ageMs };
}

/** One process of `GET /admin/cluster`: its last heartbeat, its state and how long ago it beat. */
export const ClusterProcessView = ClusterProcess.extend({
  state: ProcessState,
  ageMs: z.number().int().min(0),
});
export type ClusterProcessView = z.infer<typeof ClusterProcessView>;

/** The body of `GET /admin/cluster`. */
export const ClusterView = z.strictObject({
  /** The store's clock when it was read (ages are measured against it). */
  now: z.iso.datetime(),
  /** The stored config version: what every alive process should be serving. */
  configVersion: z.number().int().min(0),
  staleAfterBeats: z.number().int().positive(),
  processes: z.array(ClusterProcessView),
});
export type ClusterView = z.infer<typeof ClusterView>;
