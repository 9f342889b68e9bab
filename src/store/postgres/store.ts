import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { Api, type ApiCreate } from '../../model/api.js';
import { ProcessBeat, type ClusterState } from '../../model/cluster.js';
import { Node, type NodeCreate } from '../../model/node.js';
import { SelectorConfig } from '../../model/selector.js';
import { Variable } from '../../model/variable.js';
import { Certificate, CertificateRecord } from '../../model/certificate.js';
import { apiNameKey, assertNoApiConflict, assertNoCertificateConflict, assertNoConsumerConflict } from '../conflicts.js';
import { Consumer } from '../../model/consumer.js';
import { StoreUnavailableError } from '../errors.js';
import {
  apiFromRow,
  apiToRow,
  certificateFromRow,
  certificateValues,
  CERTIFICATE_COLUMNS,
  CONSUMER_COLUMNS,
  consumerFromRow,
  consumerToRow,
  nodeFromRow,
  nodeToRow,
  processBeatValues,
  processFromRow,
  PROCESS_BEAT_COLUMNS,
  selectorToText,
  selectorVersionFromRow,
  variableFromRow,
  type ApiRow,
  type CertificateRow,
  type ConsumerRow,
  type NodeRow,
  type ProcessRow,
  type SelectorVersionRow,
  type VariableRow,
} from '../rows.js';
import {
  SELECTOR_HISTORY_LIMIT,
  type ConfigState,
  type Mutator,
  type NewConsumer,
  type SelectorVersion,
  type Store,
  type StoreHealth,
} from '../store.js';
import { CONFIG_CHANNEL, clientConfig, type ConnectionSettings } from './connection.js';
import { HealthTracker } from './health.js';
import { ConfigListener, type Backoff } from './listener.js';
import { migrate } from './migrations.js';
import { asStoreError, describe, isConnectionError } from './unavailable.js';

/** Options of `openPostgresStore`. */
export interface PostgresStoreOptions {
  /** Schema holding isogate's tables, created if missing; default: the connection's current schema (usually public). */
  schema?: string;
  /** Where connection trouble is logged (default: silent). */
  logger?: Logger;
  /** Most pooled connections (default 5). */
  poolSize?: number;
  /** How long making a connection may take before the call fails with StoreUnavailableError (default 5 s). */
  connectTimeoutMs?: number;
  /**
   * How long one operation (a read, or a write transaction up to its COMMIT) may take on its
   * connection before it fails with StoreUnavailableError and the connection is dropped (default 10 s).
   * Without it, a silent network cut leaves the call waiting until TCP gives up, minutes later.
   */
  operationTimeoutMs?: number;
  /** Reconnect backoff of `watch` listeners (default 100 ms doubling up to 5 s). */
  reconnect?: Partial<Backoff>;
  /** How often an idle `watch` connection is checked (default 15 s). */
  heartbeatMs?: number;
  /**
   * Apply pending migrations while opening (default true). With false, opening touches nothing and
   * connects lazily: for a schema migrated by someone else.
   */
  migrate?: boolean;
}

/** How long `close` waits for pooled connections to end. */
const CLOSE_TIMEOUT_MS = 5_000;

/** What a write step reports: its result, and whether it changed anything (only then the version moves). */
interface WriteOutcome<T> {
  wrote: boolean;
  value: T;
}

/** One pooled connection, inside a transaction for writes and loadConfig. */
type Tx = pg.PoolClient;

