import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsogateProcesses } from '../helpers/cluster.js';
import { adminClient, requestOnce, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// `isogate start --workers 2`: the primary runs the admin API and status port, two forked workers
// share the gateway port. Requests go on fresh connections so they spread over both workers.
const TOKEN = 'workers-test-token-0123456789';
const procs = new IsogateProcesses(TOKEN);
let ups: TestUpstream[];
let gw = 0;
let admin = 0;
let status = 0;
const adminCall = adminClient(() => admin, TOKEN);
const once = (path: string) => requestOnce(gw, path);

async function statusDetails(): Promise<any> {
  return (await fetch(`http://127.0.0.1:${status}/status`)).json();
}

beforeAll(async () => {
  ups = await startUpstreams(['a', 'b']);
  ({ gateway: gw, admin, status } = await procs.start('start', ['--workers', '2', '--no-demo']));
});

afterAll(async () => {
  await procs.stopAll();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

describe('isogate start --workers 2', () => {
  it('reports both workers in /status, serving the same config version', async () => {
    const details = await statusDetails();
    expect(details.workers).toHaveLength(2);
    expect(details.workers.every((w: { ready: boolean; pid: number }) => w.ready && w.pid > 0)).toBe(true);
  });

  it('an admin write is served by every worker from the next request on', async () => {
    const api = await adminCall('POST', '/admin/apis', { name: 'w', path: '/w', algorithm: 'round_robin' });
    await adminCall('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'a',
      connector: { kind: 'simple-url', url: ups[0]!.url },
    });
    const b = await adminCall('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'b',
      connector: { kind: 'simple-url', url: ups[1]!.url },
    });
    const before = await Promise.all(Array.from({ length: 20 }, () => once('/w')));
    expect(new Set(before)).toEqual(new Set(['a', 'b']));

    await adminCall('PATCH', `/admin/apis/${api.id}/nodes/${b.id}`, { enabled: false });
    const after = await Promise.all(Array.from({ length: 20 }, () => once('/w')));
    expect(after.every((n) => n === 'a')).toBe(true);
    const versions = (await statusDetails()).workers.map((w: { version: number }) => w.version);
    expect(new Set(versions).size).toBe(1);
  });

  it('a killed worker is replaced at once and requests keep being answered', async () => {
    const [first] = (await statusDetails()).workers as Array<{ pid: number }>;
    process.kill(first!.pid, 'SIGKILL');
    const answers = await Promise.all(Array.from({ length: 20 }, () => once('/w')));
    expect(answers.every((n) => n === 'a')).toBe(true);
    const replaced = await until(statusDetails, (d) =>
      d.workers.every((w: { ready: boolean; pid: number }) => w.ready && w.pid !== first!.pid),
    );
    expect(replaced.workers[0].restarts).toBeGreaterThanOrEqual(1);
    expect(await once('/w')).toBe('a');
  });
});
