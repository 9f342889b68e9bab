import pg from 'pg';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clientConfig } from '../../src/store/postgres/connection.js';
import { migrate, migrations } from '../../src/store/postgres/migrations.js';
import { openPostgresStore } from '../../src/store/postgres/store.js';
import { migrations as sqliteMigrations } from '../../src/store/sqlite/migrations.js';
import { dropSchema, PG_URL, requirePostgres, sql, uniqueSchema } from './pg-fixtures.js';

beforeAll(requirePostgres);

describe('postgres migrations', () => {
  /** A fresh schema per test; the store (or migrate) creates it. */
  let schema: string;
  const clients: pg.Client[] = [];

  beforeEach(() => {
    schema = uniqueSchema();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.end();
    await dropSchema(schema);
  });

  /** A connection whose search_path is the test schema, as the store makes it. */
  async function connect(): Promise<pg.Client> {
    const client = new pg.Client(clientConfig({ url: PG_URL, schema, connectTimeoutMs: 5_000 }, 'test'));
    await client.connect();
    clients.push(client);
    return client;
  }

  async function recorded(): Promise<Array<{ version: number; name: string; applied_at: string }>> {
    return sql('SELECT version, name, applied_at FROM schema_migrations ORDER BY version', [], schema);
  }

  it('has the same versions and names as the SQLite list', () => {
    expect(migrations.map((m) => [m.version, m.name])).toEqual(sqliteMigrations.map((m) => [m.version, m.name]));
  });

  it('applies every migration exactly once when several stores start together on a fresh schema', async () => {
    // allSettled: a failing open must not leave the others running past the schema's drop.
    const opened = await Promise.allSettled(Array.from({ length: 4 }, () => openPostgresStore(PG_URL, { schema })));
    const stores = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      expect(opened.filter((r) => r.status === 'rejected')).toEqual([]);
      const rows = await recorded();
      expect(rows.map((r) => [r.version, r.name])).toEqual(migrations.map((m) => [m.version, m.name]));
      for (const r of rows) expect(Number.isNaN(Date.parse(r.applied_at))).toBe(false);
      expect(await sql('SELECT id, config_version FROM meta', [], schema)).toEqual([{ id: 1, config_version: '0' }]);
      for (const store of stores) expect(await store.version()).toBe(0);
    } finally {
      for (const store of stores) await store.close();
    }
  });

  it('returns the versions it applied, and none the second time', async () => {
    const client = await connect();
    expect(await migrate(client, schema)).toEqual(migrations.map((m) => m.version));
    expect(await migrate(client, schema)).toEqual([]);
  });

  it('applies a later migration on its own and rolls back a failing one completely', async () => {
    const client = await connect();
    await migrate(client, schema);
    const next = migrations.length + 1;
    const broken = [
      ...migrations,
      { version: next, name: 'broken', sql: 'CREATE TABLE extra (x TEXT); INSERT INTO missing_table VALUES (1);' },
    ];
    await expect(migrate(client, schema, broken)).rejects.toThrow(/missing_table/);
    expect(
      await sql('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2', [
        schema,
        'extra',
      ]),
    ).toEqual([]);
    expect((await recorded()).map((r) => r.version)).toEqual(migrations.map((m) => m.version));

    const fixed = [...migrations, { version: next, name: 'extra', sql: 'CREATE TABLE extra (x TEXT);' }];
    expect(await migrate(client, schema, fixed)).toEqual([next]);
    expect(await migrate(client, schema, fixed)).toEqual([]);
    // The advisory lock was released each time, so another session can migrate at once.
    const other = await connect();
    expect(await migrate(other, schema, fixed)).toEqual([]);
  });

  it('refuses a schema migrated by a newer isogate', async () => {
    const store = await openPostgresStore(PG_URL, { schema });
    await store.close();
    await sql(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '2030-01-01T00:00:00.000Z')",
      [],
      schema,
    );
    await expect(openPostgresStore(PG_URL, { schema })).rejects.toThrow(/newer than this isogate supports/);
  });
});
