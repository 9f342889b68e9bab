import { setTimeout as sleep } from 'node:timers/promises';
import { StoreUnavailableError } from '../errors.js';

/** How long one try waits inside SQLite for another process's write lock (the event loop waits with it). */
export const BUSY_WAIT_MS = 50;
/** How long a write waits in all for another process's write lock, sleeping between tries. */
export const WRITE_LOCK_WAIT_MS = 5_000;

/** What the store says of an SQLite error code that means the file cannot be used now, by the code's family. */
const UNAVAILABLE: Record<string, string> = {
  SQLITE_BUSY: 'another process holds the SQLite write lock',
  SQLITE_LOCKED: 'another process holds the SQLite write lock',
  SQLITE_FULL: 'the disk holding the SQLite file is full',
  SQLITE_READONLY: 'the SQLite file cannot be written',
  SQLITE_IOERR: 'the SQLite file cannot be read or written (I/O error)',
  SQLITE_CANTOPEN: 'the SQLite file cannot be opened',
};

/** The family of an SQLite extended code (`SQLITE_IOERR_WRITE` → `SQLITE_IOERR`), or null. */
function family(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return null;
  const second = code.indexOf('_', 7);
  return second < 0 ? code : code.slice(0, second);
}

/**
 * `err` as the store reports it: a file that cannot be used now (locked by another writer, a full
 * disk, read-only, failing I/O) is a StoreUnavailableError (503, nothing written), not a bug.
 */
export function sqliteFault(err: unknown): unknown {
  const f = family(err);
  const message = f === null ? undefined : UNAVAILABLE[f];
  return message === undefined ? err : new StoreUnavailableError(message, { cause: err });
}

/**
 * Runs `tryOnce` (a write transaction) until it does not fail on another process's write lock: each
 * try waits BUSY_WAIT_MS at most inside SQLite, and the tries sleep in between without holding the
 * event loop, WRITE_LOCK_WAIT_MS in all. A write lock is taken before anything is written, so a
 * try that failed on it wrote nothing.
 */
export async function withWriteLock<T>(tryOnce: () => T): Promise<T> {
  const deadline = performance.now() + WRITE_LOCK_WAIT_MS;
  for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
    try {
      return tryOnce();
    } catch (err) {
      const f = family(err);
      if ((f !== 'SQLITE_BUSY' && f !== 'SQLITE_LOCKED') || performance.now() + pause >= deadline)
        throw sqliteFault(err);
    }
    await sleep(pause);
  }
}
