import pg from 'pg';
import { pino, type Logger } from 'pino';
import type { Api, ApiCreate } from '../../model/api.js';
import type { AuditPage, AuditListing, PlanResult } from '../../model/audit.js';
import type { Certificate, CertificateRecord } from '../../model/certificate.js';
import { ProcessBeat, type ClusterState } from '../../model/cluster.js';
import type { Consumer } from '../../model/consumer.js';
import type { Node, NodeCreate } from '../../model/node.js';
import type { SelectorConfig } from '../../model/selector.js';
import type { AdminToken, TokenCreate } from '../../model/token.js';
import type { Variable } from '../../model/variable.js';
import { auditPage, auditSelect, type StoredAuditRow } from '../audit-log.js';
import type { IdempotencyRecord } from '../commit.js';
import type {
  ConfigStamp,
  ConfigState,
  Mutator,
  NewConsumer,
  Planner,
  SelectorVersion,
  Store,
  StoreHealth,
} from '../store.js';
import { SkippedRows } from '../skipped-rows.js';
import { newToken } from '../tokens.js';
import {
  createApi,
  createNode,
  deleteApi,
  deleteNode,
  listApis,
  listNodes,
  listSelectorVersions,
  readApi,
  readNode,
  setSelector,
  updateApi,
  updateNode,
} from './apis.js';
import {
  createCertificate,
  deleteCertificate,
  listCertificates,
  readCertificate,
  updateCertificate,
} from './certificates.js';
import { clientConfig, type ConnectionSettings } from './connection.js';
import { createConsumer, deleteConsumer, listConsumers, readConsumer, updateConsumer } from './consumers.js';
import { HealthTracker } from './health.js';
import { ConfigListener, type Backoff } from './listener.js';
import { migrateOnce } from './migrations.js';
import { currentStamp, currentVersion, readConfig, restorePlan, revertPlan } from './objects.js';
import { deleteProcess, listProcesses, pruneProcesses, upsertProcess } from './processes.js';
import { changeToken, findKey, findTokenByHash, insertToken, listTokens, readToken, removeToken } from './records.js';
import { AUDIT_COLUMN_LIST } from './sql.js';
import { Transactions } from './transactions.js';
import { describe } from './unavailable.js';
import { deleteVariable, listVariables, putVariable, readVariable } from './variables.js';

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

/**
 * The PostgreSQL driver of the Store: a small pool, every write one READ COMMITTED transaction
 * serialized on the meta row that bumps the version and NOTIFYs listeners on commit. Connection
 * failures surface as StoreUnavailableError.
 */
