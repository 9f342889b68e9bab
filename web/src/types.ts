// The admin API's shapes. Where the server defines them in browser-safe modules they are imported as
// types (erased at build), so a change there breaks this build instead of the page.
import type { Api } from '../../src/model/api.js';
import type { Node } from '../../src/model/node.js';

export type { Api, AlgorithmName, HttpMethod } from '../../src/model/api.js';
export type { Rule } from '../../src/model/rule.js';
export type { Variable } from '../../src/model/variable.js';
export type { CertificateView } from '../../src/model/certificate.js';
export type { ClusterProcessView, ClusterView } from '../../src/model/cluster.js';
export type { SelectorConfig, OnSelectorError, MemoizeMode } from '../../src/model/selector.js';
export type { BalanceExplanation, NodeRef } from '../../src/admin/runtime.js';
export type { AccessExplanation } from '../../src/explain/explanation.js';
export type { ApiAccess, AuthMethod, RateLimit, CorsConfig, IpRules } from '../../src/model/access.js';
export type { ConsumerView, CredentialView } from '../../src/model/consumer.js';
export type {
  SelectorFailure,
  SelectorMemoization,
  SelectorStatus,
  SelectorErrorKind,
} from '../../src/selector/types.js';
export type { SelectorVersion } from '../../src/store/store.js';
export type { NodeStatsSlot, NodeStatsView, NodeStatsWindow } from '../../src/gateway/node-stats.js';
export type { ApiHealthReport, NodeHealthEntry, HealthState } from '../../src/health/view.js';
export type { Availability, AvailabilityReason } from '../../src/admin/availability.js';
export type { ApiImpact, Impact } from '../../src/admin/impact.js';
export type { ApiTraffic, ErrorsByCode } from '../../src/admin/traffic.js';
export type { DryRunAnswer, PlannedChange } from '../../src/admin/dry-run.js';
export type { AuditEntry, AuditPage, ChangeOp, ObjectKind, PlanResult } from '../../src/model/audit.js';
export type { Actor, AdminToken, Role } from '../../src/model/token.js';

/** A node of an API ("Node" is the DOM's name, so the console calls it BackendNode). */
export type BackendNode = Node;

/** A node's connector as the console handles it: any registered kind plus its settings. */
export type ConnectorValue = { kind: string } & Record<string, unknown>;

/** An API as `GET /admin/apis` lists it (the same shape as `ApiSummary` in src/admin/routes/apis.ts). */
export type ApiSummary = Api & {
  nodeCounts: { enabled: number; total: number };
  selectorState: 'active' | 'quarantined' | 'over-budget' | 'none';
  availability: import('../../src/admin/availability.js').Availability;
  traffic: { lastMinute: import('../../src/gateway/node-stats.js').NodeStatsWindow };
};

/** A connector kind from `GET /admin/connectors`. */
export interface ConnectorKindInfo {
  kind: string;
  title: string;
  description: string;
  settings: JsonSchema;
}

/** The part of JSON Schema the console renders forms from. */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
}

/** `GET /admin/selector-templates`. */
export interface SelectorTemplate {
  name: string;
  title: string;
  description: string;
  code: string;
}

/** One node whose rules read a variable (`GET /admin/variable-usage`). */
export interface VariableNodeUse {
  apiId: string;
  apiName: string;
  nodeId: string;
  nodeName: string;
  holds: boolean;
}

/** A variable (value null: used by rules, not defined) with the nodes it controls. */
export interface VariableUsage {
  name: string;
  value: string | null;
  uses: VariableNodeUse[];
}

/** A rule that used a deleted variable (`DELETE /admin/variables/:name`). */
export interface VariableUse {
  apiId: string;
  apiName: string;
  nodeId: string;
  nodeName: string;
}

/** One field-level problem in an admin error. */
export interface ErrorDetail {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** `GET /admin/apis/:id/selector`. */
export interface SelectorView {
  selector: import('../../src/model/selector.js').SelectorConfig | null;
  status: import('../../src/selector/types.js').SelectorStatus | null;
  versions: import('../../src/store/store.js').SelectorVersion[];
}

/** The sample request of the selector test panel and trials. */
export interface SampleRequest {
  method?: string;
  path?: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string | string[]>;
  body?: string | null;
  clientIp?: string;
}
