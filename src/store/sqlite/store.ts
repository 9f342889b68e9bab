import type Database from 'better-sqlite3';
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
import { isConfigWrite, summarize } from '../changes.js';
import { auditRows, checkBeforeCommit, idempotencyRow, selectorGrowth, type IdempotencyRecord } from '../commit.js';
import type { PlannedWrite } from '../plans.js';
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
import { newVersionToken } from '../version-stamp.js';
import { SkippedRows } from '../skipped-rows.js';
import { newToken } from '../tokens.js';
import { currentWriteScope } from '../write-scope.js';
import { nowIso, type WriteOutcome } from '../write-steps.js';
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
import { createConsumer, deleteConsumer, listConsumers, readConsumer, updateConsumer } from './consumers.js';
import { openExistingDatabase, type ExistingSqliteOptions } from './existing.js';
import { currentStamp, currentVersion, execute, readConfig, restorePlan, revertPlan } from './objects.js';
import { deleteProcess, listProcesses, pruneProcesses, upsertProcess } from './processes.js';
import {
  changeToken,
  findKey,
  findTokenByHash,
  insertToken,
  listTokens,
  pruneAudit,
  readToken,
  recordKey,
  removeToken,
} from './records.js';
import { AUDIT_COLUMN_LIST, prepareStatements, type Statements } from './statements.js';
import { deleteVariable, listVariables, putVariable, readVariable } from './variables.js';
import { connectSqlite } from './connect.js';
import { sqliteFault, withWriteLock } from './faults.js';
import { FileIdentity } from './file-identity.js';

/** The SQLite driver of the Store: one better-sqlite3 connection, WAL mode, every write one IMMEDIATE transaction. */
export class SqliteStore implements Store {
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

  async listApis(): Promise<Api[]> {
    return listApis(this.stmt);
  }

  async getApi(id: string): Promise<Api | null> {
    return readApi(this.stmt, id);
  }

  async createApi(input: ApiCreate): Promise<Api> {
    return (await this.write(() => createApi(this.stmt, input))).value;
  }

  async updateApi(id: string, mutate: Mutator<Api>): Promise<Api | null> {
    return (await this.write(() => updateApi(this.stmt, id, mutate))).value;
  }

  async deleteApi(id: string): Promise<boolean> {
    return (await this.write(() => deleteApi(this.stmt, id))).value;
  }

  async listNodes(apiId: string): Promise<Node[]> {
    return listNodes(this.stmt, apiId);
  }

  async getNode(apiId: string, nodeId: string): Promise<Node | null> {
    return readNode(this.stmt, apiId, nodeId);
  }

  async createNode(apiId: string, input: NodeCreate): Promise<Node | null> {
    return (await this.write(() => createNode(this.stmt, apiId, input))).value;
  }

  async updateNode(apiId: string, nodeId: string, mutate: Mutator<Node>): Promise<Node | null> {
    return (await this.write(() => updateNode(this.stmt, apiId, nodeId, mutate))).value;
  }

  async deleteNode(apiId: string, nodeId: string): Promise<boolean> {
    return (await this.write(() => deleteNode(this.stmt, apiId, nodeId))).value;
  }

  async listVariables(): Promise<Variable[]> {
    return listVariables(this.stmt);
  }

  async getVariable(name: string): Promise<Variable | null> {
    return readVariable(this.stmt, name);
  }

  async putVariable(name: string, value: string): Promise<Variable> {
    return (await this.write(() => putVariable(this.stmt, name, value))).value;
  }

  async deleteVariable(name: string): Promise<boolean> {
    return (await this.write(() => deleteVariable(this.stmt, name))).value;
  }

  async listConsumers(): Promise<Consumer[]> {
    return listConsumers(this.stmt);
  }

  async getConsumer(id: string): Promise<Consumer | null> {
    return readConsumer(this.stmt, id);
  }

  async createConsumer(input: NewConsumer): Promise<Consumer> {
    return (await this.write(() => createConsumer(this.stmt, input))).value;
  }

  async updateConsumer(id: string, mutate: Mutator<Consumer>): Promise<Consumer | null> {
    return (await this.write(() => updateConsumer(this.stmt, id, mutate))).value;
  }

  async deleteConsumer(id: string): Promise<boolean> {
    return (await this.write(() => deleteConsumer(this.stmt, id))).value;
  }

