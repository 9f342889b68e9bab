import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
      const rows = db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as Array<{
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
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '2030-01-01T00:00:00.000Z')").run();
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
});
