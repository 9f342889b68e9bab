import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrape } from '../helpers/metrics.js';
import { IsogateProcesses } from '../helpers/cluster.js';
import { adminClient, requestOnce } from '../helpers/processes.js';
import { closedPort, startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// `isogate start --workers 2`: the primary serves /metrics by asking both workers for their
// registries and merging them (counters and histograms summed, gauges by their own rule).
const TOKEN = 'metrics-workers-token-0123456789';
const procs = new IsogateProcesses(TOKEN);
let ups: TestUpstream[];
let gw = 0;
let admin = 0;
let status = 0;
const adminCall = adminClient(() => admin, TOKEN);
const metrics = () => scrape(`http://127.0.0.1:${status}/metrics`);

beforeAll(async () => {
  ups = await startUpstreams(['a', 'b']);
  ({ gateway: gw, admin, status } = await procs.start('start', ['--workers', '2', '--no-demo']));
});

afterAll(async () => {
  await procs.stopAll();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

describe('GET /metrics with --workers 2', () => {
  it('sums both workers: requests by node and class, connect failures and retries, and reports two gateway processes', async () => {
    const api = await adminCall('POST', '/admin/apis', {
      name: 'mw',
      path: '/mw',
      algorithm: 'round_robin',
      retries: 2,
    });
    await adminCall('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'a',
      connector: { kind: 'simple-url', url: ups[0]!.url },
    });
    await adminCall('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'b',
      connector: { kind: 'simple-url', url: ups[1]!.url },
    });
    await adminCall('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'dead',
      connector: { kind: 'simple-url', url: `http://127.0.0.1:${await closedPort()}` },
    });
    const before = { a: ups[0]!.hits, b: ups[1]!.hits };

    // Fresh connections, several at a time, so both workers take some.
    const answers: string[] = [];
    for (let i = 0; i < 6; i++)
      answers.push(...(await Promise.all(Array.from({ length: 10 }, () => requestOnce(gw, '/mw')))));
    expect(answers.every((n) => n === 'a' || n === 'b')).toBe(true);

    const m = await metrics();
    expect(m.sum('isogate_gateway_processes')).toBe(2);
    expect(m.sum('isogate_requests_total', { api: 'mw', class: '2xx' })).toBe(60);
    expect(m.sum('isogate_requests_total', { api: 'mw', node: 'a' })).toBe(ups[0]!.hits - before.a);
    expect(m.sum('isogate_requests_total', { api: 'mw', node: 'b' })).toBe(ups[1]!.hits - before.b);
    expect(m.sum('isogate_request_duration_seconds_count', { api: 'mw' })).toBe(60);
    const failures = m.sum('isogate_upstream_connect_failures_total', { api: 'mw', node: 'dead' });
    expect(failures).toBeGreaterThan(0);
    expect(m.sum('isogate_upstream_retries_total', { api: 'mw', reason: 'connect' })).toBe(failures);
    // The primary's process metrics are in the sum too: three processes' memory.
    expect(m.sum('process_resident_memory_bytes')).toBeGreaterThan(3 * 10_000_000);
  });

  it('the config version gauge is the version both workers serve after an admin write', async () => {
    const version = (await adminCall('GET', '/admin/config/version')).version as number;
    expect((await metrics()).sum('isogate_config_version')).toBe(version);
    await adminCall('PUT', '/admin/variables/MW_flag', { value: 'on' });
    expect((await metrics()).sum('isogate_config_version')).toBe(version + 1);
  });
});

describe('GET /metrics when a worker dies', () => {
  it('keeps the summed counters of a worker killed and forked again: the sums never go back', async () => {
    const statusOf = async () =>
      (await (await fetch(`http://127.0.0.1:${status}/status`)).json()) as {
        workers: Array<{ pid: number | null; ready: boolean }>;
      };
    const before = (await metrics()).sum('isogate_requests_total', { api: 'mw' });
    expect(before).toBeGreaterThanOrEqual(60);
    const victim = (await statusOf()).workers[0]!.pid!;
    process.kill(victim, 'SIGKILL');
    // Bounded wait for the fork that takes its place.
    for (let i = 0; i < 100; i++) {
      const w = (await statusOf()).workers;
      if (w.every((x) => x.ready && x.pid !== null && x.pid !== victim)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await statusOf()).workers.every((x) => x.ready && x.pid !== victim)).toBe(true);
    expect((await metrics()).sum('isogate_requests_total', { api: 'mw' })).toBe(before);
    for (let i = 0; i < 10; i++) expect(await requestOnce(gw, '/mw')).toMatch(/^[ab]$/);
    expect((await metrics()).sum('isogate_requests_total', { api: 'mw' })).toBe(before + 10);
  });
});
