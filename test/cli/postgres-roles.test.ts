import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema } from '../store/pg-fixtures.js';
import { adminClient, freePort, requestOnce, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// Two machines' worth of processes on one PostgreSQL: `isogate admin` (control plane) and
// `isogate gateway --workers 2` (data plane); a write through the admin reaches both workers via
// LISTEN/NOTIFY, without any IPC between the two commands.
const cli = join(fileURLToPath(new URL('../..', import.meta.url)), 'dist', 'src', 'cli.js');
const TOKEN = 'pg-roles-token-0123456789ab';
const schema = uniqueSchema();
const children: ChildProcess[] = [];
const dirs: string[] = [];
let ups: TestUpstream[];
let gw = 0;
let admin = 0;
let status = 0;
const adminCall = adminClient(() => admin, TOKEN);
const once = (path: string) => requestOnce(gw, path);

function start(args: string[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'isogate-pg-'));
  dirs.push(dir);
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
  children.push(
    spawn(process.execPath, ['--no-node-snapshot', cli, ...args, '--store', url, '--data-dir', dir, '--log-level', 'warn', '--poll-ms', '60000'], {
      env: { PATH: process.env.PATH, ISOGATE_ADMIN_TOKEN: TOKEN },
      stdio: 'ignore',
    }),
  );
}

beforeAll(async () => {
  await requirePostgres();
  ups = await startUpstreams(['ip1', 'ip2']);
  [gw, admin, status] = [await freePort(), await freePort(), await freePort()];
  start(['admin', '--admin-port', String(admin)]);
  await until(() => fetch(`http://127.0.0.1:${admin}/admin/config/version`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.status), (s) => s === 200, 200, 25);
  start(['gateway', '--workers', '2', '--gateway-host', '127.0.0.1', '--gateway-port', String(gw), '--status-host', '127.0.0.1', '--status-port', String(status)]);
  await until(() => fetch(`http://127.0.0.1:${status}/status/ready`).then((r) => r.status), (s) => s === 200, 200, 25);
});

afterAll(async () => {
  await Promise.all(
    children.map((c) => {
      if (c.exitCode !== null) return undefined;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      return exited;
    }),
  );
  await Promise.all((ups ?? []).map((u) => u.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await dropSchema(schema);
});

describe('isogate admin + isogate gateway on PostgreSQL', () => {
  it('an IP1_enable flip made through the admin process reaches every gateway worker', async () => {
    await adminCall('PUT', '/admin/variables/IP1_enable', { value: 'true' });
    const api = await adminCall('POST', '/admin/apis', { name: 'pg', path: '/pg', algorithm: 'round_robin' });
    await adminCall('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'ip1',
      connector: { kind: 'simple-url', url: ups[0]!.url },
      rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }],
    });
    await adminCall('POST', `/admin/apis/${api.id}/nodes`, { name: 'ip2', connector: { kind: 'simple-url', url: ups[1]!.url } });
    // The poll is set to a minute, so only the notification can bring the change this fast.
    await until(() => Promise.all(Array.from({ length: 10 }, () => once('/pg'))), (a) => new Set(a).size === 2, 200, 25);

    const { version } = await adminCall('PUT', '/admin/variables/IP1_enable', { value: 'false' }).then(() => adminCall('GET', '/admin/config/version'));
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