const API_COLUMN_LIST = [
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
const NODE_COLUMN_LIST = [
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
// Identity and creation time never change.
const API_UPDATE_COLUMNS = API_COLUMN_LIST.filter((c) => c !== 'id' && c !== 'created_at');
const API_COLUMNS = API_COLUMN_LIST.join(', ');
const NODE_COLUMNS = NODE_COLUMN_LIST.join(', ');
const placeholders = (n: number): string => Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ');
// The database's clock as ISO 8601 UTC with milliseconds (the format of every timestamp column);
// clock_timestamp rather than now(), which is frozen at the start of the transaction.
const isoUtc = (timestamp: string): string => `to_char((${timestamp}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const PROCESS_COLUMNS = PROCESS_BEAT_COLUMNS.join(', ');
const CERT_COLUMNS = CERTIFICATE_COLUMNS.join(', ');

const SQL = {
  version: 'SELECT config_version FROM meta WHERE id = 1',
  // Every write locks the meta row first: writers (in any process) queue here, so each one's reads
  // and conflict checks see every write committed before it, and versions move by exactly one.
  lockMeta: 'SELECT config_version FROM meta WHERE id = 1 FOR UPDATE',
  bumpVersion: 'UPDATE meta SET config_version = config_version + 1 WHERE id = 1 RETURNING config_version',
  // Queued by NOTIFY, sent on COMMIT only; current_schema() tells listeners of other schemas apart.
  notify: "SELECT pg_notify($1, current_schema() || ':' || $2)",

  listApis: `SELECT ${API_COLUMNS} FROM apis ORDER BY created_at, name_key`,
  getApi: `SELECT ${API_COLUMNS} FROM apis WHERE id = $1`,
  getApiForUpdate: `SELECT ${API_COLUMNS} FROM apis WHERE id = $1 FOR UPDATE`,
  apiExists: 'SELECT 1 FROM apis WHERE id = $1',
  apisByNameOrPath: 'SELECT id, name, host, methods, path FROM apis WHERE name_key = $1 OR path = $2',
  insertApi: `INSERT INTO apis (${API_COLUMNS}) VALUES (${placeholders(API_COLUMN_LIST.length)})`,
  // $1 is the id; then every column the update sets, in API_UPDATE_COLUMNS order.
  updateApi: `UPDATE apis SET ${API_UPDATE_COLUMNS.map((c, i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1`,
  setApiSelector: `UPDATE apis SET selector = $1, updated_at = $2 WHERE id = $3 RETURNING ${API_COLUMNS}`,
  deleteApi: 'DELETE FROM apis WHERE id = $1',

  listAllNodes: `SELECT ${NODE_COLUMNS} FROM nodes ORDER BY api_id, position`,
  listNodes: `SELECT ${NODE_COLUMNS} FROM nodes WHERE api_id = $1 ORDER BY position`,
  getNode: `SELECT ${NODE_COLUMNS} FROM nodes WHERE api_id = $1 AND id = $2`,
  getNodeForUpdate: `SELECT ${NODE_COLUMNS} FROM nodes WHERE api_id = $1 AND id = $2 FOR UPDATE`,
  nextNodePosition: 'SELECT COALESCE(MAX(position), -1) + 1 AS position FROM nodes WHERE api_id = $1',
  insertNode: `INSERT INTO nodes (${NODE_COLUMNS}) VALUES (${placeholders(NODE_COLUMN_LIST.length)})`,
  updateNode: `UPDATE nodes SET name = $3, connector = $4, enabled = $5, weight = $6, tags = $7, rules = $8, updated_at = $9
    WHERE api_id = $1 AND id = $2`,
  deleteNode: 'DELETE FROM nodes WHERE api_id = $1 AND id = $2',

  listVariables: 'SELECT name, value, updated_at FROM variables ORDER BY name',
  getVariable: 'SELECT name, value, updated_at FROM variables WHERE name = $1',
  putVariable: `INSERT INTO variables (name, value, updated_at) VALUES ($1, $2, $3)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  deleteVariable: 'DELETE FROM variables WHERE name = $1',

  listConsumers: `SELECT ${CONSUMER_COLUMNS.join(', ')} FROM consumers ORDER BY created_at, name_key`,
  getConsumer: `SELECT ${CONSUMER_COLUMNS.join(', ')} FROM consumers WHERE id = $1`,
  getConsumerForUpdate: `SELECT ${CONSUMER_COLUMNS.join(', ')} FROM consumers WHERE id = $1 FOR UPDATE`,
  insertConsumer: `INSERT INTO consumers (${CONSUMER_COLUMNS.join(', ')}) VALUES (${placeholders(CONSUMER_COLUMNS.length)})`,
  updateConsumer: 'UPDATE consumers SET name = $2, name_key = $3, tags = $4, credentials = $5, updated_at = $6 WHERE id = $1',
  deleteConsumer: 'DELETE FROM consumers WHERE id = $1',

  nextSelectorVersion: 'SELECT COALESCE(MAX(version), 0) + 1 AS version FROM selector_versions WHERE api_id = $1',
  insertSelectorVersion: 'INSERT INTO selector_versions (api_id, version, selector, saved_at) VALUES ($1, $2, $3, $4)',
  pruneSelectorVersions: 'DELETE FROM selector_versions WHERE api_id = $1 AND version <= $2',
  listSelectorVersions: 'SELECT api_id, version, selector, saved_at FROM selector_versions WHERE api_id = $1 ORDER BY version DESC LIMIT $2',

  listCertificates: `SELECT ${CERT_COLUMNS} FROM certificates ORDER BY created_at, id`,
  getCertificateForUpdate: `SELECT ${CERT_COLUMNS} FROM certificates WHERE id = $1 FOR UPDATE`,
  getCertificate: `SELECT ${CERT_COLUMNS} FROM certificates WHERE id = $1`,
  insertCertificate: `INSERT INTO certificates (${CERT_COLUMNS}) VALUES (${placeholders(CERTIFICATE_COLUMNS.length)})`,
  deleteCertificate: 'DELETE FROM certificates WHERE id = $1',
  clearDefaultCertificate: 'UPDATE certificates SET is_default = false WHERE id <> $1 AND is_default',

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

/**
 * The PostgreSQL driver of the Store: a small pool, every write one READ COMMITTED transaction
 * serialized on the meta row that bumps the version and NOTIFYs listeners on commit. Connection
 * failures surface as StoreUnavailableError.
 */
export class PostgresStore implements Store {
  private readonly tracker = new HealthTracker();
  private readonly listeners = new Set<ConfigListener>();
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly settings: ConnectionSettings,
    private readonly log: Logger,
    private readonly backoff: Backoff,
    private readonly heartbeatMs: number,
    private readonly operationTimeoutMs: number,
  ) {
    // An idle pooled connection the server drops emits here; without a listener it would crash the
    // process. The pool discards that connection itself, and health is left alone: an idle connection
    // closing (server restart, proxy idle timeout) says nothing about whether the next one will work.
    pool.on('error', (err) => this.log.warn({ err: describe(err) }, 'idle store connection lost'));
    // pg-pool drops its error listener while a connection is checked out, and pg emits 'error' when
    // the server goes away mid-query (besides rejecting the query): without this listener that
    // emit is an uncaught exception that kills the gateway. The query's rejection reports it.
    pool.on('connect', (client) => client.on('error', () => undefined));
  }

  /** Connects, creates the schema if needed and applies pending migrations (unless told not to). */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const settings: ConnectionSettings = { url, schema: options.schema, connectTimeoutMs: options.connectTimeoutMs ?? 5_000 };
    const log = options.logger ?? pino({ level: 'silent' });
    const backoff = { initialMs: options.reconnect?.initialMs ?? 100, maxMs: options.reconnect?.maxMs ?? 5_000 };
    if (options.migrate !== false) await migrateOnce(settings);
    const pool = new pg.Pool({ ...clientConfig(settings, 'store'), max: options.poolSize ?? 5 });
    return new PostgresStore(pool, settings, log, backoff, options.heartbeatMs ?? 15_000, options.operationTimeoutMs ?? 10_000);
  }

  async version(): Promise<number> {
    return this.read((c) => currentVersion(c));
  }

  async loadConfig(): Promise<ConfigState> {
    // One snapshot for the version and every row; read only, so it never waits for writers.
    return this.read(
      async (tx): Promise<ConfigState> => ({
        version: await currentVersion(tx),
        apis: (await tx.query<ApiRow>(SQL.listApis)).rows.map(apiFromRow),
        nodes: (await tx.query<NodeRow>(SQL.listAllNodes)).rows.map(nodeFromRow),
        variables: (await tx.query<VariableRow>(SQL.listVariables)).rows.map(variableFromRow),
        certificates: (await tx.query<CertificateRow>(SQL.listCertificates)).rows.map(certificateFromRow),
        consumers: (await tx.query<ConsumerRow>(SQL.listConsumers)).rows.map(consumerFromRow),
      }),
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    );
  }

  async listApis(): Promise<Api[]> {
    return this.read(async (c) => (await c.query<ApiRow>(SQL.listApis)).rows.map(apiFromRow));
  }

  async getApi(id: string): Promise<Api | null> {
    return this.read(async (c) => {
      const row = (await c.query<ApiRow>(SQL.getApi, [id])).rows[0];
      return row ? apiFromRow(row) : null;
    });
  }

  async createApi(input: ApiCreate): Promise<Api> {
    return this.write(async (tx) => {
      const now = new Date().toISOString();
      const api = Api.parse({ ...input, id: randomUUID(), createdAt: now, updatedAt: now });
      await assertNoConflict(tx, api);
      await tx.query(SQL.insertApi, apiParams(api));
      if (api.selector !== null) await recordSelector(tx, api.id, api.selector, now);
      return { wrote: true, value: api };
    });
  }

  async updateApi(id: string, mutate: Mutator<Api>): Promise<Api | null> {
    return this.write<Api | null>(async (tx) => {
      const row = (await tx.query<ApiRow>(SQL.getApiForUpdate, [id])).rows[0];
      if (!row) return { wrote: false, value: null };
      const current = apiFromRow(row);
      // Taken before the mutator runs, in case it edits `current` in place.
      const previousSelector = selectorToText(current.selector);
      const now = new Date().toISOString();
      // Identity and creation time belong to the store, whatever the mutator returns.
      const next = Api.parse({ ...mutate(current), id: current.id, createdAt: current.createdAt, updatedAt: now });
      await assertNoConflict(tx, next);
      const r = apiToRow(next);
      await tx.query(SQL.updateApi, [r.id, ...API_UPDATE_COLUMNS.map((c) => r[c])]);
      if (selectorToText(next.selector) !== previousSelector) await recordSelector(tx, id, next.selector, now);
      return { wrote: true, value: next };
    });
  }

  async deleteApi(id: string): Promise<boolean> {
    return this.write(async (tx) => {
      const wrote = ((await tx.query(SQL.deleteApi, [id])).rowCount ?? 0) > 0;
      return { wrote, value: wrote };
    });
  }

  async listNodes(apiId: string): Promise<Node[]> {
    return this.read(async (c) => (await c.query<NodeRow>(SQL.listNodes, [apiId])).rows.map(nodeFromRow));
  }

  async getNode(apiId: string, nodeId: string): Promise<Node | null> {
    return this.read(async (c) => {
      const row = (await c.query<NodeRow>(SQL.getNode, [apiId, nodeId])).rows[0];
      return row ? nodeFromRow(row) : null;
    });
  }

  async createNode(apiId: string, input: NodeCreate): Promise<Node | null> {
    return this.write<Node | null>(async (tx) => {
      if ((await tx.query(SQL.apiExists, [apiId])).rowCount === 0) return { wrote: false, value: null };
      const now = new Date().toISOString();
      const node = Node.parse({ ...input, id: randomUUID(), apiId, createdAt: now, updatedAt: now });
      const position = (await tx.query<{ position: number }>(SQL.nextNodePosition, [apiId])).rows[0]!.position;
      const row = nodeToRow(node, position);
      await tx.query(SQL.insertNode, NODE_COLUMN_LIST.map((c) => row[c]));
      return { wrote: true, value: node };
    });
  }

  async updateNode(apiId: string, nodeId: string, mutate: Mutator<Node>): Promise<Node | null> {
    return this.write<Node | null>(async (tx) => {
      const row = (await tx.query<NodeRow>(SQL.getNodeForUpdate, [apiId, nodeId])).rows[0];
      if (!row) return { wrote: false, value: null };
      const current = nodeFromRow(row);
      const next = Node.parse({
        ...mutate(current),
        id: current.id,
        apiId: current.apiId,
        createdAt: current.createdAt,
        updatedAt: new Date().toISOString(),
      });
      const r = nodeToRow(next, row.position);
      await tx.query(SQL.updateNode, [r.api_id, r.id, r.name, r.connector, r.enabled, r.weight, r.tags, r.rules, r.updated_at]);
      return { wrote: true, value: next };
    });
  }

  async deleteNode(apiId: string, nodeId: string): Promise<boolean> {
    return this.write(async (tx) => {
      const wrote = ((await tx.query(SQL.deleteNode, [apiId, nodeId])).rowCount ?? 0) > 0;
      return { wrote, value: wrote };
    });
  }

  async listVariables(): Promise<Variable[]> {
    return this.read(async (c) => (await c.query<VariableRow>(SQL.listVariables)).rows.map(variableFromRow));
  }

  async getVariable(name: string): Promise<Variable | null> {
    return this.read(async (c) => {
      const row = (await c.query<VariableRow>(SQL.getVariable, [name])).rows[0];
      return row ? variableFromRow(row) : null;
    });
  }

  async putVariable(name: string, value: string): Promise<Variable> {
    return this.write(async (tx) => {
      const variable = Variable.parse({ name, value, updatedAt: new Date().toISOString() });
      await tx.query(SQL.putVariable, [variable.name, variable.value, variable.updatedAt]);
      return { wrote: true, value: variable };
    });
  }

  async deleteVariable(name: string): Promise<boolean> {
    return this.write(async (tx) => {
      const wrote = ((await tx.query(SQL.deleteVariable, [name])).rowCount ?? 0) > 0;
      return { wrote, value: wrote };
    });
  }

  async listConsumers(): Promise<Consumer[]> {
    return this.read(async (c) => (await c.query<ConsumerRow>(SQL.listConsumers)).rows.map(consumerFromRow));
  }

  async getConsumer(id: string): Promise<Consumer | null> {
    return this.read(async (c) => {
      const row = (await c.query<ConsumerRow>(SQL.getConsumer, [id])).rows[0];
      return row ? consumerFromRow(row) : null;
    });
  }

  async createConsumer(input: NewConsumer): Promise<Consumer> {
    return this.write(async (tx) => {
      const now = new Date().toISOString();
      const consumer = Consumer.parse({ ...input, id: randomUUID(), createdAt: now, updatedAt: now });
      // Writers queue on the meta row, so every consumer committed before this one is in the list.
      assertNoConsumerConflict(consumer, (await tx.query<ConsumerRow>(SQL.listConsumers)).rows.map(consumerFromRow));
      const row = consumerToRow(consumer);
      await tx.query(SQL.insertConsumer, CONSUMER_COLUMNS.map((c) => row[c]));
      return { wrote: true, value: consumer };
    });
  }

  async updateConsumer(id: string, mutate: Mutator<Consumer>): Promise<Consumer | null> {
    return this.write<Consumer | null>(async (tx) => {
      const row = (await tx.query<ConsumerRow>(SQL.getConsumerForUpdate, [id])).rows[0];
      if (!row) return { wrote: false, value: null };
      const current = consumerFromRow(row);
      const next = Consumer.parse({ ...mutate(current), id: current.id, createdAt: current.createdAt, updatedAt: new Date().toISOString() });
      assertNoConsumerConflict(next, (await tx.query<ConsumerRow>(SQL.listConsumers)).rows.map(consumerFromRow));
      const r = consumerToRow(next);
      await tx.query(SQL.updateConsumer, [r.id, r.name, r.name_key, r.tags, r.credentials, r.updated_at]);
      return { wrote: true, value: next };
    });
  }

  async deleteConsumer(id: string): Promise<boolean> {
    return this.write(async (tx) => {
      const wrote = ((await tx.query(SQL.deleteConsumer, [id])).rowCount ?? 0) > 0;
      return { wrote, value: wrote };
    });
  }

  async setSelector(apiId: string, selector: SelectorConfig | null): Promise<Api | null> {
    return this.write<Api | null>(async (tx) => {
      const valid = SelectorConfig.nullable().parse(selector);
      const now = new Date().toISOString();
      const row = (await tx.query<ApiRow>(SQL.setApiSelector, [selectorToText(valid), now, apiId])).rows[0];
      if (!row) return { wrote: false, value: null };
      await recordSelector(tx, apiId, valid, now);
      return { wrote: true, value: apiFromRow(row) };
    });
  }

  async listSelectorVersions(apiId: string): Promise<SelectorVersion[]> {
    return this.read(async (c) => {
      const rows = (await c.query<SelectorVersionRow>(SQL.listSelectorVersions, [apiId, SELECTOR_HISTORY_LIMIT])).rows;
      return rows.map(selectorVersionFromRow);
    });
  }

  async listCertificates(): Promise<Certificate[]> {
    return this.read(async (c) => (await c.query<CertificateRow>(SQL.listCertificates)).rows.map(certificateFromRow));
  }

  async getCertificate(id: string): Promise<Certificate | null> {
    return this.read(async (c) => {
      const row = (await c.query<CertificateRow>(SQL.getCertificate, [id])).rows[0];
      return row ? certificateFromRow(row) : null;
    });
  }

  async createCertificate(record: CertificateRecord): Promise<Certificate> {
    return this.write(async (tx) => {
      const now = new Date().toISOString();
      const cert = Certificate.parse({ ...CertificateRecord.parse(record), id: randomUUID(), createdAt: now, updatedAt: now });
      await putCertificate(tx, cert, false);
      return { wrote: true, value: cert };
    });
  }

  async updateCertificate(id: string, mutate: Mutator<Certificate>): Promise<Certificate | null> {
    return this.write<Certificate | null>(async (tx) => {
      const row = (await tx.query<CertificateRow>(SQL.getCertificateForUpdate, [id])).rows[0];
      if (!row) return { wrote: false, value: null };
      const current = certificateFromRow(row);
      const next = Certificate.parse({ ...mutate(current), id: current.id, createdAt: current.createdAt, updatedAt: new Date().toISOString() });
      await putCertificate(tx, next, true);
      return { wrote: true, value: next };
    });
  }

  async deleteCertificate(id: string): Promise<boolean> {
    return this.write(async (tx) => {
      const wrote = ((await tx.query(SQL.deleteCertificate, [id])).rowCount ?? 0) > 0;
      return { wrote, value: wrote };
    });
  }

  // Heartbeats go through the read path: one statement each, idempotent, so its single retry on a
  // dead pooled connection is safe; they never take the meta lock, bump the version or notify.

  async heartbeat(beat: ProcessBeat): Promise<void> {
    const values = processBeatValues(ProcessBeat.parse(beat));
    await this.read(async (c) => c.query(SQL.upsertProcess, values));
  }

  async removeProcess(id: string): Promise<boolean> {
    return this.read(async (c) => ((await c.query(SQL.deleteProcess, [id])).rowCount ?? 0) > 0);
  }

  async listProcesses(): Promise<ClusterState> {
    return this.read(async (c) => {
      const { rows } = await c.query<ProcessRow & { now: string }>(SQL.listProcesses);
      // With no rows, the clock still has to come from the database.
      const now = rows[0]?.now ?? (await c.query<{ now: string }>(SQL.now)).rows[0]!.now;
      return { now, processes: rows.map(processFromRow) };
    });
  }

  async pruneProcesses(olderThanMs: number): Promise<number> {
    return this.read(async (c) => (await c.query(SQL.pruneProcesses, [Math.max(0, Math.round(olderThanMs))])).rowCount ?? 0);
  }

  /**
   * Reports config versions as writes commit (in any process), over a dedicated LISTEN connection
   * that reconnects with backoff and reports the current version after each (re)connect. Returns a
   * function that stops it.
   */
  watch(onVersion: (version: number) => void): () => void {
    if (this.closed) throw new Error('the store is closed');
    const listener = new ConfigListener({
      config: clientConfig(this.settings, 'listener'),
      backoff: this.backoff,
      heartbeatMs: this.heartbeatMs,
      health: this.tracker,
      log: this.log,
      onVersion,
    });
    this.listeners.add(listener);
    listener.start();
    return () => {
      listener.stop();
      this.listeners.delete(listener);
    };
  }

  /** Whether the pool's last use and every watch connection succeeded, and the latest error if not. */
  health(): StoreHealth {
    return this.tracker.snapshot();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.listeners) listener.stop();
    this.listeners.clear();
    // A connection stuck on a dead network would hold end() until TCP gives up; shutdown must not wait that long.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS);
      timer.unref();
    });
    const ended = await Promise.race([this.pool.end().then(() => true as const), gaveUp]);
    clearTimeout(timer);
    if (!ended) this.log.warn(`store connections did not close within ${CLOSE_TIMEOUT_MS} ms; leaving them`);
  }

  /**
   * Runs one write transaction and bumps the config version once if the step wrote, notifying
   * listeners on commit. A throw anywhere (validation, conflict, constraint) rolls everything back.
   */
  private async write<T>(step: (tx: Tx) => Promise<WriteOutcome<T>>): Promise<T> {
    try {
      return await this.onConnection(async (tx) => {
        await tx.query(SQL.lockMeta);
        const { wrote, value } = await step(tx);
        if (wrote) {
          const version = (await tx.query<{ config_version: number }>(SQL.bumpVersion)).rows[0]!.config_version;
          await tx.query(SQL.notify, [CONFIG_CHANNEL, String(version)]);
        }
        return value;
      }, 'BEGIN');
    } catch (err) {
      // Never retried: a connection lost during COMMIT leaves the outcome unknown.
      throw this.failure(err);
    }
  }

  /** Runs a read; retried once on a fresh connection when a pooled one turns out to be dead. */
  private async read<T>(work: (client: Tx) => Promise<T>, begin: string | null = null): Promise<T> {
    try {
      return await this.onConnection(work, begin);
    } catch (err) {
      // A StoreUnavailableError here means no connection could be made at all: retrying would only wait again.
      if (err instanceof StoreUnavailableError || !isConnectionError(err)) throw this.failure(err);
      this.log.debug({ err: describe(err) }, 'store connection dropped; retrying the read once');
      try {
        return await this.onConnection(work, begin);
      } catch (again) {
        throw this.failure(again);
      }
    }
  }

  /** Runs `work` on one pooled connection, in a transaction opened with `begin` when given. */
  private async onConnection<T>(work: (client: Tx) => Promise<T>, begin: string | null): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.failure(err);
    }
    let broken = false;
    let timer: NodeJS.Timeout | undefined;
    const run = (async () => {
      if (begin !== null) await client.query(begin);
      const result = await work(client);
      if (begin !== null) await client.query('COMMIT');
      return result;
    })();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`PostgreSQL store unreachable: no answer within ${this.operationTimeoutMs} ms`)),
        this.operationTimeoutMs,
      );
    });
    try {
      const result = await Promise.race([run, deadline]);
      this.tracker.poolSucceeded();
      return result;
    } catch (err) {
      // A timed-out connection is in an unknown state (maybe mid-transaction): never reused, and its late outcome ignored.
      if (err instanceof StoreUnavailableError) {
        run.catch(() => undefined);
        broken = true;
      } else {
        broken = isConnectionError(err) || (begin !== null && !(await rollback(client)));
      }
      throw err;
    } finally {
      clearTimeout(timer);
      // A broken connection is destroyed rather than handed to the next caller.
      client.release(broken ? true : undefined);
    }
  }

  /** Maps a connection failure to StoreUnavailableError (and records it); any other error unchanged. */
  private failure(err: unknown): unknown {
    const mapped = asStoreError(err);
    if (mapped instanceof StoreUnavailableError) this.tracker.poolFailed(describe(mapped.cause ?? mapped));
    return mapped;
  }
}

