import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { Api, type ApiCreate } from '../../model/api.js';
import { ProcessBeat, type ClusterState } from '../../model/cluster.js';
import { Node, type NodeCreate } from '../../model/node.js';
import { SelectorConfig } from '../../model/selector.js';
import { Variable } from '../../model/variable.js';
import { Certificate, CertificateRecord } from '../../model/certificate.js';
import { apiNameKey, assertNoApiConflict, assertNoCertificateConflict, assertNoConsumerConflict } from '../conflicts.js';
import { Consumer } from '../../model/consumer.js';
import { SELECTOR_HISTORY_LIMIT, type ConfigState, type Mutator, type NewConsumer, type SelectorVersion, type Store } from '../store.js';
import { migrate } from './migrations.js';
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

/** How long a write waits for another process's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

/** What a write step reports: its result, and whether it changed anything (only then the version moves). */
interface WriteOutcome<T> {
  wrote: boolean;
  value: T;
}

const API_COLUMNS =
  'id, name, name_key, host, methods, path, strip_prefix, algorithm, timeouts, retries, max_body_bytes, selector, retry, health, hash_on, https_redirect, access, created_at, updated_at';
const CERT_COLUMNS = CERTIFICATE_COLUMNS.join(', ');
const NODE_COLUMNS = 'id, api_id, position, name, connector, enabled, weight, tags, rules, created_at, updated_at';
// The store's clock as ISO 8601 UTC with milliseconds, the format of every timestamp column.
const NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

