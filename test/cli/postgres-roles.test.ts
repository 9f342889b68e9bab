import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema } from '../store/pg-fixtures.js';
import { createFlipApi, IsogateProcesses, withSchema } from '../helpers/cluster.js';
import { adminClient, requestOnce, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// Two machines' worth of processes on one PostgreSQL: `isogate admin` (control plane) and
// `isogate gateway --workers 2` (data plane); a write through the admin reaches both workers via
// LISTEN/NOTIFY, without any IPC between the two commands.
const TOKEN = 'pg-roles-token-0123456789ab';
const schema = uniqueSchema();
const procs = new IsogateProcesses(TOKEN);
let ups: TestUpstream[];
let gw = 0;
let admin = 0;
let status = 0;
const adminCall = adminClient(() => admin, TOKEN);
const once = (path: string) => requestOnce(gw, path);

beforeAll(async () => {
  await requirePostgres();
  ups = await startUpstreams(['ip1', 'ip2']);
  // The poll is a minute, so only a notification can bring a change fast.
  const common = ['--store', withSchema(PG_URL, schema), '--poll-ms', '60000'];
  ({ admin } = await procs.start('admin', common));
  ({ gateway: gw, status } = await procs.start('gateway', [...common, '--workers', '2']));
});

afterAll(async () => {
  await procs.stopAll();
  await Promise.all((ups ?? []).map((u) => u.close()));
  await dropSchema(schema);
});

describe('isogate admin + isogate gateway on PostgreSQL', () => {
  it('an IP1_enable flip made through the admin process reaches every gateway worker', async () => {
    await createFlipApi(adminCall, 'pg', ups);
    // The poll is set to a minute, so only the notification can bring the change this fast.
    await until(
      () => Promise.all(Array.from({ length: 10 }, () => once('/pg'))),
      (a) => new Set(a).size === 2,
      200,
      25,
    );

    const { version } = await adminCall('PUT', '/admin/variables/IP1_enable', { value: 'false' }).then(() =>
      adminCall('GET', '/admin/config/version'),
    );
    const served = await until(
      () => fetch(`http://127.0.0.1:${status}/status`).then((r) => r.json()),
      (d: any) => d.workers.every((w: { version: number }) => w.version === version),
      200,
      25,
    );
    expect(served.workers).toHaveLength(2);
    const answers = await Promise.all(Array.from({ length: 20 }, () => once('/pg')));
    expect(answers.every((n) => n === 'ip2')).toBe(true);
  });
});
