import type { Api, ApiCreate } from '../model/api.js';
import type { AuditPage, AuditListing, PlanResult } from '../model/audit.js';
import type { Certificate, CertificateRecord } from '../model/certificate.js';
import type { ClusterState, ProcessBeat } from '../model/cluster.js';
import type { Consumer } from '../model/consumer.js';
import type { Node, NodeCreate } from '../model/node.js';
import type { SelectorConfig } from '../model/selector.js';
import type { AdminToken, TokenCreate } from '../model/token.js';
import type { Variable } from '../model/variable.js';
import type { IdempotencyRecord } from './commit.js';
import type { PlannedWrite } from './plans.js';

/** How many saved selector versions each API keeps (older ones are pruned on save). */
export const SELECTOR_HISTORY_LIMIT = 20;

/**
 * Which config a version number names. The number alone can repeat: after a restore or a failover to
 * a standby that lost the last writes, the counter hands out numbers already served, with other
 * content. The token, a random value written with every version bump, tells those apart.
 */
export interface ConfigStamp {
  readonly version: number;
  /** The identity written with this version; null while no write since migration 7 set one. */
  readonly token: string | null;
}

/** The whole configuration at one version, read in one transaction. */
export interface ConfigState {
  readonly version: number;
  /** The identity of this version (see ConfigStamp), read in the same transaction as the rows. */
  readonly token: string | null;
  readonly apis: readonly Api[];
  readonly nodes: readonly Node[];
  readonly variables: readonly Variable[];
  /** TLS certificates with their keys (the gateway's TLS port serves them by SNI). */
  readonly certificates: readonly Certificate[];
  readonly consumers: readonly Consumer[];
}

/** A consumer to create: its stored (hashed) credentials already made. */
export type NewConsumer = Pick<Consumer, 'name' | 'tags' | 'credentials'>;

/** One saved version of an API's selector (kept so the console can roll back). */
export interface SelectorVersion {
  readonly apiId: string;
  readonly version: number;
  readonly selector: SelectorConfig | null;
  readonly savedAt: string;
}

/**
 * Turns the current stored object into the next one. Runs inside the write transaction; returns the
 * full next object (validated by the store before writing) or throws to abort without writing.
 */
export type Mutator<T> = (current: T) => T;

/** Whether a networked store reaches its database right now. */
export interface StoreHealth {
  /** True while the last attempt to use the database (a query, or the change listener) succeeded. */
  readonly connected: boolean;
  /** Why it is not connected (the last connection error); null while connected. */
  readonly lastError: string | null;
}

/**
 * Decides a plan from the config as stored inside the write transaction (so nothing can change
 * between the decision and the write). Pure: it may throw to refuse.
 */
export type Planner = (current: ConfigState) => PlannedWrite[];

/**
 * The repository every store driver implements (SQLite and PostgreSQL). Every write is one
 * transaction that also bumps the config version; a failed write leaves nothing behind.
 *
 * Every write goes through the driver's one write helper, and every write step reports the object
 * changes it made (`Change`, src/store/changes.ts). From those the helper, in the same transaction,
 * records one audit row per change with the actor of the current write scope (src/store/write-scope.ts),
 * checks `If-Match`, rolls back dry runs, records the request's Idempotency-Key, and bumps the config
 * version when a config object changed. A new write method is audited by writing its step that way.
 */
export interface Store {
  /** Current config version; every successful write increases it by one. */
  version(): Promise<number>;
  /** The current version with its identity token, in one row read (what gateways poll). */
  stamp(): Promise<ConfigStamp>;
  /** The whole config, consistent at one version. */
  loadConfig(): Promise<ConfigState>;

  listApis(): Promise<Api[]>;
  getApi(id: string): Promise<Api | null>;
  createApi(input: ApiCreate): Promise<Api>;
  /** Read-modify-write in one transaction; null when the API does not exist. */
  updateApi(id: string, mutate: Mutator<Api>): Promise<Api | null>;
  /** Deletes the API and its nodes; false when it did not exist. */
  deleteApi(id: string): Promise<boolean>;

  listNodes(apiId: string): Promise<Node[]>;
  getNode(apiId: string, nodeId: string): Promise<Node | null>;
  /** Null when the API does not exist. */
  createNode(apiId: string, input: NodeCreate): Promise<Node | null>;
  updateNode(apiId: string, nodeId: string, mutate: Mutator<Node>): Promise<Node | null>;
  deleteNode(apiId: string, nodeId: string): Promise<boolean>;

