import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ApiCreate } from '../model/api.js';
import type { PlanResult } from '../model/audit.js';
import { packageRoot } from '../paths.js';
import type { PlannedWrite } from '../store/plans.js';
import type { ConfigState, Planner, Store } from '../store/store.js';
import { startEchoUpstream, type EchoUpstream } from './echo.js';

/** The demo's nodes: two servers (IP1, IP2), one canary; each gets its own echo upstream. */
export const DEMO_NODES = [
  { api: 'demo', name: 'ip1-a', server: 'IP1', tags: [] as string[] },
  { api: 'demo', name: 'ip2-a', server: 'IP2', tags: [] },
  { api: 'demo', name: 'ip1-canary', server: 'IP1', tags: ['temp'] },
  { api: 'demo-sticky', name: 'ip1-b', server: 'IP1', tags: [] },
  { api: 'demo-sticky', name: 'ip2-b', server: 'IP2', tags: [] },
] as const;

/** First port of the demo's echo upstreams (one per demo node, in order). */
export const DEMO_PORT_BASE = 19081;

/** The names of the demo's APIs: the ones `--reset-demo` deletes and seeds again. */
export const DEMO_APIS = ['demo', 'demo-sticky'] as const;

/** The demo's variables with the value the seed gives them (nodes of server IP1 need `IP1_enable` = "true"). */
export const DEMO_VARIABLES = { IP1_enable: 'true', IP2_enable: 'true' } as const;

/** The `cause` of the audit rows of the demo's first seed. */
export const DEMO_SEED_CAUSE = 'demo seed';

/** The `cause` of the audit rows of `--reset-demo`. */
export const DEMO_RESET_CAUSE = 'demo reset';

/** The demo APIs' settings: `demo` (`/demo/*`, round robin, canary selector) and `demo-sticky` (`/sticky/*`, ip_hash). */
function demoApiInputs(selectorCode: string): Record<(typeof DEMO_APIS)[number], ApiCreate> {
  const common = {
    host: null,
    stripPrefix: false,
    timeouts: { connectMs: 3000, headersMs: 30000, bodyMs: 60000 },
    retries: 1,
    maxBodyBytes: 1024 * 1024,
  };
  return {
    demo: ApiCreate.parse({
      ...common,
      name: 'demo',
      methods: ['GET', 'HEAD', 'POST'],
      path: '/demo/*',
      algorithm: 'round_robin',
      selector: { code: selectorCode, onError: 'use-all', timeoutMs: 20, memoryMb: 32, memoize: 'auto' },
    }),
    'demo-sticky': ApiCreate.parse({
      ...common,
      name: 'demo-sticky',
      methods: ['GET', 'HEAD'],
      path: '/sticky/*',
      algorithm: 'ip_hash',
      selector: null,
    }),
  };
}

/**
 * The plan that makes the demo in `state` as first seeded: delete the stored APIs named `demo` and
 * `demo-sticky` and their nodes, set IP1_enable and IP2_enable to "true", create both APIs afresh
 * (new ids) and their five nodes, the i-th of DEMO_NODES on `portBase + i`. Other APIs and variables
 * are not in it. Creating `demo` with its selector records that selector in its (new) history.
 */
export function demoPlan(state: ConfigState, portBase: number, selectorCode: string): PlannedWrite[] {
  const names: readonly string[] = DEMO_APIS;
  const old = new Set(state.apis.filter((a) => names.includes(a.name)).map((a) => a.id));
  const deletes: PlannedWrite[] = [
    ...state.nodes.filter((n) => old.has(n.apiId)).map((n) => ({ kind: 'node' as const, id: n.id, next: null })),
    ...[...old].map((id) => ({ kind: 'api' as const, id, next: null })),
  ];
  const variables = Object.entries(DEMO_VARIABLES).map(([name, value]) => ({
    kind: 'variable' as const,
    id: name,
    next: { name, value },
  }));
  const inputs = demoApiInputs(selectorCode);
  const apiIds = { demo: randomUUID(), 'demo-sticky': randomUUID() };
  const apis = DEMO_APIS.map((name) => ({
    kind: 'api' as const,
    id: apiIds[name],
    next: { ...inputs[name], id: apiIds[name] },
  }));
  const nodes = DEMO_NODES.map((n, i) => {
    const id = randomUUID();
    const node = {
      id,
      apiId: apiIds[n.api],
      name: n.name,
      connector: { kind: 'simple-url', url: `http://127.0.0.1:${portBase + i}` },
      enabled: true,
      weight: 1,
      tags: [...n.tags],
      rules: [{ variable: `${n.server}_enable`, op: 'eq', value: 'true' }],
    };
    return { kind: 'node' as const, id, next: node };
  });
  return [...deletes, ...variables, ...apis, ...nodes];
}

/** The planner of `demoPlan`, with the canary selector read from scripts-examples/canary-by-query.js now. */
export function demoPlanner(portBase: number): Planner {
  const code = readFileSync(join(packageRoot(), 'scripts-examples', 'canary-by-query.js'), 'utf8');
  return (state) => demoPlan(state, portBase, code);
}

/**
 * Seeds the demo config into an empty store (config version 0), in one write (the plan `--reset-demo`
 * applies too). Whether the store is empty is decided inside the write's transaction, so of two
 * starts racing on an empty store one seeds and the other writes nothing: its result has no version
 * (`version: null`, no changes) and the demo the first one seeded stays as it is.
 */
export function seedDemo(store: Store, portBase: number): Promise<PlanResult> {
  const plan = demoPlanner(portBase);
  return store.applyPlan((state) => (state.version === 0 ? plan(state) : []), DEMO_SEED_CAUSE);
}

/**
 * Puts the demo back as first seeded (`demoPlan`): the old demo APIs and their nodes go, both
 * variables are set to "true" and the demo APIs and nodes are created again, all in one transaction
 * and one config version. Other APIs and variables are left alone. When any of it fails (a route
 * another API took meanwhile is ROUTE_CONFLICT) nothing is written: the old demo stays as it was and
 * the error is thrown.
 */
export function resetDemo(store: Store, portBase: number): Promise<PlanResult> {
  return store.applyPlan(demoPlanner(portBase), DEMO_RESET_CAUSE);
}

/** Starts the demo's echo upstreams; a port already in use is logged and skipped. */
export async function startDemoUpstreams(portBase: number, log: Logger): Promise<EchoUpstream[]> {
  const started: EchoUpstream[] = [];
  for (const [i, n] of DEMO_NODES.entries()) {
    try {
      started.push(await startEchoUpstream(n.name, portBase + i));
    } catch (err) {
      log.warn({ port: portBase + i, err: (err as Error).message }, `demo upstream ${n.name} not started`);
    }
  }
  return started;
}
