import { NO_ACCESS } from '../model/access.js';
import { Api } from '../model/api.js';
import { Consumer } from '../model/consumer.js';
import { ApiHealth } from '../model/health.js';
import { RetryPolicy } from '../model/retry.js';
import { ClusterProcess, type ProcessBeat } from '../model/cluster.js';
import { Node } from '../model/node.js';
import { SelectorConfig } from '../model/selector.js';
import { AdminToken } from '../model/token.js';
import { Variable } from '../model/variable.js';
import { Certificate } from '../model/certificate.js';
import type { SelectorVersion } from './store.js';
import { apiNameKey, consumerNameKey } from './conflicts.js';

// The row mapping every driver shares: both schemas store the same columns with the same meaning
// (JSON as text, ISO 8601 timestamps as text). Only booleans differ on the way out.

/**
 * A stored boolean: SQLite returns 0/1, PostgreSQL true/false. Rows are written with 0/1, which both
 * accept (PostgreSQL reads the text '1'/'0' as a boolean).
 */
export type SqlBoolean = number | boolean;

/** An `apis` row as a driver returns it. */
export interface ApiRow {
  id: string;
  name: string;
  name_key: string;
  host: string | null;
  methods: string;
  path: string;
  strip_prefix: SqlBoolean;
  algorithm: string;
  timeouts: string;
  retries: number;
  max_body_bytes: number;
  selector: string | null;
  /** JSON; NULL in rows from before migration 2 (read as the defaults). */
  retry: string | null;
  /** JSON; NULL in rows from before migration 2 (read as the defaults). */
  health: string | null;
  hash_on: string | null;
  /** NULL in rows from before the TLS migration (read as false). */
  https_redirect: SqlBoolean | null;
  /** JSON; NULL in rows from before the access migration (read as no access config). */
  access: string | null;
  created_at: string;
  updated_at: string;
}

/** A `consumers` row. */
export interface ConsumerRow {
  id: string;
  name: string;
  name_key: string;
  tags: string;
  /** JSON array of stored (hashed) credentials. */
  credentials: string;
  created_at: string;
  updated_at: string;
}

/** A `nodes` row as a driver returns it (position is set by the store, not by the model). */
export interface NodeRow {
  id: string;
  api_id: string;
  position: number;
  name: string;
  connector: string;
  enabled: SqlBoolean;
  weight: number;
  tags: string;
  rules: string;
  created_at: string;
  updated_at: string;
}

/** A `variables` row. */
export interface VariableRow {
  name: string;
  value: string;
  updated_at: string;
}

/** A `selector_versions` row. */
export interface SelectorVersionRow {
  api_id: string;
  version: number;
  selector: string | null;
  saved_at: string;
}

/** A `certificates` row. */
export interface CertificateRow {
  id: string;
  names: string;
  certificate: string;
  private_key: string;
  is_default: SqlBoolean;
  not_before: string;
  not_after: string;
  fingerprint: string;
  subject: string;
  issuer: string;
  created_at: string;
  updated_at: string;
}

