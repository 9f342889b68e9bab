import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProcessBeat } from '../../src/model/cluster.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/store.js';
import { apiInput, tempDir } from './fixtures.js';
import { describeAuditContract } from './audit-contract.js';
import { describeSecretsAuditContract } from './secrets-audit-contract.js';
import { describeSelectorBudgetContract } from './selector-budget-contract.js';
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
describeSelectorBudgetContract('SqliteStore', { fresh: freshSqlite });

describe('SqliteStore: its file removed or replaced while open', () => {
  let dir: { dir: string; remove: () => void };
  let file: string;
  const stores: Store[] = [];
  beforeEach(() => {
    dir = tempDir();
    file = join(dir.dir, 'isogate.db');
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    dir.remove();
  });

  async function open(): Promise<Store> {
    const store = await openSqliteStore(file);
    stores.push(store);
    return store;
  }

  /** Removes the database file and its WAL and shared-memory files, as a cleanup script would. */
  function removeFiles(): void {
    for (const f of readdirSync(dir.dir)) if (f.startsWith('isogate.db')) rmSync(join(dir.dir, f));
  }

  it('is healthy while the path names the file it opened', async () => {
    const store = await open();
    await store.createApi(apiInput());
    expect(store.health?.()).toEqual({ connected: true, lastError: null });
  });

  it('removed: every write is refused with STORE_UNAVAILABLE, health says why, reads still answer', async () => {
    const store = await open();
    const api = await store.createApi(apiInput());
    removeFiles();

    for (const write of [
      () => store.createApi(apiInput({ name: 'second', path: '/second/*' })),
      () => store.putVariable('X', '1'),
      () => store.deleteApi(api.id),
      () => store.heartbeat(beat()),
    ]) {
      const err = await write().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
      expect((err as Error).message).toMatch(/was removed/);
    }
    expect(store.health?.().connected).toBe(false);
    expect(store.health?.().lastError).toMatch(/isogate\.db was removed/);
    // The open file still reads: the last config keeps serving.
    expect((await store.loadConfig()).apis.map((a) => a.name)).toEqual(['orders']);
    expect(await store.version()).toBe(1);
    expect(existsSync(file)).toBe(false);
  });

  it('replaced by another database (a restore done with mv): writes are refused, the new file is left as it was', async () => {
    const store = await open();
    await store.createApi(apiInput());
    const other = join(dir.dir, 'restored.db');
    await (await openSqliteStore(other)).close();
    // The old file's WAL goes too (it belongs to the old file), then the restored file takes its path.
    removeFiles();
    renameSync(other, file);

    const err = await store.putVariable('X', '1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toMatch(/was replaced/);
    expect(store.health?.().lastError).toMatch(/was replaced/);
    const fresh = await open();
    expect(await fresh.version()).toBe(0);
    expect(await fresh.listVariables()).toEqual([]);
    expect(fresh.health?.()).toEqual({ connected: true, lastError: null });
  });
});

/** A heartbeat row of this process. */
function beat(): ProcessBeat {
  return {
    id: 'p1',
    host: 'localhost',
    pid: process.pid,
    role: 'start',
    worker: null,
    serves: 'both',
    startedAt: new Date().toISOString(),
    configVersion: 0,
    heartbeatMs: 1000,
  };
}
