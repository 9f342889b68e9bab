import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ConnectionSettings } from './postgres/connection.js';
import { checkExistingSchema } from './postgres/existing.js';
import { openPostgresStore } from './postgres/store.js';
import { openSqliteStore } from './sqlite/store.js';
import type { Store } from './store.js';

function isPostgres(spec: string): boolean {
  return spec.startsWith('postgres://') || spec.startsWith('postgresql://');
}

/** A `postgres://` store spec split into the connection URL and the `?schema=` it names. */
function postgresSpec(spec: string): { url: string; schema: string | undefined } {
  const url = new URL(spec);
  const schema = url.searchParams.get('schema') ?? undefined;
  url.searchParams.delete('schema');
  return { url: url.toString(), schema };
}

/** Where `spec` puts the store, for messages: the SQLite file, or the URL without its password. */
export function storeLocation(spec: string, dataDir: string): string {
  if (!isPostgres(spec)) return spec === '' ? join(dataDir, 'isogate.db') : spec;
  const url = new URL(spec);
  if (url.password !== '') url.password = '***';
  return url.toString();
}

/**
 * Opens the configured store: a `postgres://` URL (optionally `?schema=`), or the SQLite file under
 * the data dir when none is given. `timeoutMs` bounds a PostgreSQL connect and each operation.
 */
export async function openStore(spec: string, dataDir: string, log: Logger, timeoutMs = 5_000): Promise<Store> {
  if (isPostgres(spec)) {
    // `?schema=name` keeps isogate's tables in their own schema (created when missing).
    const { url, schema } = postgresSpec(spec);
    return openPostgresStore(url, {
      logger: log.child({ component: 'store' }),
      connectTimeoutMs: timeoutMs,
      operationTimeoutMs: timeoutMs,
      ...(schema ? { schema } : {}),
    });
  }
  return openSqliteStore(storeLocation(spec, dataDir), log.child({ component: 'store' }));
}

/**
 * Opens the configured store for a command that only reads it (an export, a dry run): never creates
 * the SQLite file or the PostgreSQL schema and never migrates. Throws StoreNotFoundError when there is
 * no isogate store there, StoreSchemaVersionError when it is at another schema version than this
 * isogate's. `readonly` opens an SQLite file read only (a dry run's rolled-back write needs it writable).
 */
export async function openExistingStore(
  spec: string,
  dataDir: string,
  log: Logger,
  timeoutMs = 5_000,
  readonly = true,
): Promise<Store> {
  const where = storeLocation(spec, dataDir);
  if (isPostgres(spec)) {
    const { url, schema } = postgresSpec(spec);
    const settings: ConnectionSettings = { url, schema: schema || undefined, connectTimeoutMs: timeoutMs };
    await checkExistingSchema(settings, where);
    return openPostgresStore(url, {
      logger: log.child({ component: 'store' }),
      connectTimeoutMs: timeoutMs,
      operationTimeoutMs: timeoutMs,
      migrate: false,
      ...(schema ? { schema } : {}),
    });
  }
  return openSqliteStore(where, log.child({ component: 'store' }), { readonly });
}
