import { join } from 'node:path';
import type { Logger } from 'pino';
import { openPostgresStore } from './postgres/store.js';
import { openSqliteStore } from './sqlite/store.js';
import type { Store } from './store.js';

/** Opens the configured store: a `postgres://` URL, or the SQLite file under the data dir when none is given. */
export async function openStore(spec: string, dataDir: string, log: Logger): Promise<Store> {
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) {
    return openPostgresStore(spec, { logger: log.child({ component: 'store' }) });
  }
  return openSqliteStore(spec === '' ? join(dataDir, 'isogate.db') : spec);
}
