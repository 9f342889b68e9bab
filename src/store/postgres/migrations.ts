import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Migration } from '../migration.js';
import { assertSchemaName, clientConfig, quoteIdent, type ConnectionSettings } from './connection.js';
import { asStoreError } from './unavailable.js';

// The same versions, names and logical schema as the SQLite list (a test holds them equal). Types:
// TEXT ids; timestamps as ISO 8601 TEXT and nested fields (methods, timeouts, connector, tags, rules,
// selector) as JSON TEXT, exactly as SQLite stores them, so both drivers share the row mapping and
// nothing needs JSON operators; BOOLEAN and BIGINT as declared. Keys and ordered columns use the "C"
// collation so uniqueness and ORDER BY are bytewise, as in SQLite, whatever the database's locale.
/** Every PostgreSQL migration, oldest first. Append only: never edit one that has shipped. */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        config_version BIGINT NOT NULL
      );
      INSERT INTO meta (id, config_version) VALUES (1, 0);

      CREATE TABLE apis (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT COLLATE "C" NOT NULL UNIQUE,
        host TEXT COLLATE "C",
        methods TEXT NOT NULL,
        path TEXT COLLATE "C" NOT NULL,
        strip_prefix BOOLEAN NOT NULL,
        algorithm TEXT NOT NULL,
        timeouts TEXT NOT NULL,
        retries INTEGER NOT NULL,
        max_body_bytes BIGINT NOT NULL,
        selector TEXT,
        created_at TEXT COLLATE "C" NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX apis_path ON apis (path);

      CREATE TABLE nodes (
        id TEXT COLLATE "C" PRIMARY KEY,
        api_id TEXT COLLATE "C" NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        connector TEXT NOT NULL,
        enabled BOOLEAN NOT NULL,
        weight INTEGER NOT NULL,
        tags TEXT NOT NULL,
        rules TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (api_id, position)
      );

      CREATE TABLE variables (
        name TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE selector_versions (
        api_id TEXT COLLATE "C" NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        selector TEXT,
        saved_at TEXT NOT NULL,
        PRIMARY KEY (api_id, version)
      );
    `,
  },
  {
    version: 2,
    name: 'api-retry-health-hash',
    // NULL in rows written before: read as this version's defaults (see apiFromRow).
    sql: `
      ALTER TABLE apis ADD COLUMN retry TEXT;
      ALTER TABLE apis ADD COLUMN health TEXT;
      ALTER TABLE apis ADD COLUMN hash_on TEXT;
    `,
  },
  {
    version: 3,
    name: 'cluster_processes',
    // Heartbeats, not config: writing here never bumps meta.config_version nor notifies. last_seen is
    // the database's clock (ISO 8601 UTC text, which sorts as time), so skewed machine clocks still compare.
    sql: `
      CREATE TABLE processes (
        id TEXT COLLATE "C" PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        role TEXT NOT NULL,
        worker INTEGER,
        serves TEXT NOT NULL,
        started_at TEXT NOT NULL,
        config_version BIGINT,
        heartbeat_ms INTEGER NOT NULL,
        last_seen TEXT COLLATE "C" NOT NULL
      );
      CREATE INDEX processes_last_seen ON processes (last_seen);
    `,
  },
  {
    version: 4,
    name: 'tls-certificates',
    // Certificates are config (every write bumps the version). The private key is stored as its
    // unencrypted PEM text, like every other config value; see docs/tls-websocket-http2.md.
    // https_redirect is NULL in rows written before: read as false (see apiFromRow).
    sql: `
      CREATE TABLE certificates (
        id TEXT COLLATE "C" PRIMARY KEY,
        names TEXT NOT NULL,
        certificate TEXT NOT NULL,
        private_key TEXT NOT NULL,
        is_default BOOLEAN NOT NULL,
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL,
        updated_at TEXT NOT NULL
      );
      ALTER TABLE apis ADD COLUMN https_redirect BOOLEAN;
    `,
  },
  {
    version: 5,
    name: 'access-consumers',
    // An API's access config (NULL in rows written before: no access config, see apiFromRow) and the
    // consumers, their credentials as one JSON array of stored (hashed) forms.
    sql: `
      ALTER TABLE apis ADD COLUMN access TEXT;

      CREATE TABLE consumers (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT COLLATE "C" NOT NULL UNIQUE,
        tags TEXT NOT NULL,
        credentials TEXT NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'audit-tokens-idempotency',
    // The audit log (one row per object a write changed, with the config version it made: null for
    // token writes, which are not config), named admin tokens (only the hash of each secret) and the
    // Idempotency-Keys of recent creating writes with the answer a retry replays (issue 17).
    sql: `
      CREATE TABLE audit_log (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at TEXT COLLATE "C" NOT NULL,
        actor_id TEXT NOT NULL,
        actor_name TEXT COLLATE "C" NOT NULL,
        op TEXT NOT NULL,
        kind TEXT NOT NULL,
        object_id TEXT COLLATE "C" NOT NULL,
        object_name TEXT NOT NULL,
        api_id TEXT COLLATE "C",
        before_json TEXT,
        after_json TEXT,
        config_version BIGINT,
        cause TEXT
      );
      CREATE INDEX audit_log_version ON audit_log (config_version);
      CREATE INDEX audit_log_object ON audit_log (kind, object_id);
      CREATE INDEX audit_log_api ON audit_log (api_id);

      CREATE TABLE admin_tokens (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT COLLATE "C" NOT NULL UNIQUE,
        role TEXT NOT NULL,
        secret_hash TEXT COLLATE "C" NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE idempotency_keys (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        actor_id TEXT COLLATE "C" NOT NULL,
        idem_key TEXT COLLATE "C" NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        config_version BIGINT,
        created_at TEXT COLLATE "C" NOT NULL,
        UNIQUE (actor_id, idem_key)
      );
      CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
    `,
  },
  {
    version: 7,
    name: 'version-token',
    // A random token written with every version bump, so a number reused after a restore or a
    // failover to a lagging standby is not mistaken for the config already served under it. NULL
    // until the first write after this migration (read as "no token": the number alone decides).
    sql: `
      ALTER TABLE meta ADD COLUMN version_token TEXT;
    `,
  },
];

// First key of the two-int advisory lock ('isog'); the second is derived from the schema, so stores
// in different schemas of one database migrate independently.
const LOCK_CLASS = 0x69736f67;

/** The advisory lock key pair that guards migrating `schema`. */
function lockKey(schema: string): [number, number] {
  return [LOCK_CLASS, createHash('sha256').update(schema).digest().readInt32BE(0)];
}

/**
 * Brings the schema to the newest version, applying each missing migration once in its own
 * transaction; returns the versions applied. `client` is a dedicated connection whose search_path
 * starts with `schema` (created here if missing); undefined means the connection's current schema.
 * Safe when several processes start at once: they take turns on a session-level advisory lock, and
 * whoever comes second finds the work done.
 */
export async function migrate(
  client: pg.ClientBase,
  schema?: string,
  list: readonly Migration[] = migrations,
): Promise<number[]> {
  if (schema !== undefined) assertSchemaName(schema);
  const target = schema ?? (await currentSchema(client));
  if (target === null)
    throw new Error('none of the schemas on the PostgreSQL search_path exists; give the store a schema');

  const key = lockKey(target);
  await client.query('SELECT pg_advisory_lock($1, $2)', key);
  try {
    if (schema !== undefined) {
      // Under the lock: concurrent CREATE SCHEMA IF NOT EXISTS can still fail on a duplicate key.
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      const active = await currentSchema(client);
      if (active !== schema)
        throw new Error(
          `the connection's search_path does not start with schema "${schema}" (it resolves to ${active})`,
        );
    }
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TEXT NOT NULL
      )
    `);
    const { rows } = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
    const newest = rows[0]?.v ?? null;
    const known = list.at(-1)?.version ?? 0;
    if (newest !== null && newest > known) {
      throw new Error(
        `database schema version ${newest} is newer than this isogate supports (${known}); upgrade isogate`,
      );
    }

    const applied: number[] = [];
    for (const m of list) {
      if (await applyOne(client, m)) applied.push(m.version);
    }
    return applied;
  } finally {
    // Closing the session would release it too; unlocking keeps a reused connection clean.
    await client.query('SELECT pg_advisory_unlock($1, $2)', key).catch(() => undefined);
  }
}

/** Runs the migrations on a dedicated connection, which holds the session-level advisory lock. */
export async function migrateOnce(settings: ConnectionSettings): Promise<void> {
  const client = new pg.Client(clientConfig(settings, 'migrate'));
  // Errors of the idle client are reported by the query that hits them; this only prevents a crash.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await migrate(client, settings.schema);
  } catch (err) {
    throw asStoreError(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Applies one migration in its own transaction unless it is recorded already; true when applied. */
async function applyOne(client: pg.ClientBase, m: Migration): Promise<boolean> {
  await client.query('BEGIN');
  try {
    const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
    if (done.rowCount === 0) {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
    }
    await client.query('COMMIT');
    return done.rowCount === 0;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function currentSchema(client: pg.ClientBase): Promise<string | null> {
  const { rows } = await client.query<{ s: string | null }>('SELECT current_schema() AS s');
  return rows[0]?.s ?? null;
}
