import type { NodeStatsView } from '../gateway/node-stats.js';
import type { HealthSource, MergedNodeHealthView } from '../health/view.js';
import type { SelectorConfig } from '../model/selector.js';
import type { BalanceExplanation } from '../explain/explanation.js';
import type { SelectorRequest, SelectorStatus, TrialResult } from '../selector/types.js';

export type { BalanceExplanation, NodeRef } from '../explain/explanation.js';

/** The health of some nodes as the admin runtime sees it. */
export interface HealthReport {
  source: HealthSource;
  nodes: Record<string, MergedNodeHealthView>;
}

/** What the admin API needs from the running gateway (implemented by the process that hosts both). */
export interface AdminRuntime {
  /** Called after every successful write; resolves once the new config version is serving. */
  applied(): Promise<void>;
  /** Compiles the selector in the sandbox and runs it once on a sample request against the API's nodes. */
  trialSelector(apiId: string, config: SelectorConfig, request: SelectorRequest): Promise<TrialResult>;
  /** Runs the whole balance stage for a sample request, with the stored selector or the given one. */
  explain(apiId: string, request: SelectorRequest, selector?: SelectorConfig | null): Promise<BalanceExplanation>;
  /** Runtime state of the API's selector across the gateway processes, or null when it has none. */
  selectorStatus(apiId: string): Promise<SelectorStatus | null>;
  /** `selectorStatus` of each given API (by id) in one ask of the gateway processes (the APIs list). */
  selectorStatuses(apiIds: readonly string[]): Promise<Record<string, SelectorStatus | null>>;
  /** Recent requests, errors and latency of each given node (by id), summed over the gateway processes. */
  nodeStats(nodeIds: readonly string[]): Promise<Record<string, NodeStatsView>>;
  /** Health of each given node (by id), merged over the gateway processes of this machine. */
  nodeHealth(nodeIds: readonly string[]): Promise<HealthReport>;
}
