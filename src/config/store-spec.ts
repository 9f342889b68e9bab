import { join } from 'node:path';

/** Where the config lives, as `--store` names it. */
export type StoreSpec = { kind: 'postgres'; url: string } | { kind: 'sqlite'; file: string };

/** Thrown for a `--store` value isogate has no driver for; the message says which values work. */
export class UnsupportedStoreError extends Error {}

/**
 * Reads `--store`: empty for the SQLite file under the data dir, a `postgres://` (or
 * `postgresql://`) URL, or a SQLite file path. Any other URL scheme (`mysql://`, `redis://`) is an
 * unsupported store, named as such, rather than a SQLite path whose folder does not exist.
 */
export function parseStoreSpec(spec: string, dataDir: string): StoreSpec {
  if (spec === '') return { kind: 'sqlite', file: join(dataDir, 'isogate.db') };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return { kind: 'postgres', url: spec };
  if (scheme !== undefined) {
    throw new UnsupportedStoreError(
      `unsupported store ${scheme}:// (isogate stores its config in PostgreSQL, as postgres://user@host/db, or in a SQLite file path)`,
    );
  }
  return { kind: 'sqlite', file: spec };
}
