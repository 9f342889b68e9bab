import Database from 'better-sqlite3';
import { BUSY_WAIT_MS, withWriteLock } from './faults.js';
import { FileIdentity } from './file-identity.js';
import { migrate } from './migrations.js';

/** An open, migrated SQLite connection and the identity of the file it opened. */
export interface SqliteConnection {
  readonly db: Database.Database;
  readonly identity: FileIdentity;
}

/**
 * Opens (creating if needed) the database file in WAL mode and applies pending migrations. An
 * up-to-date file in WAL mode is only read, so a start never waits for another process's writes;
 * switching to WAL and migrating take the write lock as writes do (withWriteLock: BUSY_WAIT_MS per
 * try inside SQLite, WRITE_LOCK_WAIT_MS in all, the event loop free between tries).
 */
export async function connectSqlite(file: string): Promise<SqliteConnection> {
  // better-sqlite3 waits 5 s by default inside one call, holding the event loop: set our short wait first.
  const db = new Database(file, { timeout: BUSY_WAIT_MS });
  try {
    const identity = FileIdentity.record(file);
    if (db.pragma('journal_mode', { simple: true }) !== 'wal')
      await withWriteLock(() => db.pragma('journal_mode = WAL'));
    db.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
    db.pragma('foreign_keys = ON');
    // NORMAL is durable across application crashes in WAL mode; only an OS crash may lose the last commit.
    db.pragma('synchronous = NORMAL');
    await withWriteLock(() => migrate(db));
    return { db, identity };
  } catch (err) {
    db.close();
    throw err;
  }
}
