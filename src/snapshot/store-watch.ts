import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { StoreSpec } from '../config/store-spec.js';
import type { Store } from '../store/store.js';

/**
 * Calls `onWrite` soon after any process commits a config write: through the store's own
 * notifications where the driver has them (PostgreSQL's LISTEN/NOTIFY), else, for SQLite, by
 * watching the database file, so that `isogate gateway` serves a write made by `isogate admin` on the
 * same data dir at once instead of at its next version poll. Callers keep the poll as the safety net
 * (a file system may not report changes). Heartbeats also touch the file; the caller's version check
 * makes those cheap. Returns a function that stops watching.
 */
export function watchStoreWrites(store: Store, spec: StoreSpec, log: Logger, onWrite: () => void): () => void {
  if (store.watch) return store.watch(() => onWrite());
  if (spec.kind !== 'sqlite') return () => undefined;
  return watchSqliteFile(spec.file, log, onWrite);
}

/**
 * Watches a SQLite database for commits from any process: in WAL mode a commit appends to
 * `<file>-wal`, and a checkpoint (or a rollback-journal commit) writes `<file>` itself. The folder is
 * watched, not the files, since the WAL file comes and goes.
 */
export function watchSqliteFile(file: string, log: Logger, onWrite: () => void): () => void {
  const path = resolve(file);
  const names = new Set([basename(path), `${basename(path)}-wal`]);
  let watcher: FSWatcher;
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, name) => {
      if (name === null || names.has(String(name))) onWrite();
    });
  } catch (err) {
    log.warn(
      { err, file: path },
      'cannot watch the SQLite file; writes from other processes arrive with the version poll',
    );
    return () => undefined;
  }
  watcher.on('error', (err) =>
    log.warn(
      { err, file: path },
      'watching the SQLite file failed; writes from other processes arrive with the version poll',
    ),
  );
  return () => watcher.close();
}
