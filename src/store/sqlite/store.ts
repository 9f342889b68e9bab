import Database from 'better-sqlite3';
import { Api, type ApiCreate } from '../../model/api.js';
import type { AuditPage, AuditQuery, PlanResult } from '../../model/audit.js';
import { Certificate, CertificateRecord } from '../../model/certificate.js';
import { ProcessBeat, type ClusterState } from '../../model/cluster.js';
import { Consumer } from '../../model/consumer.js';
import { Node, type NodeCreate } from '../../model/node.js';
import { SelectorConfig } from '../../model/selector.js';
import type { AdminToken, TokenCreate } from '../../model/token.js';
import { Variable } from '../../model/variable.js';
import { auditEntryFromRow, auditPage, auditSelect, type StoredAuditRow } from '../audit-log.js';
import { change, isConfigWrite, summarize } from '../changes.js';
import {
  AUDIT_KEEP,
  auditRows,
  checkBeforeCommit,
  IDEMPOTENCY_KEEP,
  idempotencyCutoff,
  idempotencyFromRow,
  idempotencyRow,
  type IdempotencyRecord,
  type IdempotencyRow,
} from '../commit.js';
import { StoreRefusedError } from '../errors.js';
import {
  objectKey,
  planRestore,
  planRevert,
  requireCompleteHistory,
  requireLoggedWrite,
  type PlannedWrite,
  type PlanKind,
} from '../plans.js';
import {
  apiFromRow,
  nodeFromRow,
  processBeatValues,
  processFromRow,
  selectorVersionFromRow,
  tokenFromRow,
  tokenToRow,
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
} from '../store.js';
import { newToken, updatedToken } from '../tokens.js';
import { currentWriteScope } from '../write-scope.js';
import { deleted, newObject, nowIso, updatedObject, type WriteOutcome } from '../write-steps.js';
import { migrate } from './migrations.js';
import {
  execute,
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
} from './objects.js';
import { AUDIT_COLUMN_LIST, prepareStatements, type Statements } from './statements.js';

/** How long a write waits for another process's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

/** The SQLite driver of the Store: one better-sqlite3 connection, WAL mode, every write one IMMEDIATE transaction. */
export class SqliteStore implements Store {
  private readonly stmt: Statements;
  // One transaction wrapper for every step; the casts below restore the step's result type, which
  // better-sqlite3's typings cannot carry through a generic function.
  private readonly inTransaction: Database.Transaction<(step: () => unknown) => unknown>;

  private constructor(private readonly db: Database.Database) {
    this.stmt = prepareStatements(db);
    this.inTransaction = db.transaction((step: () => unknown) => step());
  }

