import type BetterSqlite3 from 'better-sqlite3';
import type { Migration } from '../migration.js';

export type { Migration } from '../migration.js';

// SQL kept to what PostgreSQL also accepts: TEXT ids and ISO 8601 timestamps, nested fields as JSON
// text, BOOLEAN/BIGINT column types (SQLite stores them as integers).
/** Every migration, oldest first. Append only: never edit one that has shipped. */
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
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        host TEXT,
        methods TEXT NOT NULL,
        path TEXT NOT NULL,
        strip_prefix BOOLEAN NOT NULL,
        algorithm TEXT NOT NULL,
        timeouts TEXT NOT NULL,
        retries INTEGER NOT NULL,
        max_body_bytes BIGINT NOT NULL,
        selector TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX apis_path ON apis (path);

      CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        api_id TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
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
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE selector_versions (
        api_id TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
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
    // Heartbeats, not config: writing here never bumps meta.config_version. last_seen is the store's
    // clock (ISO 8601 UTC text, which sorts as time), so machines with skewed clocks still compare.
    sql: `
      CREATE TABLE processes (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        role TEXT NOT NULL,
        worker INTEGER,
        serves TEXT NOT NULL,
        started_at TEXT NOT NULL,
        config_version BIGINT,
        heartbeat_ms INTEGER NOT NULL,
        last_seen TEXT NOT NULL
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
        id TEXT PRIMARY KEY,
        names TEXT NOT NULL,
        certificate TEXT NOT NULL,
        private_key TEXT NOT NULL,
        is_default BOOLEAN NOT NULL,
        not_before TEXT NOT NULL,
        not_after TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        created_at TEXT NOT NULL,
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
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        tags TEXT NOT NULL,
        credentials TEXT NOT NULL,
        created_at TEXT NOT NULL,
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
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        actor_name TEXT NOT NULL,
        op TEXT NOT NULL,
        kind TEXT NOT NULL,
        object_id TEXT NOT NULL,
        object_name TEXT NOT NULL,
        api_id TEXT,
        before_json TEXT,
        after_json TEXT,
        config_version BIGINT,
        cause TEXT
      );
      CREATE INDEX audit_log_version ON audit_log (config_version);
      CREATE INDEX audit_log_object ON audit_log (kind, object_id);
      CREATE INDEX audit_log_api ON audit_log (api_id);

      CREATE TABLE admin_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE idempotency_keys (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        actor_id TEXT NOT NULL,
        idem_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        config_version BIGINT,
        created_at TEXT NOT NULL,
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

/**
 * The migrations of `list` the database does not have yet, read without taking the write lock (a
 * start of an up-to-date database then never waits for another writer). Throws when the database
 * was migrated by a newer isogate.
 */
export function pendingMigrations(db: BetterSqlite3.Database, list: readonly Migration[] = migrations): Migration[] {
  const hasTable = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .pluck()
    .get();
  if (hasTable === undefined) return [...list];
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  const newest = Math.max(0, ...applied);
  const known = list.at(-1)?.version ?? 0;
  if (newest > known) {
    throw new Error(
      `database schema version ${newest} is newer than this isogate supports (${known}); upgrade isogate`,
    );
  }
  return list.filter((m) => !applied.has(m.version));
}

/**
 * Brings the database to the newest schema, applying each missing migration once; returns the
 * versions applied. Takes no write lock when nothing is pending; otherwise each migration is one
 * IMMEDIATE transaction, and an SQLITE_BUSY (another writer) is thrown for the caller to retry
 * (SqliteStore.open retries as writes do, withWriteLock): what was applied stays applied.
 */
export function migrate(db: BetterSqlite3.Database, list: readonly Migration[] = migrations): number[] {
  const applied: number[] = [];
  for (const m of pendingMigrations(db, list)) {
    // IMMEDIATE takes the write lock before the check, so two processes opening the same file at
    // once cannot both apply a migration.
    db.transaction(() => {
      db.exec(`
        CREATE TABLE IF NOT EXISTS schema_migrations (
          version INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          applied_at TEXT NOT NULL
        )
      `);
      if (db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version) !== undefined) return;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
      applied.push(m.version);
    }).immediate();
  }
  return applied;
}
