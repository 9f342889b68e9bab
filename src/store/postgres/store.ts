import pg from 'pg';
import { pino, type Logger } from 'pino';
import { Api, type ApiCreate } from '../../model/api.js';
import type { AuditPage, AuditQuery, PlanResult } from '../../model/audit.js';
import { Certificate, CertificateRecord } from '../../model/certificate.js';
import { ProcessBeat, type ClusterState } from '../../model/cluster.js';
import { Consumer } from '../../model/consumer.js';
import { Node, type NodeCreate } from '../../model/node.js';
import { SelectorConfig } from '../../model/selector.js';
import { AdminToken, type TokenCreate } from '../../model/token.js';
import { Variable } from '../../model/variable.js';
import { auditEntryFromRow, auditPage, auditSelect, type StoredAuditRow } from '../audit-log.js';
import { idempotencyCutoff, idempotencyFromRow, type IdempotencyRecord, type IdempotencyRow } from '../commit.js';
import {
  objectKey,
  planRestore,
  planRevert,
  requireCompleteHistory,
  requireLoggedWrite,
  type PlanKind,
} from '../plans.js';
import {
  nodeFromRow,
  apiFromRow,
  processBeatValues,
  processFromRow,
  selectorVersionFromRow,
  tokenFromRow,
  variableFromRow,
  type ApiRow,
  type NodeRow,
  type ProcessRow,
  type SelectorVersionRow,
  type TokenRow,
  type VariableRow,
} from '../rows.js';
import {
  SELECTOR_HISTORY_LIMIT,
  type ConfigState,
  type Mutator,
  type NewConsumer,
  type Planner,
  type SelectorVersion,
  type Store,
  type StoreHealth,
} from '../store.js';
import { newToken } from '../tokens.js';
import { deleted, newObject, nowIso, updatedObject } from '../write-steps.js';
import { clientConfig, type ConnectionSettings } from './connection.js';
import { HealthTracker } from './health.js';
import { ConfigListener, type Backoff } from './listener.js';
import { currentVersion, Transactions } from './transactions.js';
import { migrate } from './migrations.js';
import {
  listCertificates,
  listConsumers,
  readApi,
  readCertificate,
  readConsumer,
  readObject,
  readVariable,
  removeApi,
  removeCertificate,
  removeConsumer,
  removeNode,
  removeVariable,
  saveApi,
  saveCertificate,
  saveConsumer,
  saveNode,
  saveVariable,
  type Tx,
} from './objects.js';
import { changeToken, insertToken, removeToken } from './records.js';
import { AUDIT_COLUMN_LIST, SQL } from './sql.js';
import { asStoreError, describe } from './unavailable.js';

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
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly settings: ConnectionSettings,
    private readonly log: Logger,
    private readonly backoff: Backoff,
    private readonly heartbeatMs: number,
    operationTimeoutMs: number,
  ) {
    this.transactions = new Transactions(pool, this.tracker, log, operationTimeoutMs);
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
    const pool = new pg.Pool({ ...clientConfig(settings, 'store'), max: options.poolSize ?? 5 });
    return new PostgresStore(
      pool,
      settings,
      log,
      backoff,
      options.heartbeatMs ?? 15_000,
      options.operationTimeoutMs ?? 10_000,
    );
  }

  async version(): Promise<number> {
    return this.transactions.read((c) => currentVersion(c));
  }

  async loadConfig(): Promise<ConfigState> {
    // One snapshot for the version and every row; read only, so it never waits for writers.
    return this.transactions.read(readConfig, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async listApis(): Promise<Api[]> {
    return this.transactions.read(async (c) => (await c.query<ApiRow>(SQL.listApis)).rows.map(apiFromRow));
  }

  async getApi(id: string): Promise<Api | null> {
    return this.transactions.read((c) => readApi(c, id));
  }

  async createApi(input: ApiCreate): Promise<Api> {
    return this.transactions.write(async (tx) => {
      const api = newObject(Api, input);
      return { value: api, changes: [await saveApi(tx, api, null)] };
    });
  }

  async updateApi(id: string, mutate: Mutator<Api>): Promise<Api | null> {
    return this.transactions.write<Api | null>(async (tx) => {
      const current = await readApi(tx, id, true);
      if (!current) return { value: null, changes: [] };
      const next = updatedObject(Api, current, mutate);
      return { value: next, changes: [await saveApi(tx, next, current)] };
    });
  }

  async deleteApi(id: string): Promise<boolean> {
    return this.transactions.write(async (tx) => deleted(await removeApi(tx, id)));
  }

  async listNodes(apiId: string): Promise<Node[]> {
    return this.transactions.read(async (c) => (await c.query<NodeRow>(SQL.listNodes, [apiId])).rows.map(nodeFromRow));
  }

  async getNode(apiId: string, nodeId: string): Promise<Node | null> {
    return this.transactions.read(async (c) => {
      const row = (await c.query<NodeRow>(SQL.getNode, [apiId, nodeId])).rows[0];
      return row ? nodeFromRow(row) : null;
    });
  }

  async createNode(apiId: string, input: NodeCreate): Promise<Node | null> {
    return this.transactions.write<Node | null>(async (tx) => {
      if (!(await readApi(tx, apiId))) return { value: null, changes: [] };
      const node = newObject(Node, { ...input, apiId });
      return { value: node, changes: [await saveNode(tx, node, null)] };
    });
  }

  async updateNode(apiId: string, nodeId: string, mutate: Mutator<Node>): Promise<Node | null> {
    return this.transactions.write<Node | null>(async (tx) => {
      const row = (await tx.query<NodeRow>(SQL.getNodeForUpdate, [apiId, nodeId])).rows[0];
      if (!row) return { value: null, changes: [] };
      const current = nodeFromRow(row);
      const next = updatedObject(Node, current, mutate, { apiId: current.apiId });
      return { value: next, changes: [await saveNode(tx, next, current)] };
    });
  }

  async deleteNode(apiId: string, nodeId: string): Promise<boolean> {
    return this.transactions.write(async (tx) => {
      const row = (await tx.query<NodeRow>(SQL.getNodeForUpdate, [apiId, nodeId])).rows[0];
      return deleted(row ? [await removeNode(tx, nodeFromRow(row))] : []);
    });
  }

  async listVariables(): Promise<Variable[]> {
    return this.transactions.read(async (c) =>
      (await c.query<VariableRow>(SQL.listVariables)).rows.map(variableFromRow),
    );
  }

  async getVariable(name: string): Promise<Variable | null> {
    return this.transactions.read((c) => readVariable(c, name));
  }

  async putVariable(name: string, value: string): Promise<Variable> {
    return this.transactions.write(async (tx) => {
      const variable = Variable.parse({ name, value, updatedAt: nowIso() });
      return { value: variable, changes: [await saveVariable(tx, variable, await readVariable(tx, variable.name))] };
    });
  }

  async deleteVariable(name: string): Promise<boolean> {
    return this.transactions.write(async (tx) => {
      const current = await readVariable(tx, name);
      return deleted(current ? [await removeVariable(tx, current)] : []);
    });
  }

  async listConsumers(): Promise<Consumer[]> {
    return this.transactions.read(listConsumers);
  }

  async getConsumer(id: string): Promise<Consumer | null> {
    return this.transactions.read((c) => readConsumer(c, id));
  }

  async createConsumer(input: NewConsumer): Promise<Consumer> {
    return this.transactions.write(async (tx) => {
      const consumer = newObject(Consumer, input);
      return { value: consumer, changes: [await saveConsumer(tx, consumer, null)] };
    });
  }

  async updateConsumer(id: string, mutate: Mutator<Consumer>): Promise<Consumer | null> {
    return this.transactions.write<Consumer | null>(async (tx) => {
      const current = await readConsumer(tx, id, true);
      if (!current) return { value: null, changes: [] };
      const next = updatedObject(Consumer, current, mutate);
      return { value: next, changes: [await saveConsumer(tx, next, current)] };
    });
  }

  async deleteConsumer(id: string): Promise<boolean> {
    return this.transactions.write(async (tx) => {
      const current = await readConsumer(tx, id, true);
      return deleted(current ? [await removeConsumer(tx, current)] : []);
    });
  }

  async setSelector(apiId: string, selector: SelectorConfig | null): Promise<Api | null> {
    return this.transactions.write<Api | null>(async (tx) => {
      const valid = SelectorConfig.nullable().parse(selector);
      const current = await readApi(tx, apiId, true);
      if (!current) return { value: null, changes: [] };
      const next = Api.parse({ ...current, selector: valid, updatedAt: nowIso() });
      return { value: next, changes: [await saveApi(tx, next, current, true)] };
    });
  }

  async listSelectorVersions(apiId: string): Promise<SelectorVersion[]> {
    return this.transactions.read(async (c) => {
      const rows = (await c.query<SelectorVersionRow>(SQL.listSelectorVersions, [apiId, SELECTOR_HISTORY_LIMIT])).rows;
      return rows.map(selectorVersionFromRow);
    });
  }

  async listCertificates(): Promise<Certificate[]> {
    return this.transactions.read(listCertificates);
  }

  async getCertificate(id: string): Promise<Certificate | null> {
    return this.transactions.read((c) => readCertificate(c, id));
  }

  async createCertificate(record: CertificateRecord): Promise<Certificate> {
    return this.transactions.write(async (tx) => {
      const cert = newObject(Certificate, CertificateRecord.parse(record));
      return { value: cert, changes: await saveCertificate(tx, cert, null) };
    });
  }

  async updateCertificate(id: string, mutate: Mutator<Certificate>): Promise<Certificate | null> {
    return this.transactions.write<Certificate | null>(async (tx) => {
      const current = await readCertificate(tx, id, true);
      if (!current) return { value: null, changes: [] };
      const next = updatedObject(Certificate, current, mutate);
      return { value: next, changes: await saveCertificate(tx, next, current) };
    });
  }

  async deleteCertificate(id: string): Promise<boolean> {
    return this.transactions.write(async (tx) => {
      const current = await readCertificate(tx, id, true);
      return deleted(current ? [await removeCertificate(tx, current)] : []);
    });
  }

  async listAudit(query: AuditQuery): Promise<AuditPage> {
    const { sql, values } = auditSelect(AUDIT_COLUMN_LIST, query, (i) => `$${i}`);
    return this.transactions.read(async (c) =>
      auditPage((await c.query<StoredAuditRow>(sql, values)).rows, query.limit),
    );
  }

  async revertVersion(version: number): Promise<PlanResult> {
    return this.transactions.writePlan(async (tx) => {
      const entries = (await tx.query<StoredAuditRow>(SQL.auditOfVersion, [version])).rows.map(auditEntryFromRow);
      requireLoggedWrite(version, await currentVersion(tx), entries);
      const current = new Map<string, object | null>();
      for (const e of entries)
        current.set(objectKey(e.kind, e.objectId), await readObject(tx, e.kind as PlanKind, e.objectId));
      return planRevert(version, entries, current);
    }, `revert of version ${version}`);
  }

  async restoreVersion(version: number): Promise<PlanResult> {
    return this.transactions.writePlan(async (tx) => {
      const logged = (await tx.query<{ n: number }>(SQL.loggedVersionsAfter, [version])).rows[0]!.n;
      requireCompleteHistory(version, await currentVersion(tx), logged);
      return planRestore(
        (await tx.query<StoredAuditRow>(SQL.auditAfterVersion, [version])).rows.map(auditEntryFromRow),
      );
    }, `restore of version ${version}`);
  }

  async applyPlan(planner: Planner, cause: string): Promise<PlanResult> {
    return this.transactions.writePlan(async (tx) => planner(await readConfig(tx)), cause);
  }

  async listTokens(): Promise<AdminToken[]> {
    return this.transactions.read(async (c) => (await c.query<TokenRow>(SQL.listTokens)).rows.map(tokenFromRow));
  }

  async getToken(id: string): Promise<AdminToken | null> {
    return this.transactions.read(async (c) => {
      const row = (await c.query<TokenRow>(SQL.getToken, [id])).rows[0];
      return row ? tokenFromRow(row) : null;
    });
  }

  async findTokenByHash(secretHash: string): Promise<AdminToken | null> {
    return this.transactions.read(async (c) => {
      const row = (await c.query<TokenRow>(SQL.tokenByHash, [secretHash])).rows[0];
      return row ? tokenFromRow(row) : null;
    });
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
    return this.transactions.read(async (c) => {
      const row = (await c.query<IdempotencyRow>(SQL.findKey, [actorId, key, idempotencyCutoff()])).rows[0];
      return row ? idempotencyFromRow(row) : null;
    });
  }

  // Heartbeats go through the read path: one statement each, idempotent, so its single retry on a
  // dead pooled connection is safe; they never take the meta lock, bump the version or notify.

  async heartbeat(beat: ProcessBeat): Promise<void> {
    const values = processBeatValues(ProcessBeat.parse(beat));
    await this.transactions.read(async (c) => c.query(SQL.upsertProcess, values));
  }

  async removeProcess(id: string): Promise<boolean> {
    return this.transactions.read(async (c) => ((await c.query(SQL.deleteProcess, [id])).rowCount ?? 0) > 0);
  }

  async listProcesses(): Promise<ClusterState> {
    return this.transactions.read(async (c) => {
      const { rows } = await c.query<ProcessRow & { now: string }>(SQL.listProcesses);
      // With no rows, the clock still has to come from the database.
      const now = rows[0]?.now ?? (await c.query<{ now: string }>(SQL.now)).rows[0]!.now;
      return { now, processes: rows.map(processFromRow) };
    });
  }

  async pruneProcesses(olderThanMs: number): Promise<number> {
    return this.transactions.read(
      async (c) => (await c.query(SQL.pruneProcesses, [Math.max(0, Math.round(olderThanMs))])).rowCount ?? 0,
    );
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

/** The whole config, read on `tx` (in one snapshot when `tx` is a repeatable-read transaction). */
async function readConfig(tx: Tx): Promise<ConfigState> {
  return {
    version: await currentVersion(tx),
    apis: (await tx.query<ApiRow>(SQL.listApis)).rows.map(apiFromRow),
    nodes: (await tx.query<NodeRow>(SQL.listAllNodes)).rows.map(nodeFromRow),
    variables: (await tx.query<VariableRow>(SQL.listVariables)).rows.map(variableFromRow),
    certificates: await listCertificates(tx),
    consumers: await listConsumers(tx),
  };
}
