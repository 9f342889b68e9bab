import type { ClusterState, ProcessBeat } from '../../model/cluster.js';
import type { StoredDataError } from '../errors.js';
import { processBeatValues, processesFromRows, type ProcessRow } from '../rows.js';
import type { Statements } from './statements.js';

// The cluster's process rows (heartbeats) on SQLite, timed by the database's clock. Not config: they
// never bump the version.

/** Registers a process or refreshes its row (a validated heartbeat); last seen is now by the database's clock. */
export function upsertProcess(stmt: Statements, beat: ProcessBeat): void {
  stmt.upsertProcess.run(...processBeatValues(beat));
}

/** Removes a process's row; false when there was none. */
export function deleteProcess(stmt: Statements, id: string): boolean {
  return stmt.deleteProcess.run(id).changes > 0;
}

/**
 * Every registered process whose row validates (the others go to `skipped`), with the database's
 * clock at reading (read inside a transaction, one snapshot).
 */
export function listProcesses(stmt: Statements, skipped: (err: StoredDataError) => void): ClusterState {
  return {
    now: stmt.now.get() as string,
    processes: processesFromRows(stmt.listProcesses.all() as ProcessRow[], skipped),
  };
}

/** Deletes the rows not seen for more than `olderThanMs`; returns how many. */
export function pruneProcesses(stmt: Statements, olderThanMs: number): number {
  return stmt.pruneProcesses.run(`-${Math.max(0, olderThanMs) / 1000} seconds`).changes;
}
