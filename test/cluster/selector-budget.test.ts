import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, IsogateProcesses, withSchema, type IsogateProcess } from '../helpers/cluster.js';
import { scrape } from '../helpers/metrics.js';
import { adminClient, requestOnce, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema } from '../store/pg-fixtures.js';

// The selector budget across processes (built CLI: `npm run build` first), on one PostgreSQL schema:
// `isogate start --workers 1` runs at most 1 selector, and an `isogate admin` with a larger budget
// stores 2. The worker leaves the newer one out; its API answers SELECTOR_OVER_BUDGET while the
// others route right, the primary's admin API and /status (the worker's view) say why, and the
// primary's own admin API refuses to add more.
const TOKEN = 'cluster-selector-budget-token-0123';
const ONLY_B = 'function select(request, env, nodes) { return nodes.filter((n) => n.name === "b"); }';
const schema = uniqueSchema();
const url = withSchema(PG_URL, schema);
const procs = new IsogateProcesses(TOKEN);
let ups: TestUpstream[] = [];
let gw: IsogateProcess;
let writer: IsogateProcess;
const viaWriter = adminClient(() => writer.admin, TOKEN);
const viaGateway = adminClient(() => gw.admin, TOKEN);

async function addApi(name: string, selector: boolean): Promise<string> {
  const api = await viaWriter('POST', '/admin/apis', {
    name,
    path: `/${name}`,
    algorithm: 'round_robin',
    retries: 0,
    ...(selector ? { selector: { code: ONLY_B, memoryMb: 32 } } : {}),
  });
  if (typeof api.id !== 'string') throw new Error(`create API ${name}: ${JSON.stringify(api)}`);
  for (const up of ups)
    await viaWriter('POST', `/admin/apis/${api.id}/nodes`, {
      name: up.name,
      connector: { kind: 'simple-url', url: up.url },
    });
  return api.id;
}

/** Answers of `n` requests, each on its own connection, counted by node or error code. */
async function answers(path: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = await requestOnce(gw.gateway, path);
    counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}

beforeAll(async () => {
  await requirePostgres();
  ups = await startUpstreams(['a', 'b']);
  const budget = (programs: number) => ['--selector-max-programs', String(programs), '--selector-memory-mb', '500'];
  gw = await procs.start('start', ['--store', url, '--no-demo', '--workers', '1', '--poll-ms', '200', ...budget(1)]);
  writer = await procs.start('admin', ['--store', url, ...budget(5)]);
}, 120_000);

afterAll(async () => {
  await procs.stopAll();
  await Promise.all(ups.map((u) => u.close()));
  await dropSchema(schema);
});

describe('a gateway worker whose budget the stored selectors are past', () => {
  it('starts the older selector, answers the newer one SELECTOR_OVER_BUDGET, and says why', async () => {
    const older = await addApi('older', true);
    const newer = await addApi('newer', true);
    const plainId = await addApi('plain', false);

    const status = await until(
      async () => (await getJson(gw.status, '/status')).body,
      (s) => s.workers?.[0]?.selectors?.notStarted === 1,
      200,
      100,
    );
    expect(status.degraded).toBe(true);
    expect(status.workers[0].selectors).toEqual({
      budget: { programs: 1, memoryMb: 500 },
      started: { programs: 1, memoryMb: 32 },
      notStarted: 1,
      notStartedApis: ['newer'],
    });
    await until(
      () => requestOnce(gw.gateway, '/plain'),
      (who) => who === 'a' || who === 'b',
    );
    expect(await answers('/newer', 3)).toEqual({ SELECTOR_OVER_BUDGET: 3 });
    expect(await answers('/older', 4)).toEqual({ b: 4 });
    const plain = await answers('/plain', 4);
    expect(Object.keys(plain).sort()).toEqual(['a', 'b']);

    // The primary's admin API asks its worker: the newer selector is not started, and why.
    const newerStatus = (await viaGateway('GET', `/admin/apis/${newer}/selector`)).status;
    expect(newerStatus.state).toBe('over-budget');
    expect(newerStatus.notStarted).toMatch(/at most 1 selector \(--selector-max-programs\)/);
    expect((await viaGateway('GET', `/admin/apis/${older}/selector`)).status.state).toBe('active');
    const m = await scrape(`http://127.0.0.1:${gw.status}/metrics`);
    expect(m.sum('isogate_selector_over_budget', { api: 'newer' })).toBe(1);
    expect(m.sum('isogate_selector_over_budget', { api: 'older' })).toBe(0);

    // Its own admin API holds writes to its budget: nothing more is added through it.
    const refused = await viaGateway('PUT', `/admin/apis/${plainId}/selector`, { code: ONLY_B, memoryMb: 8 });
    expect(refused.error.code).toBe('SELECTOR_BUDGET_EXCEEDED');
    expect((await viaGateway('GET', `/admin/apis/${plainId}/selector`)).selector).toBeNull();
  });
});
