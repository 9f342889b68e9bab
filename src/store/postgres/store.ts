import pg from 'pg';
import { pino, type Logger } from 'pino';
import type { AuditPage, AuditListing, PlanResult } from '../../model/audit.js';
import { ProcessBeat, type ClusterState } from '../../model/cluster.js';
import { auditPage, auditSelect, type StoredAuditRow } from '../audit-log.js';
import { DriverStore, type DriverSteps } from '../driver-store.js';
import type { PlannedWrite } from '../plans.js';
import type { ConfigStamp, ConfigState, Planner, Store, StoreHealth } from '../store.js';
import { SkippedRows } from '../skipped-rows.js';
import type { WriteOutcome } from '../write-steps.js';
import * as apis from './apis.js';
import * as certificates from './certificates.js';
import { clientConfig, type ConnectionSettings, type Tx } from './connection.js';
import * as consumers from './consumers.js';
import { HealthTracker } from './health.js';
import { ConfigListener, type Backoff } from './listener.js';
import { migrateOnce } from './migrations.js';
import { currentStamp, currentVersion, readConfig, restorePlan, revertPlan } from './objects.js';
import { deleteProcess, listProcesses, pruneProcesses, upsertProcess } from './processes.js';
import * as records from './records.js';
import { AUDIT_COLUMN_LIST } from './sql.js';
import { Transactions } from './transactions.js';
import { describe } from './unavailable.js';
import * as variables from './variables.js';

/** The PostgreSQL steps of the Store operations both drivers run alike (src/store/driver-store.ts). */
const STEPS: DriverSteps<Tx, 'async'> = {
  ...apis,
  ...certificates,
  ...consumers,
  ...records,
  ...variables,
  revertPlan,
  restorePlan,
};

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
export class PostgresStore extends DriverStore<Tx, 'async'> implements Store {
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
    super(STEPS);
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

  async listAudit(query: AuditListing): Promise<AuditPage> {
    const { sql, values } = auditSelect(AUDIT_COLUMN_LIST, query, (i) => `$${i}`);
    return this.transactions.read(async (c) =>
      auditPage((await c.query<StoredAuditRow>(sql, values)).rows, query.limit),
    );
  }

  async applyPlan(planner: Planner, cause: string): Promise<PlanResult> {
    return this.transactions.writePlan(async (tx) => planner(await readConfig(tx)), cause);
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

  protected read<T>(step: (c: Tx) => Promise<T>): Promise<T> {
    return this.transactions.read(step);
  }

  protected write<T>(step: (tx: Tx) => Promise<WriteOutcome<T>>): Promise<T> {
    return this.transactions.write(step);
  }

  protected writePlan(plan: (tx: Tx) => Promise<PlannedWrite[]>, cause: string): Promise<PlanResult> {
    return this.transactions.writePlan(plan, cause);
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
