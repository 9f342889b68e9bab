import type { Api, ApiCreate } from '../model/api.js';
import type { PlanResult } from '../model/audit.js';
import type { Certificate, CertificateRecord } from '../model/certificate.js';
import type { Consumer } from '../model/consumer.js';
import type { Node, NodeCreate } from '../model/node.js';
import type { SelectorConfig } from '../model/selector.js';
import type { AdminToken, TokenCreate } from '../model/token.js';
import type { Variable } from '../model/variable.js';
import type { IdempotencyRecord } from './commit.js';
import type { PlannedWrite } from './plans.js';
import type { Mutator, NewConsumer, SelectorVersion } from './store.js';
import { newToken } from './tokens.js';
import type { WriteOutcome } from './write-steps.js';

/** How a driver's steps answer: at once (SQLite, whose writes run inside a synchronous transaction) or as a promise (PostgreSQL). */
export type StepMode = 'sync' | 'async';

/** What a step of a driver in `mode` gives for a `T`. */
export type StepResult<M extends StepMode, T> = M extends 'async' ? Promise<T> : T;

/**
 * A driver's reads and write steps for the Store operations both drivers run alike, each given the
 * driver's connection `C` (SQLite's prepared statements, a PostgreSQL client). A write step reports
 * the changes it made (WriteOutcome), which the driver's write helper audits.
 */
export interface DriverSteps<C, M extends StepMode> {
  listApis(c: C): StepResult<M, Api[]>;
  readApi(c: C, id: string): StepResult<M, Api | null>;
  createApi(c: C, input: ApiCreate): StepResult<M, WriteOutcome<Api>>;
  updateApi(c: C, id: string, mutate: Mutator<Api>): StepResult<M, WriteOutcome<Api | null>>;
  deleteApi(c: C, id: string): StepResult<M, WriteOutcome<boolean>>;
  listNodes(c: C, apiId: string): StepResult<M, Node[]>;
  readNode(c: C, apiId: string, nodeId: string): StepResult<M, Node | null>;
  createNode(c: C, apiId: string, input: NodeCreate): StepResult<M, WriteOutcome<Node | null>>;
  updateNode(c: C, apiId: string, nodeId: string, mutate: Mutator<Node>): StepResult<M, WriteOutcome<Node | null>>;
  deleteNode(c: C, apiId: string, nodeId: string): StepResult<M, WriteOutcome<boolean>>;
  listVariables(c: C): StepResult<M, Variable[]>;
  readVariable(c: C, name: string): StepResult<M, Variable | null>;
  putVariable(c: C, name: string, value: string): StepResult<M, WriteOutcome<Variable>>;
  deleteVariable(c: C, name: string): StepResult<M, WriteOutcome<boolean>>;
  listConsumers(c: C): StepResult<M, Consumer[]>;
  readConsumer(c: C, id: string): StepResult<M, Consumer | null>;
  createConsumer(c: C, input: NewConsumer): StepResult<M, WriteOutcome<Consumer>>;
  updateConsumer(c: C, id: string, mutate: Mutator<Consumer>): StepResult<M, WriteOutcome<Consumer | null>>;
  deleteConsumer(c: C, id: string): StepResult<M, WriteOutcome<boolean>>;
  setSelector(c: C, apiId: string, selector: SelectorConfig | null): StepResult<M, WriteOutcome<Api | null>>;
  listSelectorVersions(c: C, apiId: string): StepResult<M, SelectorVersion[]>;
  listCertificates(c: C): StepResult<M, Certificate[]>;
  readCertificate(c: C, id: string): StepResult<M, Certificate | null>;
  createCertificate(c: C, record: CertificateRecord): StepResult<M, WriteOutcome<Certificate>>;
  updateCertificate(c: C, id: string, mutate: Mutator<Certificate>): StepResult<M, WriteOutcome<Certificate | null>>;
  deleteCertificate(c: C, id: string): StepResult<M, WriteOutcome<boolean>>;
  revertPlan(c: C, version: number): StepResult<M, PlannedWrite[]>;
  restorePlan(c: C, version: number): StepResult<M, PlannedWrite[]>;
  listTokens(c: C): StepResult<M, AdminToken[]>;
  readToken(c: C, id: string): StepResult<M, AdminToken | null>;
  findTokenByHash(c: C, secretHash: string): StepResult<M, AdminToken | null>;
  insertToken(c: C, token: AdminToken, secretHash: string): StepResult<M, WriteOutcome<AdminToken>>;
  changeToken(c: C, id: string, mutate: Mutator<AdminToken>): StepResult<M, WriteOutcome<AdminToken | null>>;
  removeToken(c: C, id: string): StepResult<M, WriteOutcome<boolean>>;
  findKey(c: C, actorId: string, key: string): StepResult<M, IdempotencyRecord | null>;
}

/**
 * The Store operations every driver runs the same way: each one read, or one audited write, of the
 * driver's step for it (APIs and nodes, variables, consumers, selectors, certificates, reverts and
 * restores, admin tokens, Idempotency-Keys). A driver gives its steps and says how it runs a read, a
 * write and a plan; the rest of the Store (the config version and snapshot, the audit log, plans,
 * the cluster view, health and closing) it implements itself.
 */
export abstract class DriverStore<C, M extends StepMode> {
  protected constructor(private readonly steps: DriverSteps<C, M>) {}

  /** Runs a read on the driver's connection. */
  protected abstract read<T>(step: (c: C) => StepResult<M, T>): Promise<T>;

