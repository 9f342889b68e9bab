import type { AdminRuntime, BalanceExplanation, HealthReport, NodeRef } from '../../src/admin/runtime.js';
import { unknownHealth } from '../../src/health/view.js';
import type { NodeStatsView } from '../../src/gateway/node-stats.js';
import type { Node } from '../../src/model/node.js';
import type { SelectorConfig } from '../../src/model/selector.js';
import type { SelectorRequest, SelectorStatus, TrialResult } from '../../src/selector/types.js';
import type { Store } from '../../src/store/store.js';

/**
 * A small honest AdminRuntime over the real store: `applied` reloads the config (so it always sees
 * committed data) and counts calls; a selector whose code contains `throw` fails its trial with the
 * line and column of that word; `explain` runs the enabled → rules → selector steps without a sandbox.
 */
export class RuntimeDouble implements AdminRuntime {
  appliedCalls = 0;
  /** The config version the last `applied()` loaded. */
  servingVersion = 0;
  readonly trials: Array<{ apiId: string; config: SelectorConfig; request: SelectorRequest }> = [];
  readonly explains: Array<{ apiId: string; request: SelectorRequest; selector: SelectorConfig | null | undefined }> =
    [];
  /** Calls of each runtime query (`selectorStatus`, `selectorStatuses`, `nodeStats`, `nodeHealth`): one ask each. */
  readonly asks = { selectorStatus: 0, selectorStatuses: 0, nodeStats: 0, nodeHealth: 0 };
  private serving = new Map<string, SelectorConfig>();

  constructor(private readonly store: Store) {}

  async applied(): Promise<void> {
    this.appliedCalls++;
    const config = await this.store.loadConfig();
    this.servingVersion = config.version;
    this.serving = new Map(config.apis.flatMap((a) => (a.selector ? [[a.id, a.selector] as const] : [])));
  }

  async trialSelector(apiId: string, config: SelectorConfig, request: SelectorRequest): Promise<TrialResult> {
    this.trials.push({ apiId, config, request });
    const at = config.code.indexOf('throw');
    if (at >= 0) {
      const before = config.code.slice(0, at);
      const line = before.split('\n').length;
      const column = at - before.lastIndexOf('\n');
      return {
        ok: false,
        picked: [],
        error: { kind: 'throw', message: 'Error: selector threw', line, column },
        durationUs: 10,
        console: [],
      };
    }
    const nodes = await this.store.listNodes(apiId);
    return { ok: true, picked: nodes.filter((n) => n.enabled).map((n) => n.id), durationUs: 10, console: [] };
  }

  async explain(
    apiId: string,
    request: SelectorRequest,
    selector?: SelectorConfig | null,
  ): Promise<BalanceExplanation> {
    this.explains.push({ apiId, request, selector });
    const variables = new Map((await this.store.listVariables()).map((v) => [v.name, v.value]));
    const enabled = (await this.store.listNodes(apiId)).filter((n) => n.enabled);
    const rules = enabled.filter((n) => n.rules.every((r) => variables.get(r.variable) === r.value));
    const effective = selector === undefined ? (this.serving.get(apiId) ?? null) : selector;
    const pick = rules[0] ?? null;
    return {
      steps: { enabled: enabled.map(ref), rules: rules.map(ref), health: rules.map(ref), selector: rules.map(ref) },
      pick: pick && ref(pick),
      selector: { ran: effective !== null, durationUs: 0, console: [], error: null, fallback: null },
      errorCode: pick ? null : 'NO_NODE',
      access: null,
      health: { known: false, panic: false },
    };
  }

  async nodeStats(nodeIds: readonly string[]): Promise<Record<string, NodeStatsView>> {
    this.asks.nodeStats++;
    const idle = { requests: 0, errors: 0, rps: 0, errorRate: 0, p99Ms: null };
    return Object.fromEntries(
      nodeIds.map((id) => [id, { lastMinute: idle, lastFiveMinutes: idle, recent: [], upgraded: 0 }]),
    );
  }

  /** Like an admin-only process: no data plane, so no health view. */
  async nodeHealth(nodeIds: readonly string[]): Promise<HealthReport> {
    this.asks.nodeHealth++;
    return {
      source: 'none',
      nodes: Object.fromEntries(nodeIds.map((id) => [id, unknownHealth('no data plane in this double')])),
    };
  }

  async selectorStatus(apiId: string): Promise<SelectorStatus | null> {
    this.asks.selectorStatus++;
    return this.statusOf(apiId);
  }

  async selectorStatuses(apiIds: readonly string[]): Promise<Record<string, SelectorStatus | null>> {
    this.asks.selectorStatuses++;
    return Object.fromEntries(apiIds.map((id) => [id, this.statusOf(id)]));
  }

  private statusOf(apiId: string): SelectorStatus | null {
    if (!this.serving.has(apiId)) return null;
    return {
      state: 'active',
      calls: 0,
      failures: 0,
      quarantinedAt: null,
      lastErrors: [],
      memoization: { mode: false, active: false, reason: null },
    };
  }
}

function ref(node: Node): NodeRef {
  return { id: node.id, name: node.name, url: node.connector.url };
}
