/**
 * The selector budget (`--selector-max-programs`, `--selector-memory-mb`), end to end with a real
 * gateway whose budget is 3 selectors and 100 MB, real upstreams on 127.0.0.1 and the real SQLite
 * store: every way of saving a selector is refused past it with 409 SELECTOR_BUDGET_EXCEEDED and
 * nothing stored; a config past it written by another process (with a larger budget) leaves the
 * newest selector out, whose API answers 503 SELECTOR_OVER_BUDGET and says why in its selector
 * status, /status, /metrics and its availability, while every other API keeps routing right; and
 * making room starts it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configCli } from '../helpers/config-cli.js';
import { addNode, createApi } from '../helpers/fixtures.js';
import { spread, startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { scrape } from '../helpers/metrics.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

/** Sends every request to node b: an API answered by b alone runs its selector. */
const ONLY_B = 'function select(request, env, nodes) { return nodes.filter((n) => n.name === "b"); }';
const BUDGET = ['--selector-max-programs', '3', '--selector-memory-mb', '100'];

let a: TestGateway;
let b: TestGateway | undefined;
let ups: TestUpstream[] = [];
const ids: Record<string, string> = {};

async function addApi(t: TestGateway, name: string, selector: Record<string, unknown> | null): Promise<void> {
  ids[name] = await createApi(t, {
    name,
    path: `/${name}`,
    algorithm: 'round_robin',
    retries: 0,
    ...(selector === null ? {} : { selector: { code: ONLY_B, ...selector } }),
  });
  for (const up of ups) await addNode(t, ids[name]!, up);
}

const version = async (t: TestGateway) => (await t.admin('GET', '/admin/config/version')).body.version as number;
const status = async (t: TestGateway) => (await (await fetch(`${t.statusUrl}/status`)).json()) as any;

/** Waits (at most 10 s) until `check` holds. */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  ups = await startUpstreams(['a', 'b']);
  a = await startTestGateway(BUDGET);
  for (const name of ['s1', 's2', 's3']) await addApi(a, name, { memoryMb: 32 });
  await addApi(a, 'plain', null);
  await addApi(a, 'x', null);
});

afterAll(async () => {
  await b?.stop();
  await a?.stop();
  for (const up of ups) await up.close();
});

describe('the selector budget at the admin API', () => {
  it('refuses every save past it with 409 SELECTOR_BUDGET_EXCEEDED and stores nothing', async () => {
    const before = await version(a);

    // A fourth selector: set on an API, and with a new API.
    const put = await a.admin('PUT', `/admin/apis/${ids.x}/selector`, { code: ONLY_B, memoryMb: 8 });
    expect(put.status).toBe(409);
    expect(put.body.error.code).toBe('SELECTOR_BUDGET_EXCEEDED');
    expect(put.body.error.message).toMatch(/4 selectors .* 3 selectors \(--selector-max-programs\)/);
    const create = await a.admin('POST', '/admin/apis', {
      name: 'y',
      path: '/y',
      algorithm: 'round_robin',
      selector: { code: ONLY_B, memoryMb: 8 },
    });
    expect(create.status).toBe(409);
    expect(create.body.error.code).toBe('SELECTOR_BUDGET_EXCEEDED');
    // Three selectors, but more memory than the 100 MB: through PUT and through PATCH.
    for (const [method, path, body] of [
      ['PUT', `/admin/apis/${ids.s1}/selector`, { code: ONLY_B, memoryMb: 64 }],
      ['PATCH', `/admin/apis/${ids.s1}`, { selector: { code: ONLY_B, memoryMb: 64 } }],
    ] as const) {
      const res = await a.admin(method, path, body);
      expect({ method, status: res.status, code: res.body.error?.code }).toEqual({
        method,
        status: 409,
        code: 'SELECTOR_BUDGET_EXCEEDED',
      });
    }

    // A config file that adds a selector: over the admin API (a dry run too), and from the command line.
    const file = (await a.admin('GET', '/admin/config/export')).body;
    file.apis.find((api: { name: string }) => api.name === 'x').selector = { code: ONLY_B, memoryMb: 8 };
    for (const query of ['', '?dryRun=true']) {
      const res = await a.admin('POST', `/admin/config/apply${query}`, file);
      expect({ query, status: res.status, code: res.body.error?.code }).toEqual({
        query,
        status: 409,
        code: 'SELECTOR_BUDGET_EXCEEDED',
      });
    }
    const cli = await configCli(['apply', '-', '--data-dir', a.dataDir, ...BUDGET], JSON.stringify(file));
    expect(cli.code).toBe(1);
    expect(cli.err).toMatch(/was not applied \(SELECTOR_BUDGET_EXCEEDED\)/);

    // Nothing was stored: no config version, no selector, no history, no API y, s1 as it was.
    expect(await version(a)).toBe(before);
    const x = (await a.admin('GET', `/admin/apis/${ids.x}/selector`)).body;
    expect(x.selector).toBeNull();
    expect(x.versions).toEqual([]);
    expect((await a.admin('GET', '/admin/apis')).body.map((api: { name: string }) => api.name).sort()).toEqual([
      'plain',
      's1',
      's2',
      's3',
      'x',
    ]);
    expect((await a.admin('GET', `/admin/apis/${ids.s1}`)).body.selector.memoryMb).toBe(32);

    // Every API serves as before: the selectors send everything to b.
    expect(await spread(a, '/s1', 4)).toEqual({ b: 4 });
    expect(await spread(a, '/s3', 4)).toEqual({ b: 4 });
    expect(await spread(a, '/x', 4)).toEqual({ a: 2, b: 2 });
  });

  it('takes a save once room is made, and never refuses one that adds nothing', async () => {
    expect((await a.admin('DELETE', `/admin/apis/${ids.s3}/selector`)).status).toBe(204);
    const put = await a.admin('PUT', `/admin/apis/${ids.x}/selector`, { code: ONLY_B, memoryMb: 8 });
    expect(put.status).toBe(200);
    expect(await spread(a, '/x', 4)).toEqual({ b: 4 });
    expect(await spread(a, '/s3', 4)).toEqual({ a: 2, b: 2 });
    // Full again (3 selectors, 72 MB): a new version of one of them with no more memory still saves.
    const again = await a.admin('PUT', `/admin/apis/${ids.s2}/selector`, { code: `${ONLY_B}\n// v2`, memoryMb: 32 });
    expect(again.status).toBe(200);
  });
});

