import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { WRITE_LOCK_WAIT_MS } from '../../src/store/sqlite/faults.js';
import { migrate, migrations } from '../../src/store/sqlite/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import { tempDir } from './fixtures.js';

describe('sqlite migrations', () => {
  let dir: { dir: string; remove: () => void };
  let file: string;

  beforeEach(() => {
    dir = tempDir();
    file = join(dir.dir, 'isogate.db');
  });
  afterEach(() => dir.remove());

  it('applies every migration exactly once across reopenings of the same file', async () => {
    for (let i = 0; i < 2; i++) {
      const store = await openSqliteStore(file);
      await store.close();
    }
    const db = new Database(file, { readonly: true });
    try {
      const rows = db
        .prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')
        .all() as Array<{
        version: number;
        name: string;
        applied_at: string;
      }>;
      expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
      expect(rows.map((r) => r.name)).toEqual(migrations.map((m) => m.name));
      for (const r of rows) expect(Number.isNaN(Date.parse(r.applied_at))).toBe(false);
      expect(db.prepare('SELECT COUNT(*) FROM meta').pluck().get()).toBe(1);
    } finally {
      db.close();
    }
  });

  it('migration 2: an API stored before it reads with the default retry and health settings and no hash key', async () => {
    const db = new Database(file);
    migrate(db, migrations.slice(0, 1));
    db.prepare(
      `INSERT INTO apis (id, name, name_key, host, methods, path, strip_prefix, algorithm, timeouts, retries, max_body_bytes, selector, created_at, updated_at)
      VALUES ('old', 'old', 'old', NULL, '["GET"]', '/old', 0, 'round_robin', '{"connectMs":1,"headersMs":2,"bodyMs":3}', 2, 10, NULL, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
    ).run();
    db.close();
    const store = await openSqliteStore(file);
    try {
      const api = await store.getApi('old');
      expect(api).toMatchObject({
        retries: 2,
        hashOn: null,
        retry: { statuses: [502, 503, 504], deadlineMs: null },
        health: { active: null, panic: 'use-all' },
      });
      expect(api!.health.passive).toMatchObject({ consecutiveFailures: 5 });
      // A write stores the settings in full from then on.
      await store.updateApi('old', (a) => ({ ...a, retries: 3 }));
      const raw = new Database(file, { readonly: true });
      expect(JSON.parse(raw.prepare("SELECT retry FROM apis WHERE id = 'old'").pluck().get() as string)).toEqual(
        api!.retry,
      );
      raw.close();
    } finally {
      await store.close();
    }
  });

  it('returns the versions it applied, and none the second time', () => {
    const db = new Database(file);
    try {
      expect(migrate(db)).toEqual(migrations.map((m) => m.version));
      expect(migrate(db)).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('applies a later migration on its own and rolls back a failing one completely', () => {
    const db = new Database(file);
    try {
      migrate(db);
      const next = migrations.length + 1;
      const broken = [
        ...migrations,
        { version: next, name: 'broken', sql: 'CREATE TABLE extra (x TEXT); INSERT INTO missing_table VALUES (1);' },
      ];
      expect(() => migrate(db, broken)).toThrow(/missing_table/);
      expect(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'extra'").pluck().get()).toBe(0);
      expect(db.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get()).toBe(migrations.length);

      const fixed = [...migrations, { version: next, name: 'extra', sql: 'CREATE TABLE extra (x TEXT);' }];
      expect(migrate(db, fixed)).toEqual([next]);
      expect(migrate(db, fixed)).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('refuses a database migrated by a newer isogate', async () => {
    const store = await openSqliteStore(file);
    await store.close();
    const db = new Database(file);
    db.prepare(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '2030-01-01T00:00:00.000Z')",
    ).run();
    db.close();
    await expect(openSqliteStore(file)).rejects.toThrow(/newer than this isogate supports/);
  });

  it('puts the file in WAL mode', async () => {
    const store = await openSqliteStore(file);
    await store.close();
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  describe('while another connection holds the write lock', () => {
    /** A second connection holding the write lock (BEGIN IMMEDIATE); release() commits, idempotently. */
    function holdWriteLock(): { release: () => void } {
      const holder = new Database(file);
      holder.exec('BEGIN IMMEDIATE');
      return {
        release() {
          if (!holder.open) return;
          holder.exec('COMMIT');
          holder.close();
        },
      };
    }

    it('an up-to-date file opens at once: nothing pending takes no write lock', async () => {
      await (await openSqliteStore(file)).close();
      const lock = holdWriteLock();
      try {
        const started = performance.now();
        const store = await openSqliteStore(file);
        expect(performance.now() - started).toBeLessThan(1_000);
        expect(await store.version()).toBe(0);
        await store.close();
      } finally {
        lock.release();
      }
    });

    it('pending migrations wait for the lock in short tries, and the event loop runs meanwhile', async () => {
      const db = new Database(file);
      migrate(db, migrations.slice(0, 1));
      db.close();
      const lock = holdWriteLock();
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 10);
      try {
        const released = new Promise<void>((resolve) =>
          setTimeout(() => {
            lock.release();
            resolve();
          }, 400),
        );
        const store = await openSqliteStore(file);
        await released;
        expect(ticks).toBeGreaterThan(5);
        await store.close();
      } finally {
        clearInterval(ticker);
        lock.release();
      }
      const check = new Database(file, { readonly: true });
      try {
        expect(check.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(
          migrations.map((m) => m.version),
        );
      } finally {
        check.close();
      }
    });

    it(`a lock held past ${WRITE_LOCK_WAIT_MS} ms fails the open with StoreUnavailableError; nothing is migrated`, async () => {
      const db = new Database(file);
      migrate(db, migrations.slice(0, 1));
      db.close();
      const lock = holdWriteLock();
      try {
        const started = performance.now();
        const err = await openSqliteStore(file).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect((err as Error).message).toMatch(/write lock/);
        expect(performance.now() - started).toBeGreaterThanOrEqual(WRITE_LOCK_WAIT_MS - 500);
      } finally {
        lock.release();
      }
      const check = new Database(file, { readonly: true });
      try {
        expect(check.prepare('SELECT version FROM schema_migrations').pluck().all()).toEqual([1]);
      } finally {
        check.close();
      }
    }, 15_000);
  });
});