  /** Opens (creating if needed) and migrates the database file. */
  static open(file: string): SqliteStore {
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('foreign_keys = ON');
      // NORMAL is durable across application crashes in WAL mode; only an OS crash may lose the last commit.
      db.pragma('synchronous = NORMAL');
      migrate(db);
      return new SqliteStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async version(): Promise<number> {
    return this.currentVersion();
  }

  async loadConfig(): Promise<ConfigState> {
    // A read transaction so the version and every row come from the same WAL snapshot.
    return this.inTransaction.deferred(() => this.readConfig()) as ConfigState;
  }

  async listApis(): Promise<Api[]> {
    return (this.stmt.listApis.all() as ApiRow[]).map(apiFromRow);
  }

  async getApi(id: string): Promise<Api | null> {
    return readApi(this.stmt, id);
  }

  async createApi(input: ApiCreate): Promise<Api> {
    return this.write(() => {
      const api = newObject(Api, input);
      return { value: api, changes: [saveApi(this.stmt, api, null)] };
    }).value;
  }

  async updateApi(id: string, mutate: Mutator<Api>): Promise<Api | null> {
    return this.write<Api | null>(() => {
      const current = readApi(this.stmt, id);
      if (!current) return { value: null, changes: [] };
      const next = updatedObject(Api, current, mutate);
      return { value: next, changes: [saveApi(this.stmt, next, current)] };
    }).value;
  }

  async deleteApi(id: string): Promise<boolean> {
    return this.write(() => deleted(removeApi(this.stmt, id))).value;
  }

  async listNodes(apiId: string): Promise<Node[]> {
    return (this.stmt.listNodes.all(apiId) as NodeRow[]).map(nodeFromRow);
  }

  async getNode(apiId: string, nodeId: string): Promise<Node | null> {
    const row = this.stmt.getNode.get(apiId, nodeId) as NodeRow | undefined;
    return row ? nodeFromRow(row) : null;
  }

  async createNode(apiId: string, input: NodeCreate): Promise<Node | null> {
    return this.write<Node | null>(() => {
      if (!readApi(this.stmt, apiId)) return { value: null, changes: [] };
      const node = newObject(Node, { ...input, apiId });
      return { value: node, changes: [saveNode(this.stmt, node, null)] };
    }).value;
  }

  async updateNode(apiId: string, nodeId: string, mutate: Mutator<Node>): Promise<Node | null> {
    return this.write<Node | null>(() => {
      const row = this.stmt.getNode.get(apiId, nodeId) as NodeRow | undefined;
      if (!row) return { value: null, changes: [] };
      const current = nodeFromRow(row);
      const next = updatedObject(Node, current, mutate, { apiId: current.apiId });
      return { value: next, changes: [saveNode(this.stmt, next, current)] };
    }).value;
  }

  async deleteNode(apiId: string, nodeId: string): Promise<boolean> {
    return this.write(() => {
      const node = this.stmt.getNode.get(apiId, nodeId) as NodeRow | undefined;
      return deleted(node ? [removeNode(this.stmt, nodeFromRow(node))] : []);
    }).value;
  }

  async listVariables(): Promise<Variable[]> {
    return (this.stmt.listVariables.all() as VariableRow[]).map(variableFromRow);
  }

  async getVariable(name: string): Promise<Variable | null> {
    return readVariable(this.stmt, name);
  }

  async putVariable(name: string, value: string): Promise<Variable> {
    return this.write(() => {
      const variable = Variable.parse({ name, value, updatedAt: nowIso() });
      return { value: variable, changes: [saveVariable(this.stmt, variable, readVariable(this.stmt, variable.name))] };
    }).value;
  }

  async deleteVariable(name: string): Promise<boolean> {
    return this.write(() => {
      const current = readVariable(this.stmt, name);
      return deleted(current ? [removeVariable(this.stmt, current)] : []);
    }).value;
  }

  async listConsumers(): Promise<Consumer[]> {
    return listConsumers(this.stmt);
  }

  async getConsumer(id: string): Promise<Consumer | null> {
    return readConsumer(this.stmt, id);
  }

  async createConsumer(input: NewConsumer): Promise<Consumer> {
    return this.write(() => {
      const consumer = newObject(Consumer, input);
      return { value: consumer, changes: [saveConsumer(this.stmt, consumer, null)] };
    }).value;
  }

  async updateConsumer(id: string, mutate: Mutator<Consumer>): Promise<Consumer | null> {
    return this.write<Consumer | null>(() => {
      const current = readConsumer(this.stmt, id);
      if (!current) return { value: null, changes: [] };
      const next = updatedObject(Consumer, current, mutate);
      return { value: next, changes: [saveConsumer(this.stmt, next, current)] };
    }).value;
  }

  async deleteConsumer(id: string): Promise<boolean> {
    return this.write(() => {
      const current = readConsumer(this.stmt, id);
      return deleted(current ? [removeConsumer(this.stmt, current)] : []);
    }).value;
  }

  async setSelector(apiId: string, selector: SelectorConfig | null): Promise<Api | null> {
    return this.write<Api | null>(() => {
      const valid = SelectorConfig.nullable().parse(selector);
      const current = readApi(this.stmt, apiId);
      if (!current) return { value: null, changes: [] };
      const next = Api.parse({ ...current, selector: valid, updatedAt: nowIso() });
      return { value: next, changes: [saveApi(this.stmt, next, current, true)] };
    }).value;
  }

  async listSelectorVersions(apiId: string): Promise<SelectorVersion[]> {
    const rows = this.stmt.listSelectorVersions.all(apiId, SELECTOR_HISTORY_LIMIT) as SelectorVersionRow[];
    return rows.map(selectorVersionFromRow);
  }

  async listCertificates(): Promise<Certificate[]> {
    return listCertificates(this.stmt);
  }

  async getCertificate(id: string): Promise<Certificate | null> {
    return readCertificate(this.stmt, id);
  }

  async createCertificate(record: CertificateRecord): Promise<Certificate> {
    return this.write(() => {
      const cert = newObject(Certificate, CertificateRecord.parse(record));
      return { value: cert, changes: saveCertificate(this.stmt, cert, null) };
    }).value;
  }

  async updateCertificate(id: string, mutate: Mutator<Certificate>): Promise<Certificate | null> {
    return this.write<Certificate | null>(() => {
      const current = readCertificate(this.stmt, id);
      if (!current) return { value: null, changes: [] };
      const next = updatedObject(Certificate, current, mutate);
      return { value: next, changes: saveCertificate(this.stmt, next, current) };
    }).value;
  }

  async deleteCertificate(id: string): Promise<boolean> {
    return this.write(() => {
      const current = readCertificate(this.stmt, id);
      return deleted(current ? [removeCertificate(this.stmt, current)] : []);
    }).value;
  }

  async listAudit(query: AuditQuery): Promise<AuditPage> {
    const { sql, values } = auditSelect(AUDIT_COLUMN_LIST, query, () => '?');
    return auditPage(this.db.prepare(sql).all(...values) as StoredAuditRow[], query.limit);
  }

  async revertVersion(version: number): Promise<PlanResult> {
    return this.writePlan(() => {
      const entries = (this.stmt.auditOfVersion.all(version) as StoredAuditRow[]).map(auditEntryFromRow);
      requireLoggedWrite(version, this.currentVersion(), entries);
      const current = new Map(
        entries.map((e) => [objectKey(e.kind, e.objectId), readObject(this.stmt, e.kind as PlanKind, e.objectId)]),
      );
      return planRevert(version, entries, current);
    }, `revert of version ${version}`);
  }

  async restoreVersion(version: number): Promise<PlanResult> {
    return this.writePlan(() => {
      requireCompleteHistory(version, this.currentVersion(), this.stmt.loggedVersionsAfter.get(version) as number);
      return planRestore((this.stmt.auditAfterVersion.all(version) as StoredAuditRow[]).map(auditEntryFromRow));
    }, `restore of version ${version}`);
  }

  async applyPlan(planner: Planner, cause: string): Promise<PlanResult> {
    return this.writePlan(() => planner(this.readConfig()), cause);
  }

  async listTokens(): Promise<AdminToken[]> {
    return (this.stmt.listTokens.all() as TokenRow[]).map(tokenFromRow);
  }

  async getToken(id: string): Promise<AdminToken | null> {
    const row = this.stmt.getToken.get(id) as TokenRow | undefined;
    return row ? tokenFromRow(row) : null;
  }

  async findTokenByHash(secretHash: string): Promise<AdminToken | null> {
    const row = this.stmt.tokenByHash.get(secretHash) as TokenRow | undefined;
    return row ? tokenFromRow(row) : null;
  }

  async createToken(input: TokenCreate, secretHash: string): Promise<AdminToken> {
    return this.write(() => {
      const token = newToken(input);
      const row = tokenToRow(token, secretHash);
      this.assertTokenNameFree(row.name_key, token.id);
      this.stmt.insertToken.run(row);
      return { value: token, changes: [change('token', null, token)] };
    }).value;
  }

  async updateToken(id: string, mutate: Mutator<AdminToken>): Promise<AdminToken | null> {
    return this.write<AdminToken | null>(() => {
      const row = this.stmt.getToken.get(id) as TokenRow | undefined;
      if (!row) return { value: null, changes: [] };
      const current = tokenFromRow(row);
      const next = updatedToken(current, mutate);
      const nextRow = tokenToRow(next, row.secret_hash);
      this.assertTokenNameFree(nextRow.name_key, id);
      this.stmt.updateToken.run(nextRow);
      return { value: next, changes: [change('token', current, next)] };
    }).value;
  }

  async deleteToken(id: string): Promise<boolean> {
    return this.write(() => {
      const row = this.stmt.getToken.get(id) as TokenRow | undefined;
      if (!row) return { value: false, changes: [] };
      this.stmt.deleteToken.run(id);
      return { value: true, changes: [change('token', tokenFromRow(row), null)] };
    }).value;
  }

  async findIdempotencyKey(actorId: string, key: string): Promise<IdempotencyRecord | null> {
    const row = this.stmt.findKey.get(actorId, key, idempotencyCutoff()) as
      Pick<IdempotencyRow, 'fingerprint' | 'status' | 'body' | 'created_at'> | undefined;
    return row ? idempotencyFromRow(row) : null;
  }

  async heartbeat(beat: ProcessBeat): Promise<void> {
    this.stmt.upsertProcess.run(...processBeatValues(ProcessBeat.parse(beat)));
  }

  async removeProcess(id: string): Promise<boolean> {
    return this.stmt.deleteProcess.run(id).changes > 0;
  }

  async listProcesses(): Promise<ClusterState> {
    return this.inTransaction.deferred((): ClusterState => ({
      now: this.stmt.now.get() as string,
      processes: (this.stmt.listProcesses.all() as ProcessRow[]).map(processFromRow),
    })) as ClusterState;
  }

  async pruneProcesses(olderThanMs: number): Promise<number> {
    return this.stmt.pruneProcesses.run(`-${Math.max(0, olderThanMs) / 1000} seconds`).changes;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private currentVersion(): number {
    return this.stmt.version.get() as number;
  }

  private readConfig(): ConfigState {
    return {
      version: this.currentVersion(),
      apis: (this.stmt.listApis.all() as ApiRow[]).map(apiFromRow),
      nodes: (this.stmt.listAllNodes.all() as NodeRow[]).map(nodeFromRow),
      variables: (this.stmt.listVariables.all() as VariableRow[]).map(variableFromRow),
      certificates: listCertificates(this.stmt),
      consumers: listConsumers(this.stmt),
    };
  }

  /**
   * Runs one write transaction. When the step changed something, the audit rows, If-Match, dry run
   * and Idempotency-Key of the current write scope are handled here (src/store/commit.ts) and the
   * config version is bumped once for a config change. A throw anywhere rolls everything back.
   */
  private write<T>(step: () => WriteOutcome<T>, cause: string | null = null): { value: T; version: number | null } {
    const scope = currentWriteScope();
    // IMMEDIATE takes the write lock up front: a DEFERRED read-then-write can fail with SQLITE_BUSY
    // without waiting when another process wrote in between.
    return this.inTransaction.immediate(() => {
      const { value, changes } = step();
      if (changes.length === 0) return { value, version: null };
      checkBeforeCommit(scope, changes, value);
      const version = isConfigWrite(changes) ? (this.stmt.bumpVersion.get() as number) : null;
      const at = nowIso();
      for (const row of auditRows(scope, changes, version, cause, at)) this.stmt.insertAudit.run(row);
      this.pruneAudit();
      const key = idempotencyRow(scope, value, changes, version, at);
      if (key) this.recordKey(key);
      return { value, version };
    }) as { value: T; version: number | null };
  }

  /** A write that executes a plan (revert, restore, config apply) and answers with what it changed. */
  private async writePlan(plan: () => PlannedWrite[], cause: string): Promise<PlanResult> {
    const { value, version } = this.write(() => {
      const changes = execute(this.stmt, plan());
      return { value: changes, changes };
    }, cause);
    return summarize(value, version);
  }

  private pruneAudit(): void {
    const cutoff = (this.stmt.lastAuditId.get() as number) - AUDIT_KEEP;
    if (cutoff <= 0) return;
    // A whole write at a time: a restore must never see half of one.
    this.stmt.pruneAudit.run({ id: cutoff, version: (this.stmt.lastPrunedVersion.get(cutoff) as number | null) ?? -1 });
  }

  private recordKey(row: IdempotencyRow): void {
    this.stmt.pruneKeys.run({ cutoff: idempotencyCutoff(), keep: IDEMPOTENCY_KEEP });
    try {
      this.stmt.insertKey.run(row);
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err;
      throw new StoreRefusedError(
        'IDEMPOTENCY_KEY_IN_USE',
        `another request with Idempotency-Key ${row.idem_key} was saved first; retry to get its answer`,
      );
    }
  }

  private assertTokenNameFree(nameKey: string, id: string): void {
    const holder = this.stmt.tokenByNameKey.get(nameKey) as string | undefined;
    if (holder !== undefined && holder !== id)
      throw new StoreRefusedError('TOKEN_NAME_TAKEN', 'another admin token has this name');
  }
}

/** Opens the SQLite store at `file` (e.g. `<dataDir>/isogate.db`), applying pending migrations. */
export async function openSqliteStore(file: string): Promise<Store> {
  return SqliteStore.open(file);
}
