import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreNotFoundError, StoreSchemaVersionError, StoreUnavailableError } from '../../src/store/errors.js';
import { openExistingStore, storeLocation } from '../../src/store/open.js';
import { clientConfig } from '../../src/store/postgres/connection.js';
import { migrate as migratePg, migrations as pgMigrations } from '../../src/store/postgres/migrations.js';
import { openPostgresStore } from '../../src/store/postgres/store.js';
import { migrate as migrateSqlite, migrations as sqliteMigrations } from '../../src/store/sqlite/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import { configCli } from '../helpers/config-cli.js';
import { apiInput, tempDir } from './fixtures.js';
import { dropSchema, PG_URL, requirePostgres, sql, uniqueSchema } from './pg-fixtures.js';

// Commands that only read the store (config export, config apply --dry-run) open it as it is: a store
// that does not exist is refused and not created, one of another schema version is refused and not
// migrated. And a PostgreSQL schema dropped under an open store is a store failure, not a bad query.
// Real SQLite files and the real PostgreSQL; every dir and schema made here is removed.

const log = pino({ level: 'silent' });
const cleanups: Array<() => unknown> = [];

beforeAll(() => requirePostgres());
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function dir(): string {
  const d = tempDir('isogate-open-existing-');
  cleanups.push(d.remove);
  return d.dir;
}

function schemaForTest(): string {
  const schema = uniqueSchema();
  cleanups.push(() => dropSchema(schema));
  return schema;
}

const pgSpec = (schema: string) => `${PG_URL}?schema=${schema}`;
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A schema migrated to `count` migrations by hand. */
async function oldSchema(schema: string, count: number): Promise<void> {
  const client = new pg.Client(clientConfig({ url: PG_URL, schema, connectTimeoutMs: 5_000 }, 'test'));
  client.on('error', () => undefined);
  await client.connect();
  try {
    await migratePg(client, schema, pgMigrations.slice(0, count));
  } finally {
    await client.end();
  }
}