  /** Runs one write transaction whose changes are audited (src/store/commit.ts); answers the step's value. */
  protected abstract write<T>(step: (c: C) => StepResult<M, WriteOutcome<T>>): Promise<T>;

  /** A write that executes a plan (revert, restore, config apply) and answers with what it changed. */
  protected abstract writePlan(plan: (c: C) => StepResult<M, PlannedWrite[]>, cause: string): Promise<PlanResult>;

  async listApis(): Promise<Api[]> {
    return this.read((c) => this.steps.listApis(c));
  }

  async getApi(id: string): Promise<Api | null> {
    return this.read((c) => this.steps.readApi(c, id));
  }

  async createApi(input: ApiCreate): Promise<Api> {
    return this.write((c) => this.steps.createApi(c, input));
  }

  async updateApi(id: string, mutate: Mutator<Api>): Promise<Api | null> {
    return this.write((c) => this.steps.updateApi(c, id, mutate));
  }

  async deleteApi(id: string): Promise<boolean> {
    return this.write((c) => this.steps.deleteApi(c, id));
  }

  async listNodes(apiId: string): Promise<Node[]> {
    return this.read((c) => this.steps.listNodes(c, apiId));
  }

  async getNode(apiId: string, nodeId: string): Promise<Node | null> {
    return this.read((c) => this.steps.readNode(c, apiId, nodeId));
  }

  async createNode(apiId: string, input: NodeCreate): Promise<Node | null> {
    return this.write((c) => this.steps.createNode(c, apiId, input));
  }

  async updateNode(apiId: string, nodeId: string, mutate: Mutator<Node>): Promise<Node | null> {
    return this.write((c) => this.steps.updateNode(c, apiId, nodeId, mutate));
  }

  async deleteNode(apiId: string, nodeId: string): Promise<boolean> {
    return this.write((c) => this.steps.deleteNode(c, apiId, nodeId));
  }

  async listVariables(): Promise<Variable[]> {
    return this.read((c) => this.steps.listVariables(c));
  }

  async getVariable(name: string): Promise<Variable | null> {
    return this.read((c) => this.steps.readVariable(c, name));
  }

  async putVariable(name: string, value: string): Promise<Variable> {
    return this.write((c) => this.steps.putVariable(c, name, value));
  }

  async deleteVariable(name: string): Promise<boolean> {
    return this.write((c) => this.steps.deleteVariable(c, name));
  }

  async listConsumers(): Promise<Consumer[]> {
    return this.read((c) => this.steps.listConsumers(c));
  }

  async getConsumer(id: string): Promise<Consumer | null> {
    return this.read((c) => this.steps.readConsumer(c, id));
  }

  async createConsumer(input: NewConsumer): Promise<Consumer> {
    return this.write((c) => this.steps.createConsumer(c, input));
  }

  async updateConsumer(id: string, mutate: Mutator<Consumer>): Promise<Consumer | null> {
    return this.write((c) => this.steps.updateConsumer(c, id, mutate));
  }

  async deleteConsumer(id: string): Promise<boolean> {
    return this.write((c) => this.steps.deleteConsumer(c, id));
  }

  async setSelector(apiId: string, selector: SelectorConfig | null): Promise<Api | null> {
    return this.write((c) => this.steps.setSelector(c, apiId, selector));
  }

  async listSelectorVersions(apiId: string): Promise<SelectorVersion[]> {
    return this.read((c) => this.steps.listSelectorVersions(c, apiId));
  }

  async listCertificates(): Promise<Certificate[]> {
    return this.read((c) => this.steps.listCertificates(c));
  }

  async getCertificate(id: string): Promise<Certificate | null> {
    return this.read((c) => this.steps.readCertificate(c, id));
  }

  async createCertificate(record: CertificateRecord): Promise<Certificate> {
    return this.write((c) => this.steps.createCertificate(c, record));
  }

  async updateCertificate(id: string, mutate: Mutator<Certificate>): Promise<Certificate | null> {
    return this.write((c) => this.steps.updateCertificate(c, id, mutate));
  }

  async deleteCertificate(id: string): Promise<boolean> {
    return this.write((c) => this.steps.deleteCertificate(c, id));
  }

  async revertVersion(version: number): Promise<PlanResult> {
    return this.writePlan((c) => this.steps.revertPlan(c, version), `revert of version ${version}`);
  }

  async restoreVersion(version: number): Promise<PlanResult> {
    return this.writePlan((c) => this.steps.restorePlan(c, version), `restore of version ${version}`);
  }

  async listTokens(): Promise<AdminToken[]> {
    return this.read((c) => this.steps.listTokens(c));
  }

  async getToken(id: string): Promise<AdminToken | null> {
    return this.read((c) => this.steps.readToken(c, id));
  }

  async findTokenByHash(secretHash: string): Promise<AdminToken | null> {
    return this.read((c) => this.steps.findTokenByHash(c, secretHash));
  }

  async createToken(input: TokenCreate, secretHash: string): Promise<AdminToken> {
    return this.write((c) => this.steps.insertToken(c, newToken(input), secretHash));
  }

  async updateToken(id: string, mutate: Mutator<AdminToken>): Promise<AdminToken | null> {
    return this.write((c) => this.steps.changeToken(c, id, mutate));
  }

  async deleteToken(id: string): Promise<boolean> {
    return this.write((c) => this.steps.removeToken(c, id));
  }

  async findIdempotencyKey(actorId: string, key: string): Promise<IdempotencyRecord | null> {
    return this.read((c) => this.steps.findKey(c, actorId, key));
  }
}
