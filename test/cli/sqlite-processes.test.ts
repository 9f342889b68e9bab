import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsogateProcesses, type IsogateProcess } from '../helpers/cluster.js';
import { adminClient, requestOnce, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// `isogate admin` and `isogate gateway` on one SQLite data dir: a write made through the admin
// reaches the gateway's workers through the database file at once. The version poll is set to a
// minute, so only the file watch can carry it within the wait below.
const TOKEN = 'sqlite-processes-token-0123456789';
const procs = new IsogateProcesses(TOKEN);
let admin: IsogateProcess;
let gateway: IsogateProcess;
let ups: TestUpstream[];
const call = adminClient(() => admin.admin, TOKEN);

beforeAll(async () => {
  ups = await startUpstreams(['a']);
  admin = await procs.start('admin', ['--poll-ms', '60000']);
  gateway = await procs.start('gateway', ['--poll-ms', '60000', '--workers', '2'], { dataDir: admin.dataDir });
}, 60_000);

afterAll(async () => {
  await procs.stopAll();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

describe('two processes on one SQLite file', () => {
  it('the gateway serves a new API, a flip and a flip back soon after the admin answers, long before its poll', async () => {
    await call('PUT', '/admin/variables/IP1_enable', { value: 'true' });
    const api = await call('POST', '/admin/apis', { name: 'watched', path: '/watched', algorithm: 'round_robin' });
    await call('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'a',
      connector: { kind: 'simple-url', url: ups[0]!.url },
      rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }],
    });
    const answer = () => requestOnce(gateway.gateway, '/watched');
    // Each wait is bounded to 5 s, a twelfth of the poll interval; a miss fails here instead of waiting for the poll.
    expect(await until(answer, (n) => n === 'a', 100, 50)).toBe('a');
    await call('PUT', '/admin/variables/IP1_enable', { value: 'false' });
    expect(await until(answer, (n) => n === 'RULES_EXCLUDED_ALL', 100, 50)).toBe('RULES_EXCLUDED_ALL');
    await call('PUT', '/admin/variables/IP1_enable', { value: 'true' });
    expect(await until(answer, (n) => n === 'a', 100, 50)).toBe('a');
  });
});
