import type Database from 'better-sqlite3';
import { AUDIT_COLUMNS, IDEMPOTENCY_COLUMNS } from '../commit.js';
import { CERTIFICATE_COLUMNS, CONSUMER_COLUMNS, PROCESS_BEAT_COLUMNS, TOKEN_COLUMNS } from '../rows.js';

const API_COLUMNS =
  'id, name, name_key, host, methods, path, strip_prefix, algorithm, timeouts, retries, max_body_bytes, selector, retry, health, hash_on, https_redirect, access, created_at, updated_at';
const NODE_COLUMNS = 'id, api_id, position, name, connector, enabled, weight, tags, rules, created_at, updated_at';
const CERT_COLUMNS = CERTIFICATE_COLUMNS.join(', ');
const CONSUMERS = CONSUMER_COLUMNS.join(', ');
/** The audit columns as one list, for SELECTs. */
export const AUDIT_COLUMN_LIST = AUDIT_COLUMNS.join(', ');
// The store's clock as ISO 8601 UTC with milliseconds, the format of every timestamp column.
const NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
const named = (columns: readonly string[]) => columns.map((c) => `@${c}`).join(', ');

/** Every statement of the SQLite store, prepared once per connection. */
export function prepareStatements(db: Database.Database) {
  return {
    version: db.prepare('SELECT config_version FROM meta WHERE id = 1').pluck(),
    stamp: db.prepare('SELECT config_version, version_token FROM meta WHERE id = 1'),
    // The parameter is a fresh random token: the new version's identity (see ConfigStamp).
    bumpVersion: db
      .prepare(
        'UPDATE meta SET config_version = config_version + 1, version_token = ? WHERE id = 1 RETURNING config_version',
      )
      .pluck(),

    listApis: db.prepare(`SELECT ${API_COLUMNS} FROM apis ORDER BY created_at, name_key`),
    getApi: db.prepare(`SELECT ${API_COLUMNS} FROM apis WHERE id = ?`),
    apisByNameOrPath: db.prepare('SELECT id, name, host, methods, path FROM apis WHERE name_key = ? OR path = ?'),
    insertApi: db.prepare(`INSERT INTO apis (${API_COLUMNS}) VALUES (
      @id, @name, @name_key, @host, @methods, @path, @strip_prefix, @algorithm, @timeouts, @retries, @max_body_bytes,
      @selector, @retry, @health, @hash_on, @https_redirect, @access, @created_at, @updated_at)`),
    updateApi: db.prepare(`UPDATE apis SET name = @name, name_key = @name_key, host = @host, methods = @methods,
      path = @path, strip_prefix = @strip_prefix, algorithm = @algorithm, timeouts = @timeouts, retries = @retries,
      max_body_bytes = @max_body_bytes, selector = @selector, retry = @retry, health = @health, hash_on = @hash_on,
      https_redirect = @https_redirect, access = @access, updated_at = @updated_at WHERE id = @id`),
    deleteApi: db.prepare('DELETE FROM apis WHERE id = ?'),

    listAllNodes: db.prepare(`SELECT ${NODE_COLUMNS} FROM nodes ORDER BY api_id, position`),
    listNodes: db.prepare(`SELECT ${NODE_COLUMNS} FROM nodes WHERE api_id = ? ORDER BY position`),
    getNode: db.prepare(`SELECT ${NODE_COLUMNS} FROM nodes WHERE api_id = ? AND id = ?`),
    getNodeById: db.prepare(`SELECT ${NODE_COLUMNS} FROM nodes WHERE id = ?`),
    nextNodePosition: db.prepare('SELECT COALESCE(MAX(position), -1) + 1 FROM nodes WHERE api_id = ?').pluck(),
    insertNode: db.prepare(`INSERT INTO nodes (${NODE_COLUMNS}) VALUES (
      @id, @api_id, @position, @name, @connector, @enabled, @weight, @tags, @rules, @created_at, @updated_at)`),
    updateNode: db.prepare(`UPDATE nodes SET name = @name, connector = @connector, enabled = @enabled,
      weight = @weight, tags = @tags, rules = @rules, updated_at = @updated_at WHERE api_id = @api_id AND id = @id`),
    deleteNode: db.prepare('DELETE FROM nodes WHERE id = ?'),

    listVariables: db.prepare('SELECT name, value, updated_at FROM variables ORDER BY name'),
    getVariable: db.prepare('SELECT name, value, updated_at FROM variables WHERE name = ?'),
    putVariable: db.prepare(`INSERT INTO variables (name, value, updated_at) VALUES (@name, @value, @updated_at)
      ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
    deleteVariable: db.prepare('DELETE FROM variables WHERE name = ?'),

    listConsumers: db.prepare(`SELECT ${CONSUMERS} FROM consumers ORDER BY created_at, name_key`),
    getConsumer: db.prepare(`SELECT ${CONSUMERS} FROM consumers WHERE id = ?`),
    insertConsumer: db.prepare(`INSERT INTO consumers (${CONSUMERS}) VALUES (${named(CONSUMER_COLUMNS)})`),
    updateConsumer:
      db.prepare(`UPDATE consumers SET name = @name, name_key = @name_key, tags = @tags, credentials = @credentials,
      updated_at = @updated_at WHERE id = @id`),
    deleteConsumer: db.prepare('DELETE FROM consumers WHERE id = ?'),

    listCertificates: db.prepare(`SELECT ${CERT_COLUMNS} FROM certificates ORDER BY created_at, id`),
    getCertificate: db.prepare(`SELECT ${CERT_COLUMNS} FROM certificates WHERE id = ?`),
    insertCertificate: db.prepare(
      `INSERT INTO certificates (${CERT_COLUMNS}) VALUES (${CERTIFICATE_COLUMNS.map(() => '?').join(', ')})`,
    ),
    deleteCertificate: db.prepare('DELETE FROM certificates WHERE id = ?'),
    clearCertificateDefault: db.prepare('UPDATE certificates SET is_default = 0, updated_at = ? WHERE id = ?'),

    nextSelectorVersion: db
      .prepare('SELECT COALESCE(MAX(version), 0) + 1 FROM selector_versions WHERE api_id = ?')
      .pluck(),
    insertSelectorVersion: db.prepare(
      'INSERT INTO selector_versions (api_id, version, selector, saved_at) VALUES (?, ?, ?, ?)',
    ),
    pruneSelectorVersions: db.prepare('DELETE FROM selector_versions WHERE api_id = ? AND version <= ?'),
    listSelectorVersions: db.prepare(
      'SELECT api_id, version, selector, saved_at FROM selector_versions WHERE api_id = ? ORDER BY version DESC LIMIT ?',
    ),

    insertAudit: db.prepare(`INSERT INTO audit_log (${AUDIT_COLUMN_LIST}) VALUES (${named(AUDIT_COLUMNS)})`),
    lastAuditId: db.prepare('SELECT COALESCE(MAX(id), 0) FROM audit_log').pluck(),
    lastPrunedVersion: db.prepare('SELECT MAX(config_version) FROM audit_log WHERE id <= ?').pluck(),
    pruneAudit: db.prepare('DELETE FROM audit_log WHERE id <= @id OR config_version <= @version'),
    auditOfVersion: db.prepare(`SELECT id, ${AUDIT_COLUMN_LIST} FROM audit_log WHERE config_version = ? ORDER BY id`),
    auditAfterVersion: db.prepare(
      `SELECT id, ${AUDIT_COLUMN_LIST} FROM audit_log WHERE config_version > ? ORDER BY id`,
    ),
    loggedVersionsAfter: db
      .prepare('SELECT COUNT(DISTINCT config_version) FROM audit_log WHERE config_version > ?')
      .pluck(),

    listTokens: db.prepare(`SELECT ${TOKEN_COLUMNS.join(', ')} FROM admin_tokens ORDER BY name_key`),
    getToken: db.prepare(`SELECT ${TOKEN_COLUMNS.join(', ')} FROM admin_tokens WHERE id = ?`),
    tokenByHash: db.prepare(`SELECT ${TOKEN_COLUMNS.join(', ')} FROM admin_tokens WHERE secret_hash = ?`),
    tokenByNameKey: db.prepare('SELECT id FROM admin_tokens WHERE name_key = ?').pluck(),
    insertToken: db.prepare(`INSERT INTO admin_tokens (${TOKEN_COLUMNS.join(', ')}) VALUES (${named(TOKEN_COLUMNS)})`),
    updateToken: db.prepare(
      'UPDATE admin_tokens SET name = @name, name_key = @name_key, role = @role, updated_at = @updated_at WHERE id = @id',
    ),
    deleteToken: db.prepare('DELETE FROM admin_tokens WHERE id = ?'),

    insertKey: db.prepare(
      `INSERT INTO idempotency_keys (${IDEMPOTENCY_COLUMNS.join(', ')}) VALUES (${named(IDEMPOTENCY_COLUMNS)})`,
    ),
    findKey: db.prepare(
      'SELECT fingerprint, status, body, created_at FROM idempotency_keys WHERE actor_id = ? AND idem_key = ? AND created_at >= ?',
    ),
    pruneKeys: db.prepare(
      'DELETE FROM idempotency_keys WHERE created_at < @cutoff OR seq <= (SELECT MAX(seq) FROM idempotency_keys) - @keep',
    ),

    upsertProcess: db.prepare(`INSERT INTO processes (${PROCESS_BEAT_COLUMNS.join(', ')}, last_seen)
      VALUES (${PROCESS_BEAT_COLUMNS.map(() => '?').join(', ')}, ${NOW})
      ON CONFLICT (id) DO UPDATE SET ${PROCESS_BEAT_COLUMNS.filter((c) => c !== 'id')
        .map((c) => `${c} = excluded.${c}`)
        .join(', ')}, last_seen = excluded.last_seen`),
    deleteProcess: db.prepare('DELETE FROM processes WHERE id = ?'),
    listProcesses: db.prepare(`SELECT ${PROCESS_BEAT_COLUMNS.join(', ')}, last_seen FROM processes
      ORDER BY role, host, worker NULLS FIRST, started_at, id`),
    now: db.prepare(`SELECT ${NOW}`).pluck(),
    // The modifier is '-<seconds> seconds'.
    pruneProcesses: db.prepare(`DELETE FROM processes WHERE last_seen < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)`),
  };
}

/** The prepared statements of one SQLite connection. */
export type Statements = ReturnType<typeof prepareStatements>;
