import { join } from 'node:path';
import type { Logger } from 'pino';
import { openPostgresStore } from './postgres/store.js';
import { openSqliteStore } from './sqlite/store.js';
import type { Store } from './store.js';

/**
 * Opens the configured store: a `postgres://` URL (optionally `?schema=`), or the SQLite file under
 * the data dir when none is given. `timeoutMs` bounds a PostgreSQL connect and each operation.
 */
export async function openStore(spec: string, dataDir: string, log: Logger, timeoutMs = 5_000): Promise<Store> {
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) {
    // `?schema=name` keeps isogate's tables in their own schema (created when missing).
    const url = new URL(spec);
    const schema = url.searchParams.get('schema') ?? undefined;
    url.searchParams.delete('schema');
    return openPostgresStore(url.toString(), {
      logger: log.child({ component: 'store' }),
      connectTimeoutMs: timeoutMs,
      operationTimeoutMs: timeoutMs,
      ...(schema ? { schema } : {}),
    });
  }
  return openSqliteStore(spec === '' ? join(dataDir, 'isogate.db') : spec, log.child({ component: 'store' }));
}
