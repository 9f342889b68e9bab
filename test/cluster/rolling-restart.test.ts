import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, IsogateProcesses, startLoad, withSchema, type IsogateProcess } from '../helpers/cluster.js';
import { adminClient, freePort, requestOnce, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema } from '../store/pg-fixtures.js';

// A rolling restart behind a real nginx, with the nginx config docs/operations.md shows (deploy/), only its
// addresses changed: two `isogate gateway` processes on PostgreSQL, each restarted in turn
// (SIGTERM, --drain-wait-ms, start again on the same ports) while GET and POST load runs through
// nginx. No request may fail.
const NGINX = '/usr/sbin/nginx';
const root = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'cluster-rolling-token-0123456789';
const schema = uniqueSchema();
const url = withSchema(PG_URL, schema);
const procs = new IsogateProcesses(TOKEN);
const gatewayArgs = [
  '--store',
  url,
  '--workers',
  '1',
  '--drain-wait-ms',
  '1500',
  '--drain-ms',
  '5000',
  '--heartbeat-ms',
  '500',
];
let ups: TestUpstream[];
let admin: IsogateProcess;
const gateways: IsogateProcess[] = [];
let nginx: ChildProcess | null = null;
let nginxDir = '';
let nginxPort = 0;
const call = adminClient(() => admin.admin, TOKEN);

/** The documented nginx config with the two gateways and the listen address of this test. */
function nginxSnippet(gw1: number, gw2: number, port: number): string {
  const text = readFileSync(join(root, 'deploy', 'nginx-isogate.conf'), 'utf8');
  const swapped = text
    .replace('10.0.0.11:8080', `127.0.0.1:${gw1}`)
    .replace('10.0.0.12:8080', `127.0.0.1:${gw2}`)
    .replace(/listen 80;/, `listen 127.0.0.1:${port};`);
  expect(swapped).not.toMatch(/10\.0\.0\.|listen 80;/);
  return swapped;
}

beforeAll(async () => {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: apt-get install nginx`);
  await requirePostgres();
  ups = await startUpstreams(['a', 'b']);
  admin = await procs.start('admin', ['--store', url]);
  const api = await call('POST', '/admin/apis', { name: 'roll', path: '/roll', algorithm: 'round_robin' });
  for (const u of ups)
    await call('POST', `/admin/apis/${api.id}/nodes`, { name: u.name, connector: { kind: 'simple-url', url: u.url } });
  gateways.push(...(await Promise.all([procs.start('gateway', gatewayArgs), procs.start('gateway', gatewayArgs)])));

  nginxDir = mkdtempSync(join(tmpdir(), 'isogate-nginx-'));
  nginxPort = await freePort();
  const conf = [
    `worker_processes 1; daemon off; pid ${nginxDir}/nginx.pid; error_log ${nginxDir}/error.log warn;`,
    'events { worker_connections 1024; }',
    'http {',
    `  access_log off; client_body_temp_path ${nginxDir}/t1; proxy_temp_path ${nginxDir}/t2; fastcgi_temp_path ${nginxDir}/t3; uwsgi_temp_path ${nginxDir}/t4; scgi_temp_path ${nginxDir}/t5;`,
    nginxSnippet(gateways[0]!.gateway, gateways[1]!.gateway, nginxPort),
    '}',
  ].join('\n');
  writeFileSync(join(nginxDir, 'nginx.conf'), conf);
  nginx = spawn(NGINX, ['-p', nginxDir, '-e', join(nginxDir, 'error.log'), '-c', join(nginxDir, 'nginx.conf')], {
    stdio: 'ignore',
  });
  await until(
    () => requestOnce(nginxPort, '/roll'),
    (n) => n === 'a' || n === 'b',
    200,
    25,
  );
}, 120_000);

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx!.once('exit', r));
    nginx.kill('SIGQUIT');
    await exited;
  }
  await procs.stopAll();
  await Promise.all((ups ?? []).map((u) => u.close()));
  await dropSchema(schema);
  if (nginxDir) rmSync(nginxDir, { recursive: true, force: true });
});

describe('rolling restart behind nginx', () => {
  it('runs the very config docs/operations.md shows', () => {
    const page = readFileSync(join(root, 'docs', 'operations.md'), 'utf8');
    expect(page).toContain('```nginx\n' + readFileSync(join(root, 'deploy', 'nginx-isogate.conf'), 'utf8') + '```');
  });

  it('restarts each gateway in turn without a failed request', async () => {
    const loads = [
      startLoad(nginxPort, '/roll', { clients: 6, maxMs: 60_000, pauseMs: 2 }),
      startLoad(nginxPort, '/roll', { clients: 2, maxMs: 60_000, pauseMs: 2, method: 'POST' }),
    ];
    const windows: Array<{ from: number; to: number }> = [];
    try {
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < gateways.length; i++) {
        const old = gateways[i]!;
        const from = Date.now();
        const stopping = old.stop('SIGTERM');
        // /status/ready turns 503 at once, while the gateway port still serves.
        await until(
          () => fetch(`http://127.0.0.1:${old.status}/status/ready`).then((r) => r.status),
          (s) => s === 503,
          40,
          25,
        );
        expect(await stopping).toBe(0);
        gateways[i] = await procs.start('gateway', gatewayArgs, {
          ports: { gateway: old.gateway, admin: old.admin, status: old.status },
        });
        windows.push({ from, to: Date.now() });
        // nginx tries a failed server again after fail_timeout (3 s): only then may the other one go.
        await new Promise((r) => setTimeout(r, 3_500));
        expect(
          (await getJson(gateways[i]!.status, '/status')).body.workers.every((w: { ready: boolean }) => w.ready),
        ).toBe(true);
      }
    } finally {
      const [gets, posts] = await Promise.all(loads.map((l) => l.stop()));
      const answers = [...gets!, ...posts!];
      const failed = answers.filter((a) => !a.ok);
      const during = answers.filter((a) => windows.some((w) => a.at >= w.from && a.at <= w.to));
      console.log(
        `rolling restart: ${answers.length} requests through nginx (${posts!.length} POST), ${during.length} while a gateway restarted, ${failed.length} failed`,
      );
      for (const f of failed) {
        const w = windows.find((x) => f.at >= x.from - 1_000 && f.at <= x.to + 5_000);
        console.log(`failed: ${f.outcome} ${w ? `${f.at - w.from} ms after SIGTERM` : 'outside a restart'}`);
      }
      if (failed.length > 0)
        console.log(
          readFileSync(join(nginxDir, 'error.log'), 'utf8')
            .split('\n')
            .filter((l) => /\[error\]/.test(l))
            .slice(-10)
            .join('\n'),
        );
      expect(failed.slice(0, 5)).toEqual([]);
      expect(during.length).toBeGreaterThan(100);
      expect(posts!.filter((a) => a.ok).length).toBeGreaterThan(20);
    }
  }, 90_000);
});
