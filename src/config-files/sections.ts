import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ApiCreate, type Api } from '../model/api.js';
import { NodeCreate, type Node } from '../model/node.js';
import { Variable, VariableName, VariableValue } from '../model/variable.js';
import { apiNameKey } from '../store/conflicts.js';
import type { PlannedWrite } from '../store/plans.js';
import type { ConfigState } from '../store/store.js';
import { certificatesSection, consumersSection } from './secret-sections.js';
import type { Section } from './section.js';

export type { ExportOptions, FileIssue, PlanContext, Section } from './section.js';

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** `variables`: name and value. */
export const variablesSection: Section<{ name: string; value: string }> = {
  key: 'variables',
  max: 10_000,
  entry: z.strictObject({ name: VariableName, value: VariableValue }),
  export: (state) => [...state.variables].sort(byName).map((v) => ({ name: v.name, value: v.value })),
  plan(entries, { state, now }) {
    const wanted = new Set(entries.map((e) => e.name));
    return [
      ...entries.map((e) => ({
        kind: 'variable' as const,
        id: e.name,
        next: Variable.parse({ ...e, updatedAt: now }),
      })),
      ...state.variables
        .filter((v) => !wanted.has(v.name))
        .map((v) => ({ kind: 'variable' as const, id: v.name, next: null })),
    ];
  },
};

type ApiEntry = z.input<typeof ApiCreate>;

/** An API's fields as a file holds them: everything but its id and timestamps. */
function apiEntry(api: Api): ApiEntry {
  const { id: _id, createdAt: _c, updatedAt: _u, ...fields } = api;
  return fields;
}

/** The APIs in the order files list them: by name, so an export is the same whatever order they were made in. */
function apisInFileOrder(state: ConfigState): Api[] {
  return [...state.apis].sort((a, b) => byName({ name: apiNameKey(a.name) }, { name: apiNameKey(b.name) }));
}

/** `apis`: every API setting (defaults filled on apply), by name (matched case-insensitively). */
export const apisSection: Section<ApiEntry> = {
  key: 'apis',
  max: 10_000,
  entry: ApiCreate as unknown as z.ZodType<ApiEntry>,
  export: (state) => apisInFileOrder(state).map(apiEntry),
  plan(entries, { state, apiIds, now }) {
    const stored = new Map(state.apis.map((a) => [apiNameKey(a.name), a]));
    const plan: PlannedWrite[] = [];
    for (const entry of entries) {
      const key = apiNameKey(entry.name);
      const current = stored.get(key);
      const id = current?.id ?? randomUUID();
      apiIds.set(key, id);
      plan.push({
        kind: 'api',
        id,
        next: { ...ApiCreate.parse(entry), id, createdAt: current?.createdAt ?? now, updatedAt: now },
      });
    }
    for (const api of state.apis)
      if (!apiIds.has(apiNameKey(api.name))) plan.push({ kind: 'api', id: api.id, next: null });
    return plan;
  },
};

/** A node entry: the name of its API, then the node's own fields. */
const NodeEntry = z.strictObject({ api: z.string().trim().min(1).max(100), ...NodeCreate.shape });
type NodeEntry = z.input<typeof NodeEntry>;

/** `nodes`: each with the name of its API, in each API's order; matched by API and node name. */
export const nodesSection: Section<NodeEntry> = {
  key: 'nodes',
  max: 100_000,
  entry: NodeEntry as unknown as z.ZodType<NodeEntry>,
  export(state) {
    const names = new Map(state.apis.map((a) => [a.id, a.name]));
    const order = new Map(apisInFileOrder(state).map((a, i) => [a.id, i]));
    // Stored nodes come by API and position; the file lists them in the APIs' order.
    const nodes = [...state.nodes].sort((a, b) => order.get(a.apiId)! - order.get(b.apiId)!);
    return nodes.map((n) => ({
      api: names.get(n.apiId)!,
      name: n.name,
      connector: n.connector,
      enabled: n.enabled,
      weight: n.weight,
      tags: n.tags,
      rules: n.rules,
    }));
  },
  plan(entries, { state, apiIds, now }) {
    const plan: PlannedWrite[] = [];
    const unmatched = new Map<string, Node[]>();
    for (const n of state.nodes)
      unmatched.set(`${n.apiId}\u0000${n.name}`, [...(unmatched.get(`${n.apiId}\u0000${n.name}`) ?? []), n]);
    for (const entry of entries) {
      const apiId = apiIds.get(apiNameKey(entry.api))!;
      const { api: _api, ...fields } = NodeEntry.parse(entry);
      // Two stored nodes of one name (allowed outside files) match the file's in their order.
      const current = unmatched.get(`${apiId}\u0000${fields.name}`)?.shift();
      const id = current?.id ?? randomUUID();
      plan.push({
        kind: 'node',
        id,
        next: { ...fields, id, apiId, createdAt: current?.createdAt ?? now, updatedAt: now },
      });
    }
    for (const left of unmatched.values()) for (const n of left) plan.push({ kind: 'node', id: n.id, next: null });
    return plan;
  },
};

/** Every section, in the order a file lists them and a plan is made (nodes need their APIs' ids). */
export const SECTIONS: readonly Section<never>[] = [
  variablesSection,
  apisSection,
  nodesSection,
  certificatesSection,
  consumersSection,
] as unknown as Section<never>[];
