import type { ClusterState, ProcessBeat } from '../../model/cluster.js';
import type { StoredDataError } from '../errors.js';
import { processBeatValues, processesFromRows, type ProcessRow } from '../rows.js';
import type { Tx } from './connection.js';
import { SQL } from './sql.js';

// The cluster's process rows (heartbeats) on PostgreSQL, each one statement timed by the database's
// clock. Not config: they never take the meta lock, bump the version or notify.

/** Registers a process or refreshes its row (a validated heartbeat); last seen is now by the database's clock. */
export async function upsertProcess(c: Tx, beat: ProcessBeat): Promise<void> {
  await c.query(SQL.upsertProcess, processBeatValues(beat));
}

/** Removes a process's row; false when there was none. */
export async function deleteProcess(c: Tx, id: string): Promise<boolean> {
  return ((await c.query(SQL.deleteProcess, [id])).rowCount ?? 0) > 0;
}

/** Every registered process whose row validates (the others go to `skipped`), with the database's clock at reading. */
export async function listProcesses(c: Tx, skipped: (err: StoredDataError) => void): Promise<ClusterState> {
  const { rows } = await c.query<ProcessRow & { now: string }>(SQL.listProcesses);
  // With no rows, the clock still has to come from the database.
  const now = rows[0]?.now ?? (await c.query<{ now: string }>(SQL.now)).rows[0]!.now;
  return { now, processes: processesFromRows(rows, skipped) };
}

/** Deletes the rows not seen for more than `olderThanMs`; returns how many. */
export async function pruneProcesses(c: Tx, olderThanMs: number): Promise<number> {
  return (await c.query(SQL.pruneProcesses, [Math.max(0, Math.round(olderThanMs))])).rowCount ?? 0;
}