  async setSelector(apiId: string, selector: SelectorConfig | null): Promise<Api | null> {
    return (await this.write(() => setSelector(this.stmt, apiId, selector))).value;
  }

  async listSelectorVersions(apiId: string): Promise<SelectorVersion[]> {
    return listSelectorVersions(this.stmt, apiId);
  }

  async listCertificates(): Promise<Certificate[]> {
    return listCertificates(this.stmt);
  }

  async getCertificate(id: string): Promise<Certificate | null> {
    return readCertificate(this.stmt, id);
  }

  async createCertificate(record: CertificateRecord): Promise<Certificate> {
    return (await this.write(() => createCertificate(this.stmt, record))).value;
  }

  async updateCertificate(id: string, mutate: Mutator<Certificate>): Promise<Certificate | null> {
    return (await this.write(() => updateCertificate(this.stmt, id, mutate))).value;
  }

  async deleteCertificate(id: string): Promise<boolean> {
    return (await this.write(() => deleteCertificate(this.stmt, id))).value;
  }

  async listAudit(query: AuditListing): Promise<AuditPage> {
    const { sql, values } = auditSelect(AUDIT_COLUMN_LIST, query, () => '?');
    return auditPage(this.db.prepare(sql).all(...values) as StoredAuditRow[], query.limit);
  }

  async revertVersion(version: number): Promise<PlanResult> {
    return this.writePlan(() => revertPlan(this.stmt, version), `revert of version ${version}`);
  }

  async restoreVersion(version: number): Promise<PlanResult> {
    return this.writePlan(() => restorePlan(this.stmt, version), `restore of version ${version}`);
  }

  async applyPlan(planner: Planner, cause: string): Promise<PlanResult> {
    return this.writePlan(() => planner(readConfig(this.stmt)), cause);
  }

  async listTokens(): Promise<AdminToken[]> {
    return listTokens(this.stmt);
  }

  async getToken(id: string): Promise<AdminToken | null> {
    return readToken(this.stmt, id);
  }

  async findTokenByHash(secretHash: string): Promise<AdminToken | null> {
    return findTokenByHash(this.stmt, secretHash);
  }

  async createToken(input: TokenCreate, secretHash: string): Promise<AdminToken> {
    return (await this.write(() => insertToken(this.stmt, newToken(input), secretHash))).value;
  }

  async updateToken(id: string, mutate: Mutator<AdminToken>): Promise<AdminToken | null> {
    return (await this.write(() => changeToken(this.stmt, id, mutate))).value;
  }

  async deleteToken(id: string): Promise<boolean> {
    return (await this.write(() => removeToken(this.stmt, id))).value;
  }

  async findIdempotencyKey(actorId: string, key: string): Promise<IdempotencyRecord | null> {
    return findKey(this.stmt, actorId, key);
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

  /**
   * Runs one write transaction. When the step changed something, the audit rows, If-Match, dry run
   * and Idempotency-Key of the current write scope are handled here (src/store/commit.ts) and the
   * config version is bumped once for a config change. A throw anywhere rolls everything back.
   */
  private write<T>(
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
          checkBeforeCommit(scope, changes, value, growth && { delta: growth, apis: listApis(this.stmt) });
          const version = isConfigWrite(changes) ? (this.stmt.bumpVersion.get(newVersionToken()) as number) : null;
          const at = nowIso();
          for (const row of auditRows(scope, changes, version, cause, at)) this.stmt.insertAudit.run(row);
          pruneAudit(this.stmt);
          const key = idempotencyRow(scope, value, changes, version, at);
          if (key) recordKey(this.stmt, key);
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

  /** A write that executes a plan (revert, restore, config apply) and answers with what it changed. */
  private async writePlan(plan: () => PlannedWrite[], cause: string): Promise<PlanResult> {
    const { value, version } = await this.write(() => {
      const changes = execute(this.stmt, plan());
      return { value: changes, changes };
    }, cause);
    return summarize(value, version);
  }
}

/** Opens the SQLite store at `file` (e.g. `<dataDir>/isogate.db`), applying pending migrations unless `existing`. */
export async function openSqliteStore(file: string, log?: Logger, existing?: ExistingSqliteOptions): Promise<Store> {
  return SqliteStore.open(file, log, existing);
}