describe('opening an SQLite store for a read', () => {
  it('refuses a missing file, a directory and a file without isogate tables; creates or changes nothing', async () => {
    const d = dir();
    await expect(openExistingStore('', d, log)).rejects.toThrow(
      new StoreNotFoundError(`no isogate store at ${join(d, 'isogate.db')} (no such file); nothing was created`),
    );
    await expect(openExistingStore(join(d, 'typo.db'), d, log, 5_000, false)).rejects.toBeInstanceOf(
      StoreNotFoundError,
    );
    expect(readdirSync(d)).toEqual([]);

    mkdirSync(join(d, 'sub'));
    await expect(openExistingStore(join(d, 'sub'), d, log)).rejects.toThrow(/no isogate store at .*sub \(not a file\)/);

    const empty = join(d, 'empty.db');
    writeFileSync(empty, '');
    const other = join(d, 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE things (x)');
    db.close();
    const before = sha(other);
    for (const file of [empty, other])
      await expect(openExistingStore(file, d, log)).rejects.toThrow(/no isogate store at .* holds no isogate tables/);
    expect(readFileSync(empty).length).toBe(0);
    expect(sha(other)).toBe(before);
  });

  it('refuses an older database without migrating it, and a newer one', async () => {
    const file = join(dir(), 'isogate.db');
    const db = new Database(file);
    migrateSqlite(db, sqliteMigrations.slice(0, 6));
    db.close();
    const refused = await openExistingStore(file, '', log).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StoreSchemaVersionError);
    expect((refused as StoreSchemaVersionError).code).toBe('STORE_SCHEMA_OLDER');
    expect((refused as Error).message).toBe(
      `the store at ${file} is at schema version 6, this isogate needs 7: start isogate of this version to upgrade it (this command never migrates)`,
    );
    const check = new Database(file, { readonly: true });
    expect(check.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
    check.close();

    (await openSqliteStore(file)).close();
    const up = new Database(file);
    up.prepare("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01T00:00:00.000Z')").run();
    up.close();
    await expect(openExistingStore(file, '', log)).rejects.toThrow(/schema version 99, newer than this isogate/);
  });

  it('reads a database of this version, read only for an export', async () => {
    const file = join(dir(), 'isogate.db');
    const store = await openSqliteStore(file);
    await store.createApi(apiInput({ name: 'kept', path: '/kept' }));
    await store.close();
    const reader = await openExistingStore(file, '', log);
    try {
      expect((await reader.loadConfig()).apis.map((a) => a.name)).toEqual(['kept']);
      await expect(reader.createApi(apiInput({ name: 'other', path: '/other' }))).rejects.toThrow();
    } finally {
      await reader.close();
    }
  });
});

describe('opening a PostgreSQL store for a read', () => {
  it('refuses a missing schema and one without isogate tables; creates nothing', async () => {
    const missing = schemaForTest();
    await expect(openExistingStore(pgSpec(missing), '', log)).rejects.toThrow(
      new StoreNotFoundError(`no isogate store at ${pgSpec(missing)} (the schema ${missing} does not exist)`),
    );
    expect(await sql('SELECT 1 FROM pg_namespace WHERE nspname = $1', [missing])).toEqual([]);

    const bare = schemaForTest();
    await sql(`CREATE SCHEMA ${bare}`);
    await expect(openExistingStore(pgSpec(bare), '', log)).rejects.toThrow(/holds no isogate tables/);
    expect(await sql('SELECT 1 FROM pg_tables WHERE schemaname = $1', [bare])).toEqual([]);
  });

  it('refuses an older schema without migrating it, and a newer one', async () => {
    const schema = schemaForTest();
    await oldSchema(schema, 6);
    const refused = await openExistingStore(pgSpec(schema), '', log).catch((err: unknown) => err);
    expect((refused as StoreSchemaVersionError).code).toBe('STORE_SCHEMA_OLDER');
    expect((refused as Error).message).toMatch(/schema version 6, this isogate needs 7: start isogate/);
    const versions = await sql<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
      [],
      schema,
    );
    expect(versions.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);

    await (await openPostgresStore(PG_URL, { schema })).close();
    await sql("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01T00:00:00.000Z')", [], schema);
    const newer = await openExistingStore(pgSpec(schema), '', log).catch((err: unknown) => err);
    expect((newer as StoreSchemaVersionError).code).toBe('STORE_SCHEMA_NEWER');
  });

  it('reads a schema of this version; a URL password stays out of messages', async () => {
    const schema = schemaForTest();
    const store = await openPostgresStore(PG_URL, { schema });
    await store.createApi(apiInput({ name: 'kept', path: '/kept' }));
    await store.close();
    const reader = await openExistingStore(pgSpec(schema), '', log);
    try {
      expect((await reader.loadConfig()).apis.map((a) => a.name)).toEqual(['kept']);
    } finally {
      await reader.close();
    }
    expect(storeLocation('postgres://u:hunter2@db.example/isogate?schema=s', '')).toBe(
      'postgres://u:***@db.example/isogate?schema=s',
    );
  });

  it('a schema dropped under an open store: its operations fail as unavailable and its health names the schema; it recovers', async () => {
    const schema = schemaForTest();
    const store = await openPostgresStore(PG_URL, { schema });
    try {
      expect(await store.version()).toBe(0);
      await dropSchema(schema);
      const err = await store.version().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toMatch(/schema is missing or incomplete.*relation "meta" does not exist/);
      await expect(store.listApis()).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(store.createApi(apiInput())).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(store.health()).toEqual({
        connected: false,
        lastError: expect.stringMatching(/relation .* does not exist/),
      });
      // Restored (here: made anew): the next operation succeeds and the store is healthy again.
      await (await openPostgresStore(PG_URL, { schema })).close();
      expect(await store.version()).toBe(0);
      expect(store.health()).toEqual({ connected: true, lastError: null });
    } finally {
      await store.close();
    }
  });
});

describe('isogate config on a store that is not there', () => {
  it('export and apply --dry-run exit 1 in one line and create nothing; apply creates the store', async () => {
    const d = dir();
    const exported = await configCli(['export', '--data-dir', d]);
    expect(exported).toEqual({
      code: 1,
      out: '',
      err: `isogate config: no isogate store at ${join(d, 'isogate.db')} (no such file); nothing was created\n`,
    });
    const file = join(dir(), 'c.yaml');
    writeFileSync(file, 'isogate: 1\nvariables:\n  - name: A\n    value: "1"\n');
    const dry = await configCli(['apply', file, '--dry-run', '--data-dir', d]);
    expect(dry.code).toBe(1);
    expect(dry.err).toMatch(/^isogate config: no isogate store at .*\n$/);
    expect(readdirSync(d)).toEqual([]);

    expect((await configCli(['apply', file, '--data-dir', d])).code).toBe(0);
    expect((await configCli(['apply', file, '--dry-run', '--data-dir', d])).out).toBe(
      'The stored config already matches the file; nothing to apply.\n',
    );
    expect((await configCli(['export', '--data-dir', d])).out).toContain('name: A');
  });

  it('export of a PostgreSQL schema that does not exist exits 1 and creates no schema', async () => {
    const missing = schemaForTest();
    const res = await configCli(['export', '--store', pgSpec(missing)]);
    expect(res.code).toBe(1);
    expect(res.err).toBe(
      `isogate config: no isogate store at ${pgSpec(missing)} (the schema ${missing} does not exist)\n`,
    );
    expect(await sql('SELECT 1 FROM pg_namespace WHERE nspname = $1', [missing])).toEqual([]);
  });
});
