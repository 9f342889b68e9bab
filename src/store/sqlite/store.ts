import type Database from 'better-sqlite3';
import { pino, type Logger } from 'pino';
import type { AuditPage, AuditListing, PlanResult } from '../../model/audit.js';
import { ProcessBeat, type ClusterState } from '../../model/cluster.js';
import { auditPage, auditSelect, type StoredAuditRow } from '../audit-log.js';
import { isConfigWrite, summarize } from '../changes.js';
import { auditRows, checkBeforeCommit, idempotencyRow, selectorGrowth } from '../commit.js';
import { DriverStore, type DriverSteps } from '../driver-store.js';
import type { PlannedWrite } from '../plans.js';
import type { ConfigStamp, ConfigState, Planner, Store, StoreHealth } from '../store.js';
import { newVersionToken } from '../version-stamp.js';
import { SkippedRows } from '../skipped-rows.js';
import { currentWriteScope } from '../write-scope.js';
import { nowIso, type WriteOutcome } from '../write-steps.js';
import * as apis from './apis.js';
import * as certificates from './certificates.js';
import * as consumers from './consumers.js';
import { openExistingDatabase, type ExistingSqliteOptions } from './existing.js';
import { currentStamp, currentVersion, execute, readConfig, restorePlan, revertPlan } from './objects.js';
import { deleteProcess, listProcesses, pruneProcesses, upsertProcess } from './processes.js';
import * as records from './records.js';
import { AUDIT_COLUMN_LIST, prepareStatements, type Statements } from './statements.js';
import * as variables from './variables.js';
import { connectSqlite } from './connect.js';
import { sqliteFault, withWriteLock } from './faults.js';
import { FileIdentity } from './file-identity.js';

/** The SQLite steps of the Store operations both drivers run alike (src/store/driver-store.ts). */
const STEPS: DriverSteps<Statements, 'sync'> = {
  ...apis,
  ...certificates,
  ...consumers,
  ...records,
  ...variables,
  revertPlan,
  restorePlan,
};

/** The SQLite driver of the Store: one better-sqlite3 connection, WAL mode, every write one IMMEDIATE transaction. */
export class SqliteStore extends DriverStore<Statements, 'sync'> implements Store {
  private readonly stmt: Statements;
  // One transaction wrapper for every step; the casts below restore the step's result type, which
  // better-sqlite3's typings cannot carry through a generic function.
  private readonly inTransaction: Database.Transaction<(step: () => unknown) => unknown>;

  private readonly skippedRows: SkippedRows;

  private constructor(
    private readonly db: Database.Database,
    private readonly file: FileIdentity,
    log: Logger,
  ) {
    super(STEPS);
    this.stmt = prepareStatements(db);
    this.skippedRows = new SkippedRows(log);
    this.inTransaction = db.transaction((step: () => unknown) => step());
  }