export class PostgresStore implements Store {
  private readonly tracker = new HealthTracker();
  private readonly listeners = new Set<ConfigListener>();
  private readonly transactions: Transactions;
  private readonly skippedRows: SkippedRows;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly settings: ConnectionSettings,
    private readonly log: Logger,
    private readonly backoff: Backoff,
    private readonly heartbeatMs: number,
    private readonly operationTimeoutMs: number,
    poolSize: number,
  ) {
    this.transactions = new Transactions(pool, this.tracker, log, operationTimeoutMs, poolSize);
    this.skippedRows = new SkippedRows(log);
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
    const settings: ConnectionSettings = {
      url,
      schema: options.schema,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    };
    const log = options.logger ?? pino({ level: 'silent' });
    const backoff = { initialMs: options.reconnect?.initialMs ?? 100, maxMs: options.reconnect?.maxMs ?? 5_000 };
    if (options.migrate !== false) await migrateOnce(settings);
    const poolSize = options.poolSize ?? 5;
    const operationTimeoutMs = options.operationTimeoutMs ?? 10_000;
    // The server gives up on a statement (or a lock wait) when this process would, so an operation that
    // timed out leaves no backend waiting behind it; a transaction left idle (a process frozen or cut
    // off mid-write, holding the meta row) is ended after twice that, well after this process gave up.
    const timeouts = { statementMs: operationTimeoutMs, idleInTransactionMs: 2 * operationTimeoutMs };
    const pool = new pg.Pool({ ...clientConfig(settings, 'store', timeouts), max: poolSize });
    return new PostgresStore(pool, settings, log, backoff, options.heartbeatMs ?? 15_000, operationTimeoutMs, poolSize);
  }

  async version(): Promise<number> {
    return this.transactions.read((c) => currentVersion(c));
  }

  async stamp(): Promise<ConfigStamp> {
    return this.transactions.read((c) => currentStamp(c));
  }

  async loadConfig(): Promise<ConfigState> {
    // One snapshot for the version and every row; read only, so it never waits for writers.
    return this.transactions.read(readConfig, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async listApis(): Promise<Api[]> {
    return this.transactions.read(listApis);
  }

  async getApi(id: string): Promise<Api | null> {
    return this.transactions.read((c) => readApi(c, id));
  }

  async createApi(input: ApiCreate): Promise<Api> {
    return this.transactions.write((tx) => createApi(tx, input));
  }

  async updateApi(id: string, mutate: Mutator<Api>): Promise<Api | null> {
    return this.transactions.write((tx) => updateApi(tx, id, mutate));
  }

  async deleteApi(id: string): Promise<boolean> {
    return this.transactions.write((tx) => deleteApi(tx, id));
  }

  async listNodes(apiId: string): Promise<Node[]> {
    return this.transactions.read((c) => listNodes(c, apiId));
  }

  async getNode(apiId: string, nodeId: string): Promise<Node | null> {
    return this.transactions.read((c) => readNode(c, apiId, nodeId));
  }

  async createNode(apiId: string, input: NodeCreate): Promise<Node | null> {
    return this.transactions.write((tx) => createNode(tx, apiId, input));
  }

  async updateNode(apiId: string, nodeId: string, mutate: Mutator<Node>): Promise<Node | null> {
    return this.transactions.write((tx) => updateNode(tx, apiId, nodeId, mutate));
  }

  async deleteNode(apiId: string, nodeId: string): Promise<boolean> {
    return this.transactions.write((tx) => deleteNode(tx, apiId, nodeId));
  }

  async listVariables(): Promise<Variable[]> {
    return this.transactions.read(listVariables);
  }

  async getVariable(name: string): Promise<Variable | null> {
    return this.transactions.read((c) => readVariable(c, name));
  }

  async putVariable(name: string, value: string): Promise<Variable> {
    return this.transactions.write((tx) => putVariable(tx, name, value));
  }

  async deleteVariable(name: string): Promise<boolean> {
    return this.transactions.write((tx) => deleteVariable(tx, name));
  }

  async listConsumers(): Promise<Consumer[]> {
    return this.transactions.read(listConsumers);
  }

  async getConsumer(id: string): Promise<Consumer | null> {
    return this.transactions.read((c) => readConsumer(c, id));
  }

  async createConsumer(input: NewConsumer): Promise<Consumer> {
    return this.transactions.write((tx) => createConsumer(tx, input));
  }

  async updateConsumer(id: string, mutate: Mutator<Consumer>): Promise<Consumer | null> {
    return this.transactions.write((tx) => updateConsumer(tx, id, mutate));
  }

  async deleteConsumer(id: string): Promise<boolean> {
    return this.transactions.write((tx) => deleteConsumer(tx, id));
  }

  async setSelector(apiId: string, selector: SelectorConfig | null): Promise<Api | null> {
    return this.transactions.write((tx) => setSelector(tx, apiId, selector));
  }

  async listSelectorVersions(apiId: string): Promise<SelectorVersion[]> {
    return this.transactions.read((c) => listSelectorVersions(c, apiId));
  }

  async listCertificates(): Promise<Certificate[]> {
    return this.transactions.read(listCertificates);
  }

  async getCertificate(id: string): Promise<Certificate | null> {
    return this.transactions.read((c) => readCertificate(c, id));
  }

  async createCertificate(record: CertificateRecord): Promise<Certificate> {
    return this.transactions.write((tx) => createCertificate(tx, record));
  }

  async updateCertificate(id: string, mutate: Mutator<Certificate>): Promise<Certificate | null> {
    return this.transactions.write((tx) => updateCertificate(tx, id, mutate));
  }

  async deleteCertificate(id: string): Promise<boolean> {
    return this.transactions.write((tx) => deleteCertificate(tx, id));
  }

  async listAudit(query: AuditListing): Promise<AuditPage> {
    const { sql, values } = auditSelect(AUDIT_COLUMN_LIST, query, (i) => `$${i}`);
    return this.transactions.read(async (c) =>
      auditPage((await c.query<StoredAuditRow>(sql, values)).rows, query.limit),
    );
  }

  async revertVersion(version: number): Promise<PlanResult> {
    return this.transactions.writePlan((tx) => revertPlan(tx, version), `revert of version ${version}`);
  }

  async restoreVersion(version: number): Promise<PlanResult> {
    return this.transactions.writePlan((tx) => restorePlan(tx, version), `restore of version ${version}`);
  }

  async applyPlan(planner: Planner, cause: string): Promise<PlanResult> {
    return this.transactions.writePlan(async (tx) => planner(await readConfig(tx)), cause);
  }

  async listTokens(): Promise<AdminToken[]> {
    return this.transactions.read(listTokens);
  }

  async getToken(id: string): Promise<AdminToken | null> {
    return this.transactions.read((c) => readToken(c, id));
  }

  async findTokenByHash(secretHash: string): Promise<AdminToken | null> {
    return this.transactions.read((c) => findTokenByHash(c, secretHash));
  }

  async createToken(input: TokenCreate, secretHash: string): Promise<AdminToken> {
    return this.transactions.write((tx) => insertToken(tx, newToken(input), secretHash));
  }

  async updateToken(id: string, mutate: Mutator<AdminToken>): Promise<AdminToken | null> {
    return this.transactions.write((tx) => changeToken(tx, id, mutate));
  }

  async deleteToken(id: string): Promise<boolean> {
    return this.transactions.write((tx) => removeToken(tx, id));
  }

  async findIdempotencyKey(actorId: string, key: string): Promise<IdempotencyRecord | null> {
    return this.transactions.read((c) => findKey(c, actorId, key));
  }

  // Heartbeats go through the read path: one statement each, idempotent, so its single retry on a
  // dead pooled connection is safe; they never take the meta lock, bump the version or notify.

  async heartbeat(beat: ProcessBeat): Promise<void> {
    const valid = ProcessBeat.parse(beat);
    await this.transactions.read((c) => upsertProcess(c, valid));
  }

  async removeProcess(id: string): Promise<boolean> {
    return this.transactions.read((c) => deleteProcess(c, id));
  }

  async listProcesses(): Promise<ClusterState> {
    return this.transactions.read((c) => listProcesses(c, (err) => this.skippedRows.report(err)));
  }

  async pruneProcesses(olderThanMs: number): Promise<number> {
    return this.transactions.read((c) => pruneProcesses(c, olderThanMs));
  }

  /**
   * Reports config versions as writes commit (in any process), over a dedicated LISTEN connection
   * that reconnects with backoff and reports the current version after each (re)connect. Returns a
   * function that stops it.
   */
  watch(onVersion: (version: number) => void): () => void {
    if (this.closed) throw new Error('the store is closed');
    // Its statements (schema, LISTEN, version reads) must answer within an operation's time, and within
    // a heartbeat interval, or the connection is made anew; the server ends them then too. The idle
    // wait for notifications is no statement, so it is not limited.
    const answerTimeoutMs = Math.min(this.heartbeatMs, this.operationTimeoutMs);
    const listener = new ConfigListener({
      config: clientConfig(this.settings, 'listener', { statementMs: answerTimeoutMs }),
      backoff: this.backoff,
      heartbeatMs: this.heartbeatMs,
      answerTimeoutMs,
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
}

/** Opens the PostgreSQL store at `url` (e.g. `postgres://user@host/db`), applying pending migrations. */
export async function openPostgresStore(url: string, options?: PostgresStoreOptions): Promise<PostgresStore> {
  return PostgresStore.open(url, options);
}
