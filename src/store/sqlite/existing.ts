import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { StoreNotFoundError, StoreSchemaVersionError } from '../errors.js';
import { BUSY_WAIT_MS } from './faults.js';
import { migrations } from './migrations.js';

/** How a command that only reads opens an SQLite store. */
export interface ExistingSqliteOptions {
  /** Open the file read only (an export); false for a dry run, whose rolled-back write needs a writable file. */
  readonly readonly: boolean;
}

/**
 * Opens the isogate database `file` for a command that only reads it: never creates the file, never
 * migrates it. Throws StoreNotFoundError when there is no such file or it holds no isogate tables, and
 * StoreSchemaVersionError when its schema is older or newer than this isogate's.
 */
export function openExistingDatabase(file: string, options: ExistingSqliteOptions): Database.Database {
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch {
    throw new StoreNotFoundError(`no isogate store at ${file} (no such file); nothing was created`);
  }
  if (!isFile) throw new StoreNotFoundError(`no isogate store at ${file} (not a file)`);
  const db = new Database(file, { fileMustExist: true, readonly: options.readonly });
  try {
    db.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
    db.pragma('foreign_keys = ON');
    const table = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', 'meta')")
      .all();
    if (table.length < 2)
      throw new StoreNotFoundError(`no isogate store at ${file} (the file holds no isogate tables)`);
    const { v } = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
    const supported = migrations.at(-1)?.version ?? 0;
    if ((v ?? 0) !== supported) throw new StoreSchemaVersionError(file, v ?? 0, supported);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
