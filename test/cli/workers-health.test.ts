import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsogateProcesses } from '../helpers/cluster.js';
import { adminClient, requestOnce, until } from '../helpers/processes.js';
import { closedPort } from '../helpers/upstreams.js';
import { FlakyUpstream, startFlaky } from '../health/flaky-upstream.js';

// Health with `--workers 2`: each worker probes and ejects on its own; the primary's admin API asks
// both and merges (the worst state wins, with the count of workers seeing each state). An `admin`
// process on the same store serves no traffic and says it has no health view.
const TOKEN = 'workers-health-token-0123456789';
const procs = new IsogateProcesses(TOKEN);
let ups: FlakyUpstream[];
let gw = 0;
let admin = 0;
let adminOnly = 0;
const adminCall = adminClient(() => admin, TOKEN);
const adminOnlyCall = adminClient(() => adminOnly, TOKEN);

beforeAll(async () => {
  ups = await startFlaky(['ok', 'sick']);
  const start = await procs.start('start', ['--workers', '2', '--no-demo']);
  ({ gateway: gw, admin } = start);
  ({ admin: adminOnly } = await procs.start('admin', ['--no-demo'], { dataDir: start.dataDir }));
});

afterAll(async () => {
  await procs.stopAll();
  await Promise.all((ups ?? []).map((u) => u.stop()));
});

describe('health with --workers 2', () => {
  it("merges the workers' probes: a node both see failing is unhealthy, with both votes", async () => {
    ups[1]!.mode = 'fail503';
    const api = await adminCall('POST', '/admin/apis', {
      name: 'wh',
      path: '/wh',
      algorithm: 'round_robin',
      // A probe's timeout generous enough that a loaded machine does not fail the healthy node's probes.
      health: { active: { path: '/health', intervalMs: 400, timeoutMs: 400, unhealthyThreshold: 2 } },
    });
    for (const u of ups)
      await adminCall('POST', `/admin/apis/${api.id}/nodes`, {
        name: u.name,
        connector: { kind: 'simple-url', url: u.url },
      });
    const report = await until(
      () => adminCall('GET', `/admin/apis/${api.id}/health`),
      (r) => r.nodes?.[1]?.state === 'unhealthy' && r.nodes[1].workers.unhealthy === 2,
    );
    expect(report.source).toBe('workers');
    expect(report.nodes[0]).toMatchObject({
      name: 'ok',
      state: 'healthy',
      workers: { healthy: 2, unhealthy: 0, ejected: 0 },
    });
    expect(report.nodes[1].reason).toBe('2 probes failed in a row (last: HTTP 503)');
    const answers = await Promise.all(Array.from({ length: 20 }, () => requestOnce(gw, '/wh')));
    expect(new Set(answers)).toEqual(new Set(['ok']));
    // Each worker probes on its own: two probe loops.
    expect(ups[1]!.probes).toBeGreaterThanOrEqual(4);

    const explained = await adminCall('POST', `/admin/apis/${api.id}/selector/test`, {});
    expect(explained.steps.health.map((n: { name: string }) => n.name)).toEqual(['ok']);
    expect(explained.health).toEqual({ known: true, panic: false });
  });

  it('shows a passive ejection seen by any worker, with how many workers see it', async () => {
    const api = await adminCall('POST', '/admin/apis', {
      name: 'wp',
      path: '/wp',
      algorithm: 'round_robin',
      retries: 1,
      health: { passive: { consecutiveFailures: 1, baseEjectionMs: 60_000 } },
    });
    await adminCall('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'ok',
      connector: { kind: 'simple-url', url: ups[0]!.url },
    });
    await adminCall('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'dead',
      connector: { kind: 'simple-url', url: `http://127.0.0.1:${await closedPort()}` },
    });
    const answers = await Promise.all(Array.from({ length: 20 }, () => requestOnce(gw, '/wp')));
    expect(new Set(answers)).toEqual(new Set(['ok'])); // retried
    const report = await adminCall('GET', `/admin/apis/${api.id}/health`);
    const dead = report.nodes[1];
    expect(dead.state).toBe('ejected');
    expect(dead.workers.ejected).toBeGreaterThanOrEqual(1);
    expect(dead.workers.ejected + dead.workers.healthy).toBe(2);
    expect(dead.reason).toMatch(/^1 failed request in a row \(last: connect ECONNREFUSED\)$/);
  });

  it('an admin-only process has no health view and says so', async () => {
    const apis = await adminOnlyCall('GET', '/admin/apis');
    const wh = apis.find((a: { name: string }) => a.name === 'wh');
    const report = await adminOnlyCall('GET', `/admin/apis/${wh.id}/health`);
    expect(report.source).toBe('none');
    expect(report.nodes.map((n: { state: string }) => n.state)).toEqual(['unknown', 'unknown']);
    expect(report.nodes[0].reason).toMatch(/serves no traffic/);
    // The admin process picks up the other process's writes with its version poll.
    const explained = await until(
      () => adminOnlyCall('POST', `/admin/apis/${wh.id}/selector/test`, {}),
      (e) => e.health !== undefined,
    );
    expect(explained.health).toEqual({ known: false, panic: false });
    expect(explained.steps.health).toHaveLength(2);
  });

  it('the APIs list and a page of it read the selector state from both workers; the selector route sums their calls', async () => {
    const api = await adminCall('POST', '/admin/apis', {
      name: 'ws',
      path: '/ws',
      algorithm: 'round_robin',
      selector: { code: 'function select(r, e, n) { return n; }' },
    });
    await adminCall('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'ok',
      connector: { kind: 'simple-url', url: ups[0]!.url },
    });
    const answers = await Promise.all(Array.from({ length: 20 }, () => requestOnce(gw, '/ws')));
    expect(new Set(answers)).toEqual(new Set(['ok']));
    const all = await adminCall('GET', '/admin/apis');
    expect(all.map((a: { name: string; selectorState: string }) => [a.name, a.selectorState])).toEqual([
      ['wh', 'none'],
      ['wp', 'none'],
      ['ws', 'active'],
    ]);
    const page = await adminCall('GET', '/admin/apis?limit=1&after=wp');
    expect(page.next).toBeNull();
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({
      name: 'ws',
      selectorState: 'active',
      nodeCounts: { enabled: 1, total: 1 },
      availability: { state: 'ok', usable: 1 },
    });
    // Every call the two workers made, summed.
    const { status } = await adminCall('GET', `/admin/apis/${api.id}/selector`);
    expect(status).toMatchObject({ state: 'active', calls: 20, failures: 0 });
    // A process serving no traffic runs no selector.
    const other = await until(
      () => adminOnlyCall('GET', '/admin/apis?limit=10&after=wp'),
      (p) => p.items?.length === 1,
    );
    expect(other.items[0]).toMatchObject({ name: 'ws', selectorState: 'none' });
  });
});
