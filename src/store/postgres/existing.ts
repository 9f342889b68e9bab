import pg from 'pg';
import { StoreNotFoundError, StoreSchemaVersionError } from '../errors.js';
import { clientConfig, type ConnectionSettings } from './connection.js';
import { migrations } from './migrations.js';
import { asStoreError } from './unavailable.js';

/**
 * Checks, without creating or changing anything, that the store's schema (settings.schema, or the
 * connection's current schema) exists, holds isogate's tables and is at this isogate's version: what
 * a command that only reads needs before opening the store with `migrate: false`. Throws
 * StoreNotFoundError, StoreSchemaVersionError, or StoreUnavailableError when the server cannot be reached.
 * `where` names the store in the messages (a URL without its password).
 */
export async function checkExistingSchema(settings: ConnectionSettings, where: string): Promise<void> {
  const client = new pg.Client(clientConfig(settings, 'check', { statementMs: settings.connectTimeoutMs }));
  // Errors of the idle client are reported by the query that hits them; this only prevents a crash.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const schema = settings.schema ?? (await currentSchema(client));
    if (schema === null)
      throw new StoreNotFoundError(`no isogate store at ${where} (no schema on the search_path exists)`);
    const { rows } = await client.query<{ found: boolean; migrations: string | null; meta: string | null }>(
      `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS found,
              to_regclass(format('%I.schema_migrations', $1::text))::text AS migrations,
              to_regclass(format('%I.meta', $1::text))::text AS meta`,
      [schema],
    );
    const row = rows[0]!;
    if (!row.found) throw new StoreNotFoundError(`no isogate store at ${where} (the schema ${schema} does not exist)`);
    if (row.migrations === null || row.meta === null)
      throw new StoreNotFoundError(`no isogate store at ${where} (the schema ${schema} holds no isogate tables)`);
    const version = await client.query<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${row.migrations}`);
    const stored = version.rows[0]?.v ?? 0;
    const supported = migrations.at(-1)?.version ?? 0;
    if (stored !== supported) throw new StoreSchemaVersionError(where, stored, supported);
  } catch (err) {
    throw asStoreError(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function currentSchema(client: pg.ClientBase): Promise<string | null> {
  const { rows } = await client.query<{ s: string | null }>('SELECT current_schema() AS s');
  return rows[0]?.s ?? null;
}