describe('a stored config past this process’s budget', () => {
  it('leaves the newest selector out: its API answers SELECTOR_OVER_BUDGET and says why; the others route right', async () => {
    // Another process, with a larger budget, stores a fourth selector (a new API, the newest).
    b = await startTestGateway([
      '--data-dir',
      a.dataDir,
      '--selector-max-programs',
      '10',
      '--selector-memory-mb',
      '1000',
    ]);
    await addApi(b, 'z', { memoryMb: 8 });
    expect(await spread(b, '/z', 2)).toEqual({ b: 2 });

    const zStatus = async () => (await a.admin('GET', `/admin/apis/${ids.z}/selector`)).body.status;
    await until(async () => (await zStatus())?.state === 'over-budget');
    expect((await zStatus()).notStarted).toMatch(/at most 3 selectors \(--selector-max-programs\)/);

    const res = await a.get('/z');
    expect(res.status).toBe(503);
    expect(res.headers.get('x-isogate-error')).toBe('SELECTOR_OVER_BUDGET');
    expect((await res.json()).error.code).toBe('SELECTOR_OVER_BUDGET');
    // Every other API, with or without a selector, keeps routing as before.
    expect(await spread(a, '/s1', 4)).toEqual({ b: 4 });
    expect(await spread(a, '/x', 4)).toEqual({ b: 4 });
    expect(await spread(a, '/plain', 4)).toEqual({ a: 2, b: 2 });

    const listed = (await a.admin('GET', '/admin/apis')).body.find((api: { name: string }) => api.name === 'z');
    expect(listed.selectorState).toBe('over-budget');
    expect(listed.availability).toMatchObject({ state: 'down', reason: 'selector-over-budget' });
    const explained = await a.admin('POST', `/admin/apis/${ids.z}/selector/test`, {});
    expect(explained.body.errorCode).toBe('SELECTOR_OVER_BUDGET');

    const s = await status(a);
    expect(s.selectors).toEqual({
      budget: { programs: 3, memoryMb: 100 },
      started: { programs: 3, memoryMb: 72 },
      notStarted: 1,
      notStartedApis: ['z'],
    });
    expect(s.degraded).toBe(true);
    const m = await scrape(`${a.statusUrl}/metrics`);
    expect(m.sum('isogate_selector_over_budget', { api: 'z' })).toBe(1);
    expect(m.sum('isogate_selector_over_budget', { api: 's1' })).toBe(0);
    expect(m.sum('isogate_gateway_errors_total', { api: 'z', code: 'SELECTOR_OVER_BUDGET' })).toBe(1);

    // A save that adds nothing goes through even now; one that adds is refused.
    expect(
      (await a.admin('PUT', `/admin/apis/${ids.z}/selector`, { code: `${ONLY_B}\n// v2`, memoryMb: 8 })).status,
    ).toBe(200);
    expect((await a.admin('PUT', `/admin/apis/${ids.z}/selector`, { code: ONLY_B, memoryMb: 64 })).status).toBe(409);
    expect(await a.nodeOf('/z')).toBe('error:SELECTOR_OVER_BUDGET');
  });

  it('starts the selector left out once the config fits again', async () => {
    expect((await a.admin('DELETE', `/admin/apis/${ids.s1}/selector`)).status).toBe(204);
    expect(await spread(a, '/z', 4)).toEqual({ b: 4 });
    expect(await spread(a, '/s1', 4)).toEqual({ a: 2, b: 2 });
    expect((await a.admin('GET', `/admin/apis/${ids.z}/selector`)).body.status.state).toBe('active');
    const s = await status(a);
    expect(s.selectors).toMatchObject({ started: { programs: 3, memoryMb: 48 }, notStarted: 0, notStartedApis: [] });
    expect(s.degraded).toBe(false);
  });
});
