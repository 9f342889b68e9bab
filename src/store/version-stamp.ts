import { randomUUID } from 'node:crypto';
import type { ConfigStamp } from './store.js';

// The identity of a config version, shared by both drivers: written with every bump, read with the
// number in one row read of `meta`.

/** The meta row's version columns, as either driver returns them. */
export interface StampRow {
  readonly config_version: number;
  readonly version_token: string | null;
}

/** A fresh token for the version a write is about to make. */
export function newVersionToken(): string {
  return randomUUID();
}

/** The stamp of a meta row; throws when the schema has no meta row (not migrated). */
export function stampFromRow(row: StampRow | undefined): ConfigStamp {
  if (row === undefined) throw new Error('the store schema has no meta row; is it migrated?');
  return { version: row.config_version, token: row.version_token ?? null };
}
