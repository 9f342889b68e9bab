import { ClusterProcess, type ProcessBeat } from '../model/cluster.js';
import { AdminToken } from '../model/token.js';
import { StoredDataError } from './errors.js';
import { fromStored } from './stored-data.js';

// The rows of admin tokens and process heartbeats and their mapping, shared by every driver (see
// rows.ts).

/** A `processes` row (a heartbeat). */
export interface ProcessRow {
  id: string;
  host: string;
  pid: number;
  role: string;
  worker: number | null;
  serves: string;
  started_at: string;
  config_version: number | null;
  heartbeat_ms: number;
  last_seen: string;
}

/** An `admin_tokens` row. */
export interface TokenRow {
  id: string;
  name: string;
  name_key: string;
  role: string;
  secret_hash: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** The columns of a token row, in insert order. */
export const TOKEN_COLUMNS = [
  'id',
  'name',
  'name_key',
  'role',
  'secret_hash',
  'created_by',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof TokenRow>;

/** Maps an `admin_tokens` row to the model (without the hash). */
export function tokenFromRow(row: TokenRow): AdminToken {
  return fromStored('admin token', row.id, () =>
    AdminToken.parse({
      id: row.id,
      name: row.name,
      role: row.role,
      createdBy: row.created_by,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }),
  );
}

/** Maps a validated token and its secret's hash to its row. */
export function tokenToRow(token: AdminToken, secretHash: string): TokenRow {
  return {
    id: token.id,
    name: token.name,
    name_key: token.name.normalize('NFC').toLowerCase(),
    role: token.role,
    secret_hash: secretHash,
    created_by: token.createdBy,
    created_at: token.createdAt,
    updated_at: token.updatedAt,
  };
}

/** The columns a heartbeat writes, in order; last_seen is set by the store's clock. */
export const PROCESS_BEAT_COLUMNS = [
  'id',
  'host',
  'pid',
  'role',
  'worker',
  'serves',
  'started_at',
  'config_version',
  'heartbeat_ms',
] as const satisfies ReadonlyArray<keyof ProcessRow>;

/** Maps a validated heartbeat to its column values, in PROCESS_BEAT_COLUMNS order. */
export function processBeatValues(beat: ProcessBeat): unknown[] {
  return [
    beat.id,
    beat.host,
    beat.pid,
    beat.role,
    beat.worker,
    beat.serves,
    beat.startedAt,
    beat.configVersion,
    beat.heartbeatMs,
  ];
}

/** Maps a `processes` row to the model. */
export function processFromRow(row: ProcessRow): ClusterProcess {
  return fromStored('process', row.id, () =>
    ClusterProcess.parse({
      id: row.id,
      host: row.host,
      pid: row.pid,
      role: row.role,
      worker: row.worker,
      serves: row.serves,
      startedAt: row.started_at,
      configVersion: row.config_version,
      heartbeatMs: row.heartbeat_ms,
      lastSeen: row.last_seen,
    }),
  );
}

/**
 * The processes of `rows` that read back valid, in order. A row that does not (a role a newer isogate
 * added, a hand-edited row) is handed to `skipped` and left out, so it cannot hide every other process;
 * the prune removes it once it is stale.
 */
export function processesFromRows(
  rows: readonly ProcessRow[],
  skipped: (err: StoredDataError) => void,
): ClusterProcess[] {
  const processes: ClusterProcess[] = [];
  for (const row of rows) {
    try {
      processes.push(processFromRow(row));
    } catch (err) {
      if (!(err instanceof StoredDataError)) throw err;
      skipped(err);
    }
  }
  return processes;
}