/** Opens the PostgreSQL store at `url` (e.g. `postgres://user@host/db`), applying pending migrations. */
export async function openPostgresStore(url: string, options?: PostgresStoreOptions): Promise<PostgresStore> {
  return PostgresStore.open(url, options);
}

/** Runs the migrations on a dedicated connection, which holds the session-level advisory lock. */
async function migrateOnce(settings: ConnectionSettings): Promise<void> {
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

async function currentVersion(client: Tx): Promise<number> {
  const version = (await client.query<{ config_version: number }>(SQL.version)).rows[0]?.config_version;
  if (version === undefined) throw new Error('the store schema has no meta row; is it migrated?');
  return version;
}

/** Rolls back; false when that failed too (the connection is then unusable). */
async function rollback(client: Tx): Promise<boolean> {
  try {
    await client.query('ROLLBACK');
    return true;
  } catch {
    return false;
  }
}

function apiParams(api: Api): unknown[] {
  const row = apiToRow(api);
  return API_COLUMN_LIST.map((c) => row[c]);
}

async function assertNoConflict(tx: Tx, api: Api): Promise<void> {
  const { rows } = await tx.query<Pick<ApiRow, 'id' | 'name' | 'host' | 'methods' | 'path'>>(SQL.apisByNameOrPath, [
    apiNameKey(api.name),
    api.path,
  ]);
  assertNoApiConflict(
    api,
    rows.map((r) => ({ ...r, methods: JSON.parse(r.methods) as Api['methods'] })),
  );
}

/** Writes a certificate (inside a write, under the meta lock) after the name check; a default one takes over from the previous default. */
async function putCertificate(tx: Tx, cert: Certificate, replace: boolean): Promise<void> {
  assertNoCertificateConflict(cert, (await tx.query<CertificateRow>(SQL.listCertificates)).rows.map(certificateFromRow));
  if (replace) await tx.query(SQL.deleteCertificate, [cert.id]);
  await tx.query(SQL.insertCertificate, certificateValues(cert));
  if (cert.isDefault) await tx.query(SQL.clearDefaultCertificate, [cert.id]);
}

async function recordSelector(tx: Tx, apiId: string, selector: SelectorConfig | null, savedAt: string): Promise<void> {
  const version = (await tx.query<{ version: number }>(SQL.nextSelectorVersion, [apiId])).rows[0]!.version;
  await tx.query(SQL.insertSelectorVersion, [apiId, version, selectorToText(selector), savedAt]);
  await tx.query(SQL.pruneSelectorVersions, [apiId, version - SELECTOR_HISTORY_LIMIT]);
}
