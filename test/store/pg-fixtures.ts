import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from '../../src/store/postgres/connection.js';

/** The PostgreSQL the tests use (trust auth on 127.0.0.1 by default). */
export const PG_URL = process.env.ISOGATE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Fails, with what to do, when the test PostgreSQL is not reachable: the PostgreSQL tests never
 * skip, because a silently skipped driver is an untested one.
 */
export async function requirePostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_URL} (${(err as Error).message || String(err)}). ` +
        'The PostgreSQL store tests need it: start it (e.g. `pg_ctlcluster --skip-systemctl-redirect <version> main start`) ' +
        'or point ISOGATE_TEST_PG at one.',
      { cause: err },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A schema name no other test uses (`t_<random>`); the store creates it, `dropSchema` removes it. */
export function uniqueSchema(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

/** Runs one statement on a fresh connection (search_path set to `schema` when given) and returns its rows. */
export async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(
  text: string,
  values: unknown[] = [],
  schema?: string,
): Promise<R[]> {
  const client = new pg.Client({
    connectionString: PG_URL,
    ...(schema === undefined ? {} : { options: `-c search_path=${quoteIdent(schema)}` }),
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Drops a test schema with everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await sql(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
}

/** Waits until `check` holds, polling every 20 ms; fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
