import type { Api } from '../model/api.js';
import type { Node } from '../model/node.js';
import type { Variable } from '../model/variable.js';
import type { Change } from '../store/changes.js';
import type { ConfigState } from '../store/store.js';
import { availabilityOf, nodesByApi, type Availability, type RuntimeView } from './availability.js';

/** How a write would change one API's availability; null before: it is new, null after: it is deleted. */
export interface ApiImpact {
  apiId: string;
  apiName: string;
  before: Availability | null;
  after: Availability | null;
}

/** What a write would do to traffic: the APIs whose availability changes, and the ones it leaves without any node. */
export interface Impact {
  apis: ApiImpact[];
  /** Names of the APIs that have a node taking traffic now and would have none. */
  losesLastNode: string[];
  /** One line per API: `leaves demo with 0 nodes that take traffic (rules)`. */
  summary: string[];
}

/** The config objects after a write's changes, applied in memory. */
export function applyChanges(config: Pick<ConfigState, 'apis' | 'nodes' | 'variables'>, changes: readonly Change[]) {
  const apis = new Map(config.apis.map((a) => [a.id, a]));
  const nodes = new Map(config.nodes.map((n) => [n.id, n]));
  const variables = new Map(config.variables.map((v) => [v.name, v]));
  for (const c of changes) {
    const target = c.kind === 'api' ? apis : c.kind === 'node' ? nodes : c.kind === 'variable' ? variables : null;
    if (target === null) continue;
    if (c.after === null) target.delete(c.id);
    else (target as Map<string, object>).set(c.id, c.after);
  }
  return {
    apis: [...apis.values()] as Api[],
    nodes: [...nodes.values()] as Node[],
    variables: [...variables.values()] as Variable[],
  };
}

/**
 * The APIs a write can change the availability of: those it touches or whose nodes it touches, and
 * those with a node whose rules read a variable it sets.
 */
export function touchedApis(config: Pick<ConfigState, 'nodes'>, changes: readonly Change[]): Set<string> {
  const ids = new Set<string>();
  const names = new Set<string>();
  for (const c of changes) {
    if (c.apiId !== null) ids.add(c.apiId);
    if (c.kind === 'variable') names.add(c.id);
  }
  if (names.size > 0) for (const n of config.nodes) if (n.rules.some((r) => names.has(r.variable))) ids.add(n.apiId);
  return ids;
}

type Objects = { apis: readonly Api[]; nodes: readonly Node[]; variables: readonly Variable[] };

function availabilities(
  objects: Objects,
  ids: ReadonlySet<string>,
  runtime: RuntimeView,
): Map<string, { api: Api; availability: Availability }> {
  const values = new Map(objects.variables.map((v) => [v.name, v.value]));
  const nodesOf = nodesByApi(objects.nodes, ids);
  const out = new Map<string, { api: Api; availability: Availability }>();
  for (const api of objects.apis) {
    if (!ids.has(api.id)) continue;
    out.set(api.id, { api, availability: availabilityOf(api, nodesOf.get(api.id) ?? [], values, runtime) });
  }
  return out;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What `changes` would do to the availability of every API they reach, the health and selector states held as they are. */
export function impactOf(current: Objects, changes: readonly Change[], runtime: RuntimeView): Impact {
  const next = applyChanges(current, changes);
  const ids = new Set([...touchedApis(current, changes), ...touchedApis(next, changes)]);
  const before = availabilities(current, ids, runtime);
  const after = availabilities(next, ids, runtime);
  const impact: Impact = { apis: [], losesLastNode: [], summary: [] };
  for (const id of ids) {
    const b = before.get(id) ?? null;
    const a = after.get(id) ?? null;
    const name = (a ?? b)?.api.name;
    if (name === undefined) continue;
    const was = b?.availability ?? null;
    const will = a?.availability ?? null;
    if (was !== null && will !== null && was.usable === will.usable && was.state === will.state) continue;
    impact.apis.push({ apiId: id, apiName: name, before: was, after: will });
    if (will === null) impact.summary.push(`deletes ${name}: its route answers ROUTE_NOT_FOUND`);
    else if (was === null) impact.summary.push(`creates ${name} with ${plural(will.usable, 'node')} that take traffic`);
    else if (will.state === 'down' && was.state !== 'down') {
      impact.losesLastNode.push(name);
      impact.summary.push(`leaves ${name} with 0 nodes that take traffic (${will.reason})`);
    } else
      impact.summary.push(
        `${name}: nodes that take traffic ${was.usable} → ${will.usable}${will.state === 'ok' ? '' : ` (${will.state}: ${will.reason})`}`,
      );
  }
  return impact;
}
