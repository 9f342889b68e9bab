import type { FastifyInstance } from 'fastify';
import { ruleHolds } from '../../model/rule.js';
import type { AdminDeps } from '../deps.js';
import type { VariableUse } from './variables.js';

/** One node whose rules read a variable, and whether those rules hold now. */
export interface VariableNodeUse extends VariableUse {
  /** Whether every rule of this node on this variable holds with the current values. */
  holds: boolean;
}

/** A variable name with its value (null: rules use it but it is not defined) and the nodes it controls. */
export interface VariableUsage {
  name: string;
  value: string | null;
  uses: VariableNodeUse[];
}

/**
 * `GET /admin/variable-usage`: every defined variable and every name a rule refers to, with the
 * nodes of each API whose rules read it, read from one config version.
 */
export function registerVariableUsageRoutes(app: FastifyInstance, { store }: AdminDeps): void {
  app.get('/variable-usage', async (): Promise<VariableUsage[]> => {
    const config = await store.loadConfig();
    const values = new Map(config.variables.map((v) => [v.name, v.value]));
    const apiNames = new Map(config.apis.map((a) => [a.id, a.name]));
    const usage = new Map<string, VariableUsage>();
    for (const v of config.variables) usage.set(v.name, { name: v.name, value: v.value, uses: [] });
    for (const node of config.nodes) {
      const names = new Set(node.rules.map((r) => r.variable));
      for (const name of names) {
        let entry = usage.get(name);
        if (!entry) usage.set(name, (entry = { name, value: null, uses: [] }));
        entry.uses.push({
          apiId: node.apiId,
          apiName: apiNames.get(node.apiId) ?? '',
          nodeId: node.id,
          nodeName: node.name,
          holds: node.rules.filter((r) => r.variable === name).every((r) => ruleHolds(r, values)),
        });
      }
    }
    const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    const list = [...usage.values()].sort(byName);
    for (const entry of list)
      entry.uses.sort((a, b) =>
        byName({ name: a.apiName + '\0' + a.nodeName }, { name: b.apiName + '\0' + b.nodeName }),
      );
    return list;
  });
}