  /**
   * Opens (creating if needed) and migrates the database file (src/store/sqlite/connect.ts: an
   * up-to-date file is only read); `log` hears of stored rows skipped as unreadable. With `existing`,
   * opens only an isogate database of this version, as it is (see openExistingDatabase): for commands
   * that only read.
   */
  static async open(
    file: string,
    log: Logger = pino({ level: 'silent' }),
    existing?: ExistingSqliteOptions,
  ): Promise<SqliteStore> {
    const { db, identity } = existing
      ? { db: openExistingDatabase(file, existing), identity: FileIdentity.record(file) }
      : await connectSqlite(file);
    try {
      return new SqliteStore(db, identity, log);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async version(): Promise<number> {
    try {
      return currentVersion(this.stmt);
    } catch (err) {
      throw sqliteFault(err);
    }
  }

  async stamp(): Promise<ConfigStamp> {
    try {
      return currentStamp(this.stmt);
    } catch (err) {
      throw sqliteFault(err);
    }
  }

  async loadConfig(): Promise<ConfigState> {
    try {
      // A read transaction so the version and every row come from the same WAL snapshot.
      return this.inTransaction.deferred(() => readConfig(this.stmt)) as ConfigState;
    } catch (err) {
      throw sqliteFault(err);
    }
  }

  async listAudit(query: AuditListing): Promise<AuditPage> {
    const { sql, values } = auditSelect(AUDIT_COLUMN_LIST, query, () => '?');
    return auditPage(this.db.prepare(sql).all(...values) as StoredAuditRow[], query.limit);
  }

  async applyPlan(planner: Planner, cause: string): Promise<PlanResult> {
    return this.writePlan((c) => planner(readConfig(c)), cause);
  }

  async heartbeat(beat: ProcessBeat): Promise<void> {
    const row = ProcessBeat.parse(beat);
    await this.locked(() => upsertProcess(this.stmt, row));
  }

  async removeProcess(id: string): Promise<boolean> {
    return this.locked(() => deleteProcess(this.stmt, id));
  }

  async listProcesses(): Promise<ClusterState> {
    return this.inTransaction.deferred(() =>
      listProcesses(this.stmt, (err) => this.skippedRows.report(err)),
    ) as ClusterState;
  }

  async pruneProcesses(olderThanMs: number): Promise<number> {
    return this.locked(() => pruneProcesses(this.stmt, olderThanMs));
  }

  /** Not connected while the database path no longer names the file this store has open (removed or replaced). */
  health(): StoreHealth {
    return this.file.health();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  protected async read<T>(step: (c: Statements) => T): Promise<T> {
    return step(this.stmt);
  }

  protected async write<T>(step: (c: Statements) => WriteOutcome<T>): Promise<T> {
    return (await this.writeVersioned(() => step(this.stmt))).value;
  }

  protected async writePlan(plan: (c: Statements) => PlannedWrite[], cause: string): Promise<PlanResult> {
    const { value, version } = await this.writeVersioned(() => {
      const changes = execute(this.stmt, plan(this.stmt));
      return { value: changes, changes };
    }, cause);
    return summarize(value, version);
  }

  /**
   * Runs one write transaction. When the step changed something, the audit rows, If-Match, dry run
   * and Idempotency-Key of the current write scope are handled here (src/store/commit.ts) and the
   * config version is bumped once for a config change. A throw anywhere rolls everything back.
   */
  private writeVersioned<T>(
    step: () => WriteOutcome<T>,
    cause: string | null = null,
  ): Promise<{ value: T; version: number | null }> {
    const scope = currentWriteScope();
    // IMMEDIATE takes the write lock up front: a DEFERRED read-then-write can fail with SQLITE_BUSY
    // without waiting when another process wrote in between.
    return this.locked(
      () =>
        this.inTransaction.immediate(() => {
          const { value, changes } = step();
          if (changes.length === 0) return { value, version: null };
          const growth = selectorGrowth(scope, changes);
          checkBeforeCommit(scope, changes, value, growth && { delta: growth, apis: apis.listApis(this.stmt) });
          const version = isConfigWrite(changes) ? (this.stmt.bumpVersion.get(newVersionToken()) as number) : null;
          const at = nowIso();
          for (const row of auditRows(scope, changes, version, cause, at)) this.stmt.insertAudit.run(row);
          records.pruneAudit(this.stmt);
          const key = idempotencyRow(scope, value, changes, version, at);
          if (key) records.recordKey(this.stmt, key);
          return { value, version };
        }) as { value: T; version: number | null },
    );
  }

  /**
   * Runs a write under the write lock (withWriteLock), refused before each try when the database path
   * no longer names the open file: what it committed would be lost to every later start.
   */
  private locked<T>(tryOnce: () => T): Promise<T> {
    return withWriteLock(() => {
      this.file.requireSame();
      return tryOnce();
    });
  }
}

/** Opens the SQLite store at `file` (e.g. `<dataDir>/isogate.db`), applying pending migrations unless `existing`. */
export async function openSqliteStore(file: string, log?: Logger, existing?: ExistingSqliteOptions): Promise<Store> {
  return SqliteStore.open(file, log, existing);
}
