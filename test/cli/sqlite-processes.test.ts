import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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

describe('the SQLite file removed under a running start', () => {
  it('writes answer 503 STORE_UNAVAILABLE, /status says degraded with the reason, the gateway serves its last config', async () => {
    const p = await procs.start('start', ['--no-demo', '--workers', '0']);
    const own = adminClient(() => p.admin, TOKEN);
    const api = await own('POST', '/admin/apis', { name: 'kept', path: '/kept', algorithm: 'round_robin' });
    await own('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'a',
      connector: { kind: 'simple-url', url: ups[0]!.url },
    });
    expect(
      await until(
        () => requestOnce(p.gateway, '/kept'),
        (n) => n === 'a',
        100,
        50,
      ),
    ).toBe('a');
    for (const f of readdirSync(p.dataDir)) if (f.startsWith('isogate.db')) rmSync(join(p.dataDir, f));

    const res = await fetch(`http://127.0.0.1:${p.admin}/admin/variables/X`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: '1' }),
    });
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe('STORE_UNAVAILABLE');
    const status = await (await fetch(`http://127.0.0.1:${p.status}/status`)).json();
    expect(status.degraded).toBe(true);
    expect(status.store.lastError).toMatch(/isogate\.db was removed/);
    expect(await requestOnce(p.gateway, '/kept')).toBe('a');
    expect(existsSync(join(p.dataDir, 'isogate.db'))).toBe(false);
  });
});