function prepareStatements(db: Database.Database) {
  return {
    version: db.prepare('SELECT config_version FROM meta WHERE id = 1').pluck(),
    bumpVersion: db.prepare('UPDATE meta SET config_version = config_version + 1 WHERE id = 1'),

    listApis: db.prepare(`SELECT ${API_COLUMNS} FROM apis ORDER BY created_at, name_key`),
    getApi: db.prepare(`SELECT ${API_COLUMNS} FROM apis WHERE id = ?`),
    apiExists: db.prepare('SELECT 1 FROM apis WHERE id = ?').pluck(),
    apisByNameOrPath: db.prepare('SELECT id, name, host, methods, path FROM apis WHERE name_key = ? OR path = ?'),
    insertApi: db.prepare(`INSERT INTO apis (${API_COLUMNS}) VALUES (
      @id, @name, @name_key, @host, @methods, @path, @strip_prefix, @algorithm, @timeouts, @retries, @max_body_bytes,
      @selector, @retry, @health, @hash_on, @https_redirect, @access, @created_at, @updated_at)`),
    updateApi: db.prepare(`UPDATE apis SET name = @name, name_key = @name_key, host = @host, methods = @methods,
      path = @path, strip_prefix = @strip_prefix, algorithm = @algorithm, timeouts = @timeouts, retries = @retries,
      max_body_bytes = @max_body_bytes, selector = @selector, retry = @retry, health = @health, hash_on = @hash_on,
      https_redirect = @https_redirect, access = @access, updated_at = @updated_at WHERE id = @id`),
    setApiSelector: db.prepare('UPDATE apis SET selector = ?, updated_at = ? WHERE id = ?'),
    deleteApi: db.prepare('DELETE FROM apis WHERE id = ?'),

    listAllNodes: db.prepare(`SELECT ${NODE_COLUMNS} FROM nodes ORDER BY api_id, position`),
    listNodes: db.prepare(`SELECT ${NODE_COLUMNS} FROM nodes WHERE api_id = ? ORDER BY position`),
    getNode: db.prepare(`SELECT ${NODE_COLUMNS} FROM nodes WHERE api_id = ? AND id = ?`),
    nextNodePosition: db.prepare('SELECT COALESCE(MAX(position), -1) + 1 FROM nodes WHERE api_id = ?').pluck(),
    insertNode: db.prepare(`INSERT INTO nodes (${NODE_COLUMNS}) VALUES (
      @id, @api_id, @position, @name, @connector, @enabled, @weight, @tags, @rules, @created_at, @updated_at)`),
    updateNode: db.prepare(`UPDATE nodes SET name = @name, connector = @connector, enabled = @enabled,
      weight = @weight, tags = @tags, rules = @rules, updated_at = @updated_at WHERE api_id = @api_id AND id = @id`),
    deleteNode: db.prepare('DELETE FROM nodes WHERE api_id = ? AND id = ?'),

    listVariables: db.prepare('SELECT name, value, updated_at FROM variables ORDER BY name'),
    getVariable: db.prepare('SELECT name, value, updated_at FROM variables WHERE name = ?'),
    putVariable: db.prepare(`INSERT INTO variables (name, value, updated_at) VALUES (@name, @value, @updated_at)
      ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
    deleteVariable: db.prepare('DELETE FROM variables WHERE name = ?'),

    listConsumers: db.prepare(`SELECT ${CONSUMER_COLUMNS.join(', ')} FROM consumers ORDER BY created_at, name_key`),
    getConsumer: db.prepare(`SELECT ${CONSUMER_COLUMNS.join(', ')} FROM consumers WHERE id = ?`),
    insertConsumer: db.prepare(`INSERT INTO consumers (${CONSUMER_COLUMNS.join(', ')}) VALUES (${CONSUMER_COLUMNS.map((c) => '@' + c).join(', ')})`),
    updateConsumer: db.prepare(`UPDATE consumers SET name = @name, name_key = @name_key, tags = @tags, credentials = @credentials,
      updated_at = @updated_at WHERE id = @id`),
    deleteConsumer: db.prepare('DELETE FROM consumers WHERE id = ?'),

    nextSelectorVersion: db.prepare('SELECT COALESCE(MAX(version), 0) + 1 FROM selector_versions WHERE api_id = ?').pluck(),
    insertSelectorVersion: db.prepare('INSERT INTO selector_versions (api_id, version, selector, saved_at) VALUES (?, ?, ?, ?)'),
    pruneSelectorVersions: db.prepare('DELETE FROM selector_versions WHERE api_id = ? AND version <= ?'),
    listSelectorVersions: db.prepare(
      'SELECT api_id, version, selector, saved_at FROM selector_versions WHERE api_id = ? ORDER BY version DESC LIMIT ?',
    ),

    listCertificates: db.prepare(`SELECT ${CERT_COLUMNS} FROM certificates ORDER BY created_at, id`),
    getCertificate: db.prepare(`SELECT ${CERT_COLUMNS} FROM certificates WHERE id = ?`),
    insertCertificate: db.prepare(`INSERT INTO certificates (${CERT_COLUMNS}) VALUES (${CERTIFICATE_COLUMNS.map(() => '?').join(', ')})`),
    deleteCertificate: db.prepare('DELETE FROM certificates WHERE id = ?'),
    clearDefaultCertificate: db.prepare('UPDATE certificates SET is_default = 0 WHERE id <> ? AND is_default <> 0'),

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

/** The SQLite driver of the Store: one better-sqlite3 connection, WAL mode, every write one IMMEDIATE transaction. */
export class SqliteStore implements Store {
  private readonly stmt: ReturnType<typeof prepareStatements>;
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
    return this.inTransaction.deferred(
      (): ConfigState => ({
        version: this.currentVersion(),
        apis: (this.stmt.listApis.all() as ApiRow[]).map(apiFromRow),
        nodes: (this.stmt.listAllNodes.all() as NodeRow[]).map(nodeFromRow),
        variables: (this.stmt.listVariables.all() as VariableRow[]).map(variableFromRow),
        certificates: (this.stmt.listCertificates.all() as CertificateRow[]).map(certificateFromRow),
        consumers: (this.stmt.listConsumers.all() as ConsumerRow[]).map(consumerFromRow),
      }),
    ) as ConfigState;
  }

  async listApis(): Promise<Api[]> {
    return (this.stmt.listApis.all() as ApiRow[]).map(apiFromRow);
  }

  async getApi(id: string): Promise<Api | null> {
    const row = this.stmt.getApi.get(id) as ApiRow | undefined;
    return row ? apiFromRow(row) : null;
  }

  async createApi(input: ApiCreate): Promise<Api> {
    return this.write(() => {
      const now = new Date().toISOString();
      const api = Api.parse({ ...input, id: randomUUID(), createdAt: now, updatedAt: now });
      this.assertNoConflict(api);
      this.stmt.insertApi.run(apiToRow(api));
      if (api.selector !== null) this.recordSelector(api.id, api.selector, now);
      return { wrote: true, value: api };
    });
  }

  async updateApi(id: string, mutate: Mutator<Api>): Promise<Api | null> {
    return this.write<Api | null>(() => {
      const row = this.stmt.getApi.get(id) as ApiRow | undefined;
      if (!row) return { wrote: false, value: null };
      const current = apiFromRow(row);
      // Taken before the mutator runs, in case it edits `current` in place.
      const previousSelector = selectorToText(current.selector);
      const now = new Date().toISOString();
      // Identity and creation time belong to the store, whatever the mutator returns.
      const next = Api.parse({ ...mutate(current), id: current.id, createdAt: current.createdAt, updatedAt: now });
      this.assertNoConflict(next);
      this.stmt.updateApi.run(apiToRow(next));
      if (selectorToText(next.selector) !== previousSelector) this.recordSelector(id, next.selector, now);
      return { wrote: true, value: next };
    });
  }

  async deleteApi(id: string): Promise<boolean> {
    return this.write(() => {
      const wrote = this.stmt.deleteApi.run(id).changes > 0;
      return { wrote, value: wrote };
    });
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
      if (this.stmt.apiExists.get(apiId) === undefined) return { wrote: false, value: null };
      const now = new Date().toISOString();
      const node = Node.parse({ ...input, id: randomUUID(), apiId, createdAt: now, updatedAt: now });
      const position = this.stmt.nextNodePosition.get(apiId) as number;
      this.stmt.insertNode.run(nodeToRow(node, position));
      return { wrote: true, value: node };
    });
  }

  async updateNode(apiId: string, nodeId: string, mutate: Mutator<Node>): Promise<Node | null> {
    return this.write<Node | null>(() => {
      const row = this.stmt.getNode.get(apiId, nodeId) as NodeRow | undefined;
      if (!row) return { wrote: false, value: null };
      const current = nodeFromRow(row);
      const next = Node.parse({
        ...mutate(current),
        id: current.id,
        apiId: current.apiId,
        createdAt: current.createdAt,
        updatedAt: new Date().toISOString(),
      });
      this.stmt.updateNode.run(nodeToRow(next, row.position));
      return { wrote: true, value: next };
    });
  }

  async deleteNode(apiId: string, nodeId: string): Promise<boolean> {
    return this.write(() => {
      const wrote = this.stmt.deleteNode.run(apiId, nodeId).changes > 0;
      return { wrote, value: wrote };
    });
  }

  async listVariables(): Promise<Variable[]> {
    return (this.stmt.listVariables.all() as VariableRow[]).map(variableFromRow);
  }

  async getVariable(name: string): Promise<Variable | null> {
    const row = this.stmt.getVariable.get(name) as VariableRow | undefined;
    return row ? variableFromRow(row) : null;
  }

  async putVariable(name: string, value: string): Promise<Variable> {
    return this.write(() => {
      const variable = Variable.parse({ name, value, updatedAt: new Date().toISOString() });
      this.stmt.putVariable.run({ name: variable.name, value: variable.value, updated_at: variable.updatedAt });
      return { wrote: true, value: variable };
    });
  }

  async deleteVariable(name: string): Promise<boolean> {
    return this.write(() => {
      const wrote = this.stmt.deleteVariable.run(name).changes > 0;
      return { wrote, value: wrote };
    });
  }

  async listConsumers(): Promise<Consumer[]> {
    return (this.stmt.listConsumers.all() as ConsumerRow[]).map(consumerFromRow);
  }

  async getConsumer(id: string): Promise<Consumer | null> {
    const row = this.stmt.getConsumer.get(id) as ConsumerRow | undefined;
    return row ? consumerFromRow(row) : null;
  }

  async createConsumer(input: NewConsumer): Promise<Consumer> {
    return this.write(() => {
      const now = new Date().toISOString();
      const consumer = Consumer.parse({ ...input, id: randomUUID(), createdAt: now, updatedAt: now });
      assertNoConsumerConflict(consumer, (this.stmt.listConsumers.all() as ConsumerRow[]).map(consumerFromRow));
      this.stmt.insertConsumer.run(consumerToRow(consumer));
      return { wrote: true, value: consumer };
    });
  }

  async updateConsumer(id: string, mutate: Mutator<Consumer>): Promise<Consumer | null> {
    return this.write<Consumer | null>(() => {
      const row = this.stmt.getConsumer.get(id) as ConsumerRow | undefined;
      if (!row) return { wrote: false, value: null };
      const current = consumerFromRow(row);
      const next = Consumer.parse({ ...mutate(current), id: current.id, createdAt: current.createdAt, updatedAt: new Date().toISOString() });
      assertNoConsumerConflict(next, (this.stmt.listConsumers.all() as ConsumerRow[]).map(consumerFromRow));
      this.stmt.updateConsumer.run(consumerToRow(next));
      return { wrote: true, value: next };
    });
  }

  async deleteConsumer(id: string): Promise<boolean> {
    return this.write(() => {
      const wrote = this.stmt.deleteConsumer.run(id).changes > 0;
      return { wrote, value: wrote };
    });
  }

  async setSelector(apiId: string, selector: SelectorConfig | null): Promise<Api | null> {
    return this.write<Api | null>(() => {
      const valid = SelectorConfig.nullable().parse(selector);
      const now = new Date().toISOString();
      if (this.stmt.setApiSelector.run(selectorToText(valid), now, apiId).changes === 0) return { wrote: false, value: null };
      this.recordSelector(apiId, valid, now);
      return { wrote: true, value: apiFromRow(this.stmt.getApi.get(apiId) as ApiRow) };
    });
  }

  async listSelectorVersions(apiId: string): Promise<SelectorVersion[]> {
    const rows = this.stmt.listSelectorVersions.all(apiId, SELECTOR_HISTORY_LIMIT) as SelectorVersionRow[];
    return rows.map(selectorVersionFromRow);
  }

  async listCertificates(): Promise<Certificate[]> {
    return (this.stmt.listCertificates.all() as CertificateRow[]).map(certificateFromRow);
  }

  async getCertificate(id: string): Promise<Certificate | null> {
    const row = this.stmt.getCertificate.get(id) as CertificateRow | undefined;
    return row ? certificateFromRow(row) : null;
  }

  async createCertificate(record: CertificateRecord): Promise<Certificate> {
    return this.write(() => {
      const now = new Date().toISOString();
      const cert = Certificate.parse({ ...CertificateRecord.parse(record), id: randomUUID(), createdAt: now, updatedAt: now });
      this.putCertificate(cert, false);
      return { wrote: true, value: cert };
    });
  }

  async updateCertificate(id: string, mutate: Mutator<Certificate>): Promise<Certificate | null> {
    return this.write<Certificate | null>(() => {
      const row = this.stmt.getCertificate.get(id) as CertificateRow | undefined;
      if (!row) return { wrote: false, value: null };
      const current = certificateFromRow(row);
      const next = Certificate.parse({ ...mutate(current), id: current.id, createdAt: current.createdAt, updatedAt: new Date().toISOString() });
      this.putCertificate(next, true);
      return { wrote: true, value: next };
    });
  }

  async deleteCertificate(id: string): Promise<boolean> {
    return this.write(() => {
      const wrote = this.stmt.deleteCertificate.run(id).changes > 0;
      return { wrote, value: wrote };
    });
  }

  async heartbeat(beat: ProcessBeat): Promise<void> {
    this.stmt.upsertProcess.run(...processBeatValues(ProcessBeat.parse(beat)));
  }

  async removeProcess(id: string): Promise<boolean> {
    return this.stmt.deleteProcess.run(id).changes > 0;
  }

  async listProcesses(): Promise<ClusterState> {
    return this.inTransaction.deferred(
      (): ClusterState => ({
        now: this.stmt.now.get() as string,
        processes: (this.stmt.listProcesses.all() as ProcessRow[]).map(processFromRow),
      }),
    ) as ClusterState;
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

  /**
   * Runs one write transaction and bumps the config version once if the step wrote. A throw anywhere
   * (validation, conflict, constraint) rolls everything back, version included.
   */
  private write<T>(step: () => WriteOutcome<T>): T {
    // IMMEDIATE takes the write lock up front: a DEFERRED read-then-write can fail with SQLITE_BUSY
    // without waiting when another process wrote in between.
    return this.inTransaction.immediate(() => {
      const { wrote, value } = step();
      if (wrote) this.stmt.bumpVersion.run();
      return value;
    }) as T;
  }

  private assertNoConflict(api: Api): void {
    const rows = this.stmt.apisByNameOrPath.all(apiNameKey(api.name), api.path) as Array<
      Pick<ApiRow, 'id' | 'name' | 'host' | 'methods' | 'path'>
    >;
    assertNoApiConflict(
      api,
      rows.map((r) => ({ ...r, methods: JSON.parse(r.methods) as Api['methods'] })),
    );
  }

  /** Writes a certificate (inside a write) after the name check; a default one takes over from the previous default. */
  private putCertificate(cert: Certificate, replace: boolean): void {
    assertNoCertificateConflict(cert, (this.stmt.listCertificates.all() as CertificateRow[]).map(certificateFromRow));
    if (replace) this.stmt.deleteCertificate.run(cert.id);
    this.stmt.insertCertificate.run(...certificateValues(cert));
    if (cert.isDefault) this.stmt.clearDefaultCertificate.run(cert.id);
  }

  private recordSelector(apiId: string, selector: SelectorConfig | null, savedAt: string): void {
    const version = this.stmt.nextSelectorVersion.get(apiId) as number;
    this.stmt.insertSelectorVersion.run(apiId, version, selectorToText(selector), savedAt);
    this.stmt.pruneSelectorVersions.run(apiId, version - SELECTOR_HISTORY_LIMIT);
  }
}

/** Opens the SQLite store at `file` (e.g. `<dataDir>/isogate.db`), applying pending migrations. */
export async function openSqliteStore(file: string): Promise<Store> {
  return SqliteStore.open(file);
}
