import { AUDIT_COLUMNS, IDEMPOTENCY_COLUMNS } from '../commit.js';
import {
  CERTIFICATE_COLUMNS,
  CONSUMER_COLUMNS,
  PROCESS_BEAT_COLUMNS,
  TOKEN_COLUMNS,
  type ApiRow,
  type NodeRow,
} from '../rows.js';

/** The `apis` columns, in insert order. */
export const API_COLUMN_LIST = [
  'id',
  'name',
  'name_key',
  'host',
  'methods',
  'path',
  'strip_prefix',
  'algorithm',
  'timeouts',
  'retries',
  'max_body_bytes',
  'selector',
  'retry',
  'health',
  'hash_on',
  'https_redirect',
  'access',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof ApiRow>;
/** The `nodes` columns, in insert order. */
export const NODE_COLUMN_LIST = [
  'id',
  'api_id',
  'position',
  'name',
  'connector',
  'enabled',
  'weight',
  'tags',
  'rules',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof NodeRow>;
/** The `apis` columns an update sets: identity and creation time never change. */
export const API_UPDATE_COLUMNS = API_COLUMN_LIST.filter((c) => c !== 'id' && c !== 'created_at');
const API_COLUMNS = API_COLUMN_LIST.join(', ');
const NODE_COLUMNS = NODE_COLUMN_LIST.join(', ');
/** The audit columns as one list, for SELECTs. */
export const AUDIT_COLUMN_LIST = AUDIT_COLUMNS.join(', ');
const TOKENS = TOKEN_COLUMNS.join(', ');
const CERTS = CERTIFICATE_COLUMNS.join(', ');
const CONSUMERS = CONSUMER_COLUMNS.join(', ');
const placeholders = (n: number): string => Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ');
// The database's clock as ISO 8601 UTC with milliseconds (the format of every timestamp column);
// clock_timestamp rather than now(), which is frozen at the start of the transaction.
const isoUtc = (timestamp: string): string =>
  `to_char((${timestamp}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const PROCESS_COLUMNS = PROCESS_BEAT_COLUMNS.join(', ');

/** Every statement of the PostgreSQL store. */
export const SQL = {
  version: 'SELECT config_version FROM meta WHERE id = 1',
  stamp: 'SELECT config_version, version_token FROM meta WHERE id = 1',
  // Every write locks the meta row first: writers (in any process) queue here, so each one's reads
  // and conflict checks see every write committed before it, and versions move by exactly one.
  lockMeta: 'SELECT config_version FROM meta WHERE id = 1 FOR UPDATE',
  // $1 is a fresh random token: the new version's identity (see ConfigStamp).
  bumpVersion:
    'UPDATE meta SET config_version = config_version + 1, version_token = $1 WHERE id = 1 RETURNING config_version',
  // Queued by NOTIFY, sent on COMMIT only; current_schema() tells listeners of other schemas apart.
  notify: "SELECT pg_notify($1, current_schema() || ':' || $2)",

  listApis: `SELECT ${API_COLUMNS} FROM apis ORDER BY created_at, name_key`,
  getApi: `SELECT ${API_COLUMNS} FROM apis WHERE id = $1`,
  getApiForUpdate: `SELECT ${API_COLUMNS} FROM apis WHERE id = $1 FOR UPDATE`,
  apisByNameOrPath: 'SELECT id, name, host, methods, path FROM apis WHERE name_key = $1 OR path = $2',
  insertApi: `INSERT INTO apis (${API_COLUMNS}) VALUES (${placeholders(API_COLUMN_LIST.length)})`,
  // $1 is the id; then every column the update sets, in API_UPDATE_COLUMNS order.
  updateApi: `UPDATE apis SET ${API_UPDATE_COLUMNS.map((c, i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1`,
  deleteApi: 'DELETE FROM apis WHERE id = $1',

  listAllNodes: `SELECT ${NODE_COLUMNS} FROM nodes ORDER BY api_id, position`,
  listNodes: `SELECT ${NODE_COLUMNS} FROM nodes WHERE api_id = $1 ORDER BY position`,
  getNode: `SELECT ${NODE_COLUMNS} FROM nodes WHERE api_id = $1 AND id = $2`,
  getNodeForUpdate: `SELECT ${NODE_COLUMNS} FROM nodes WHERE api_id = $1 AND id = $2 FOR UPDATE`,
  getNodeById: `SELECT ${NODE_COLUMNS} FROM nodes WHERE id = $1`,
  nextNodePosition: 'SELECT COALESCE(MAX(position), -1) + 1 AS position FROM nodes WHERE api_id = $1',
  insertNode: `INSERT INTO nodes (${NODE_COLUMNS}) VALUES (${placeholders(NODE_COLUMN_LIST.length)})`,
  updateNode: `UPDATE nodes SET name = $2, connector = $3, enabled = $4, weight = $5, tags = $6, rules = $7, updated_at = $8
    WHERE id = $1`,
  deleteNode: 'DELETE FROM nodes WHERE id = $1',

  listVariables: 'SELECT name, value, updated_at FROM variables ORDER BY name',
  getVariable: 'SELECT name, value, updated_at FROM variables WHERE name = $1',
  putVariable: `INSERT INTO variables (name, value, updated_at) VALUES ($1, $2, $3)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  deleteVariable: 'DELETE FROM variables WHERE name = $1',

  listConsumers: `SELECT ${CONSUMERS} FROM consumers ORDER BY created_at, name_key`,
  getConsumer: `SELECT ${CONSUMERS} FROM consumers WHERE id = $1`,
  getConsumerForUpdate: `SELECT ${CONSUMERS} FROM consumers WHERE id = $1 FOR UPDATE`,
  insertConsumer: `INSERT INTO consumers (${CONSUMERS}) VALUES (${placeholders(CONSUMER_COLUMNS.length)})`,
  updateConsumer:
    'UPDATE consumers SET name = $2, name_key = $3, tags = $4, credentials = $5, updated_at = $6 WHERE id = $1',
  deleteConsumer: 'DELETE FROM consumers WHERE id = $1',

  listCertificates: `SELECT ${CERTS} FROM certificates ORDER BY created_at, id`,
  getCertificate: `SELECT ${CERTS} FROM certificates WHERE id = $1`,
  getCertificateForUpdate: `SELECT ${CERTS} FROM certificates WHERE id = $1 FOR UPDATE`,
  insertCertificate: `INSERT INTO certificates (${CERTS}) VALUES (${placeholders(CERTIFICATE_COLUMNS.length)})`,
  deleteCertificate: 'DELETE FROM certificates WHERE id = $1',
  clearCertificateDefault: 'UPDATE certificates SET is_default = false, updated_at = $1 WHERE id = $2',

  nextSelectorVersion: 'SELECT COALESCE(MAX(version), 0) + 1 AS version FROM selector_versions WHERE api_id = $1',
  insertSelectorVersion: 'INSERT INTO selector_versions (api_id, version, selector, saved_at) VALUES ($1, $2, $3, $4)',
  pruneSelectorVersions: 'DELETE FROM selector_versions WHERE api_id = $1 AND version <= $2',
  listSelectorVersions:
    'SELECT api_id, version, selector, saved_at FROM selector_versions WHERE api_id = $1 ORDER BY version DESC LIMIT $2',

  insertAudit: `INSERT INTO audit_log (${AUDIT_COLUMN_LIST}) VALUES (${placeholders(AUDIT_COLUMNS.length)})`,
  lastAuditId: 'SELECT COALESCE(MAX(id), 0) AS id FROM audit_log',
  lastPrunedVersion: 'SELECT MAX(config_version) AS version FROM audit_log WHERE id <= $1',
  pruneAudit: 'DELETE FROM audit_log WHERE id <= $1 OR config_version <= $2',
  auditOfVersion: `SELECT id, ${AUDIT_COLUMN_LIST} FROM audit_log WHERE config_version = $1 ORDER BY id`,
  auditAfterVersion: `SELECT id, ${AUDIT_COLUMN_LIST} FROM audit_log WHERE config_version > $1 ORDER BY id`,
  loggedVersionsAfter: 'SELECT COUNT(DISTINCT config_version)::int AS n FROM audit_log WHERE config_version > $1',

  listTokens: `SELECT ${TOKENS} FROM admin_tokens ORDER BY name_key`,
  getToken: `SELECT ${TOKENS} FROM admin_tokens WHERE id = $1`,
  tokenByHash: `SELECT ${TOKENS} FROM admin_tokens WHERE secret_hash = $1`,
  tokenByNameKey: 'SELECT id FROM admin_tokens WHERE name_key = $1',
  insertToken: `INSERT INTO admin_tokens (${TOKENS}) VALUES (${placeholders(TOKEN_COLUMNS.length)})`,
  updateToken: 'UPDATE admin_tokens SET name = $2, name_key = $3, role = $4, updated_at = $5 WHERE id = $1',
  deleteToken: 'DELETE FROM admin_tokens WHERE id = $1',

  insertKey: `INSERT INTO idempotency_keys (${IDEMPOTENCY_COLUMNS.join(', ')}) VALUES (${placeholders(IDEMPOTENCY_COLUMNS.length)})`,
  findKey:
    'SELECT fingerprint, status, body, created_at FROM idempotency_keys WHERE actor_id = $1 AND idem_key = $2 AND created_at >= $3',
  pruneKeys:
    'DELETE FROM idempotency_keys WHERE created_at < $1 OR seq <= (SELECT MAX(seq) FROM idempotency_keys) - $2',

  upsertProcess: `INSERT INTO processes (${PROCESS_COLUMNS}, last_seen)
    VALUES (${placeholders(PROCESS_BEAT_COLUMNS.length)}, ${isoUtc('clock_timestamp()')})
    ON CONFLICT (id) DO UPDATE SET ${PROCESS_BEAT_COLUMNS.filter((c) => c !== 'id')
      .map((c) => `${c} = excluded.${c}`)
      .join(', ')}, last_seen = excluded.last_seen`,
  deleteProcess: 'DELETE FROM processes WHERE id = $1',
  listProcesses: `SELECT ${PROCESS_COLUMNS}, last_seen, ${isoUtc('clock_timestamp()')} AS now FROM processes
    ORDER BY role COLLATE "C", host COLLATE "C", worker NULLS FIRST, started_at COLLATE "C", id`,
  now: `SELECT ${isoUtc('clock_timestamp()')} AS now`,
  pruneProcesses: `DELETE FROM processes WHERE last_seen < ${isoUtc("clock_timestamp() - $1::bigint * interval '1 millisecond'")}`,
} as const;