/** The `certificates` columns, in the order drivers insert them. */
export const CERTIFICATE_COLUMNS = [
  'id',
  'names',
  'certificate',
  'private_key',
  'is_default',
  'not_before',
  'not_after',
  'fingerprint',
  'subject',
  'issuer',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof CertificateRow>;

/** A `processes` row (a heartbeat). */
export interface ProcessRow {
  id: string;
  host: string;
  pid: number;
  role: string;
  worker: number | null;
  serves: string;
  started_at: string;
  config_version: number | null;
  heartbeat_ms: number;
  last_seen: string;
}

/** An `admin_tokens` row. */
export interface TokenRow {
  id: string;
  name: string;
  name_key: string;
  role: string;
  secret_hash: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** The columns of a token row, in insert order. */
export const TOKEN_COLUMNS = [
  'id',
  'name',
  'name_key',
  'role',
  'secret_hash',
  'created_by',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof TokenRow>;

/** Maps an `admin_tokens` row to the model (without the hash). */
export function tokenFromRow(row: TokenRow): AdminToken {
  return AdminToken.parse({
    id: row.id,
    name: row.name,
    role: row.role,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
}

/** Maps a validated token and its secret's hash to its row. */
export function tokenToRow(token: AdminToken, secretHash: string): TokenRow {
  return {
    id: token.id,
    name: token.name,
    name_key: token.name.normalize('NFC').toLowerCase(),
    role: token.role,
    secret_hash: secretHash,
    created_by: token.createdBy,
    created_at: token.createdAt,
    updated_at: token.updatedAt,
  };
}

/** The columns a heartbeat writes, in order; last_seen is set by the store's clock. */
export const PROCESS_BEAT_COLUMNS = [
  'id',
  'host',
  'pid',
  'role',
  'worker',
  'serves',
  'started_at',
  'config_version',
  'heartbeat_ms',
] as const satisfies ReadonlyArray<keyof ProcessRow>;

// Rows are validated on the way out too, so a row damaged outside isogate fails loudly here rather
// than deep inside the gateway.

/** Maps an `apis` row to the model. */
export function apiFromRow(row: ApiRow): Api {
  return Api.parse({
    id: row.id,
    name: row.name,
    host: row.host,
    methods: JSON.parse(row.methods),
    path: row.path,
    stripPrefix: fromSqlBoolean(row.strip_prefix),
    algorithm: row.algorithm,
    timeouts: JSON.parse(row.timeouts),
    retries: row.retries,
    maxBodyBytes: row.max_body_bytes,
    selector: row.selector === null ? null : JSON.parse(row.selector),
    retry: row.retry === null ? RetryPolicy.parse({}) : JSON.parse(row.retry),
    health: row.health === null ? ApiHealth.parse({}) : JSON.parse(row.health),
    hashOn: row.hash_on === null ? null : JSON.parse(row.hash_on),
    httpsRedirect: row.https_redirect === null ? false : fromSqlBoolean(row.https_redirect),
    access: row.access === null ? NO_ACCESS : JSON.parse(row.access),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
}

/** Maps a validated API to its row. */
export function apiToRow(api: Api): ApiRow {
  return {
    id: api.id,
    name: api.name,
    name_key: apiNameKey(api.name),
    host: api.host,
    methods: JSON.stringify(api.methods),
    path: api.path,
    strip_prefix: api.stripPrefix ? 1 : 0,
    algorithm: api.algorithm,
    timeouts: JSON.stringify(api.timeouts),
    retries: api.retries,
    max_body_bytes: api.maxBodyBytes,
    selector: selectorToText(api.selector),
    retry: JSON.stringify(api.retry),
    health: JSON.stringify(api.health),
    hash_on: api.hashOn === null ? null : JSON.stringify(api.hashOn),
    https_redirect: api.httpsRedirect ? 1 : 0,
    access: JSON.stringify(api.access),
    created_at: api.createdAt,
    updated_at: api.updatedAt,
  };
}

/** Maps a `nodes` row to the model. */
export function nodeFromRow(row: NodeRow): Node {
  return Node.parse({
    id: row.id,
    apiId: row.api_id,
    name: row.name,
    connector: JSON.parse(row.connector),
    enabled: fromSqlBoolean(row.enabled),
    weight: row.weight,
    tags: JSON.parse(row.tags),
    rules: JSON.parse(row.rules),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
}

/** Maps a validated node to its row. */
export function nodeToRow(node: Node, position: number): NodeRow {
  return {
    id: node.id,
    api_id: node.apiId,
    position,
    name: node.name,
    connector: JSON.stringify(node.connector),
    enabled: node.enabled ? 1 : 0,
    weight: node.weight,
    tags: JSON.stringify(node.tags),
    rules: JSON.stringify(node.rules),
    created_at: node.createdAt,
    updated_at: node.updatedAt,
  };
}

/** Maps a `consumers` row to the model. */
export function consumerFromRow(row: ConsumerRow): Consumer {
  return Consumer.parse({
    id: row.id,
    name: row.name,
    tags: JSON.parse(row.tags),
    credentials: JSON.parse(row.credentials),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
}

/** Maps a validated consumer to its row. */
export function consumerToRow(consumer: Consumer): ConsumerRow {
  return {
    id: consumer.id,
    name: consumer.name,
    name_key: consumerNameKey(consumer.name),
    tags: JSON.stringify(consumer.tags),
    credentials: JSON.stringify(consumer.credentials),
    created_at: consumer.createdAt,
    updated_at: consumer.updatedAt,
  };
}

/** The columns of a `consumers` row, in order. */
export const CONSUMER_COLUMNS = [
  'id',
  'name',
  'name_key',
  'tags',
  'credentials',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof ConsumerRow>;

/** Maps a `variables` row to the model. */
export function variableFromRow(row: VariableRow): Variable {
  return Variable.parse({ name: row.name, value: row.value, updatedAt: row.updated_at });
}

/** Maps a `selector_versions` row to the model. */
export function selectorVersionFromRow(row: SelectorVersionRow): SelectorVersion {
  return {
    apiId: row.api_id,
    version: row.version,
    selector: row.selector === null ? null : SelectorConfig.parse(JSON.parse(row.selector)),
    savedAt: row.saved_at,
  };
}

/** Maps a validated heartbeat to its column values, in PROCESS_BEAT_COLUMNS order. */
export function processBeatValues(beat: ProcessBeat): unknown[] {
  return [
    beat.id,
    beat.host,
    beat.pid,
    beat.role,
    beat.worker,
    beat.serves,
    beat.startedAt,
    beat.configVersion,
    beat.heartbeatMs,
  ];
}

/** Maps a `processes` row to the model. */
export function processFromRow(row: ProcessRow): ClusterProcess {
  return ClusterProcess.parse({
    id: row.id,
    host: row.host,
    pid: row.pid,
    role: row.role,
    worker: row.worker,
    serves: row.serves,
    startedAt: row.started_at,
    configVersion: row.config_version,
    heartbeatMs: row.heartbeat_ms,
    lastSeen: row.last_seen,
  });
}

/** Maps a `certificates` row to the model. */
export function certificateFromRow(row: CertificateRow): Certificate {
  return Certificate.parse({
    id: row.id,
    names: JSON.parse(row.names),
    certificate: row.certificate,
    privateKey: row.private_key,
    isDefault: fromSqlBoolean(row.is_default),
    notBefore: row.not_before,
    notAfter: row.not_after,
    fingerprint: row.fingerprint,
    subject: row.subject,
    issuer: row.issuer,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
}

/** Maps a validated certificate to its column values, in CERTIFICATE_COLUMNS order. */
export function certificateValues(cert: Certificate): unknown[] {
  return [
    cert.id,
    JSON.stringify(cert.names),
    cert.certificate,
    cert.privateKey,
    cert.isDefault ? 1 : 0,
    cert.notBefore,
    cert.notAfter,
    cert.fingerprint,
    cert.subject,
    cert.issuer,
    cert.createdAt,
    cert.updatedAt,
  ];
}

/** The stored text of a selector (null clears it). */
export function selectorToText(selector: SelectorConfig | null): string | null {
  return selector === null ? null : JSON.stringify(selector);
}

function fromSqlBoolean(value: SqlBoolean): boolean {
  return value === true || value === 1;
}