  listVariables(): Promise<Variable[]>;
  getVariable(name: string): Promise<Variable | null>;
  /** Creates or replaces; returns the stored variable. */
  putVariable(name: string, value: string): Promise<Variable>;
  deleteVariable(name: string): Promise<boolean>;

  listConsumers(): Promise<Consumer[]>;
  getConsumer(id: string): Promise<Consumer | null>;
  /** Throws StoreConflictError CONSUMER_NAME_TAKEN or CREDENTIAL_TAKEN. */
  createConsumer(input: NewConsumer): Promise<Consumer>;
  /** Read-modify-write in one transaction (credentials included); null when it does not exist. */
  updateConsumer(id: string, mutate: Mutator<Consumer>): Promise<Consumer | null>;
  deleteConsumer(id: string): Promise<boolean>;

  /** Sets (or clears, with null) an API's selector and records it in the selector history. */
  setSelector(apiId: string, selector: SelectorConfig | null): Promise<Api | null>;
  /** Saved selector versions of an API, newest first (at most the last 20). */
  listSelectorVersions(apiId: string): Promise<SelectorVersion[]>;

  /** Every certificate, oldest first. */
  listCertificates(): Promise<Certificate[]>;
  getCertificate(id: string): Promise<Certificate | null>;
  /**
   * Stores a checked certificate. A name another certificate has is a CertificateConflictError; when
   * it is the default, the previous default stops being one (in the same transaction).
   */
  createCertificate(record: CertificateRecord): Promise<Certificate>;
  /** Read-modify-write in one transaction (same checks as create); null when it does not exist. */
  updateCertificate(id: string, mutate: Mutator<Certificate>): Promise<Certificate | null>;
  deleteCertificate(id: string): Promise<boolean>;

  // The audit log, and writes made from it or from a config file: each is one transaction and one
  // config version (none when nothing changed), audited like any other write.

  /** A page of the audit log, newest first. */
  listAudit(query: AuditListing): Promise<AuditPage>;
  /** Undoes the write that made `version` (REVERT_CONFLICT when an object it touched changed since). */
  revertVersion(version: number): Promise<PlanResult>;
  /** Brings every config object back to how it was at `version` (AUDIT_INCOMPLETE when the log lacks writes since). */
  restoreVersion(version: number): Promise<PlanResult>;
  /** Runs `planner` on the stored config inside one write transaction and executes its plan; `cause` goes into the audit rows. */
  applyPlan(planner: Planner, cause: string): Promise<PlanResult>;

  // Named admin tokens: not config (no version, gateways never see them), but audited.

  listTokens(): Promise<AdminToken[]>;
  getToken(id: string): Promise<AdminToken | null>;
  /** The token whose secret hashes to `secretHash`, or null. */
  findTokenByHash(secretHash: string): Promise<AdminToken | null>;
  /** Stores a new token with the hash of its secret (TOKEN_NAME_TAKEN when the name is in use). */
  createToken(input: TokenCreate, secretHash: string): Promise<AdminToken>;
  updateToken(id: string, mutate: Mutator<AdminToken>): Promise<AdminToken | null>;
  deleteToken(id: string): Promise<boolean>;

  /** The Idempotency-Key `key` of `actorId` when it was recorded within the last 24 hours, else null. */
  findIdempotencyKey(actorId: string, key: string): Promise<IdempotencyRecord | null>;

  // The cluster view. Heartbeats are not config: they never bump the version, never notify `watch`
  // callers and never wait for a config writer's lock.

  /** Registers a process or refreshes its row; last seen is set by the store's clock. Validates `beat`. */
  heartbeat(beat: ProcessBeat): Promise<void>;
  /** Removes a process's row (it stopped cleanly); false when there was none. */
  removeProcess(id: string): Promise<boolean>;
  /** Every registered process (by role, host, worker, start time) with the store's clock at reading. */
  listProcesses(): Promise<ClusterState>;
  /** Deletes rows not seen for more than `olderThanMs` by the store's clock; returns how many. */
  pruneProcesses(olderThanMs: number): Promise<number>;

  /**
   * Optional; drivers shared by several processes (PostgreSQL) implement it. Calls `onVersion` with
   * the new config version soon after any process commits a write, and with the current version each
   * time its listening connection (re)connects, so changes made while disconnected are not missed.
   * A version may be reported more than once; callers load the config when it differs from theirs and
   * keep a periodic `version()` check as the safety net. Returns a function that stops watching.
   */
  watch?(onVersion: (version: number) => void): () => void;
  /** Optional; whether the driver reaches its database (absent: an embedded store that always does). */
  health?(): StoreHealth;

  close(): Promise<void>;
}
