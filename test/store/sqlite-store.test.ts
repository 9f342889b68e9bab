import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from './fixtures.js';
import { describeAuditContract } from './audit-contract.js';
import { describeSecretsAuditContract } from './secrets-audit-contract.js';
import { describeStoreContract, type StoreFixture } from './store-contract.js';

/** A fresh SQLite file in its own temp directory. */
async function freshSqlite(): Promise<StoreFixture> {
  const dir = tempDir();
  const file = join(dir.dir, 'isogate.db');
  const opened: Store[] = [await openSqliteStore(file)];

  /** Runs raw SQL on the same file through a second connection. */
  function raw<T>(fn: (db: Database.Database) => T): T {
    const db = new Database(file);
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }

  return {
    store: opened[0]!,
    async openAnother() {
      const store = await openSqliteStore(file);
      opened.push(store);
      return store;
    },
    async countRows(table, apiId) {
      return raw((db) =>
        apiId === undefined
          ? (db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number)
          : (db.prepare(`SELECT COUNT(*) FROM ${table} WHERE api_id = ?`).pluck().get(apiId) as number),
      );
    },
    async breakSelectorHistory() {
      raw((db) =>
        db.exec(
          "CREATE TRIGGER fail_history BEFORE INSERT ON selector_versions BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
        ),
      );
    },
    async clearAudit() {
      raw((db) => db.exec('DELETE FROM audit_log'));
    },
    async exec(statement) {
      raw((db) => db.exec(statement));
    },
    async dispose() {
      for (const store of opened) await store.close();
      dir.remove();
    },
  };
}

describeStoreContract('SqliteStore', { fresh: freshSqlite });
describeAuditContract('SqliteStore', { fresh: freshSqlite });
describeSecretsAuditContract('SqliteStore', { fresh: freshSqlite });
