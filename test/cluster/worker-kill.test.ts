import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectionOwner,
  getJson,
  IsogateProcesses,
  startLoad,
  withSchema,
  type IsogateProcess,
} from '../helpers/cluster.js';
import { adminClient, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema } from '../store/pg-fixtures.js';

// `isogate gateway --workers 3` on PostgreSQL under load from keep-alive clients, each on its own
// connection; one worker is SIGKILLed. Which worker holds each connection is read from /proc (the
// server side's socket inode and the process whose fd points at it), so a failure can be told apart:
// only requests on the killed worker's connections may fail, once each.
const TOKEN = 'cluster-workers-token-0123456789';
const schema = uniqueSchema();
const procs = new IsogateProcesses(TOKEN);
let ups: TestUpstream[];
let admin: IsogateProcess;
let gateway: IsogateProcess;
const call = adminClient(() => admin.admin, TOKEN);

beforeAll(async () => {
  await requirePostgres();
  ups = await startUpstreams(['a', 'b']);
  const url = withSchema(PG_URL, schema);
  admin = await procs.start('admin', ['--store', url, '--heartbeat-ms', '300']);
  const api = await call('POST', '/admin/apis', { name: 'w', path: '/w', algorithm: 'round_robin' });
  for (const u of ups)
    await call('POST', `/admin/apis/${api.id}/nodes`, { name: u.name, connector: { kind: 'simple-url', url: u.url } });
  gateway = await procs.start('gateway', ['--store', url, '--workers', '3', '--heartbeat-ms', '300']);
}, 120_000);

afterAll(async () => {
  await procs.stopAll();
  await Promise.all((ups ?? []).map((u) => u.close()));
  await dropSchema(schema);
});

const workers = async () =>
  (await getJson(gateway.status, '/status')).body.workers as Array<{ pid: number; ready: boolean; restarts: number }>;

describe('a gateway worker killed under load', () => {
  it('is restarted at once, and no request on another worker fails', async () => {
    const before = (await workers()).map((w) => w.pid);
    expect(before).toHaveLength(3);
    const load = startLoad(gateway.gateway, '/w', { clients: 12, maxMs: 30_000, pauseMs: 1, reconnectEvery: 20 });
    try {
      // Each client's connection and the worker holding it. The kernel spreads accepts unevenly, so
      // clients reconnect now and then until their connections sit on at least two workers; then
      // they hold them, and the map is read from requests sent after that.
      let owners = new Map<number, number | null>();
      await until(
        async () => {
          load.hold(true);
          const heldAt = Date.now();
          await until(
            async () => new Set(load.answers.filter((a) => a.at > heldAt + 20).map((a) => a.client)).size,
            (n) => n === 12,
            200,
            25,
          );
          const latest = new Map<number, number>();
          for (const a of load.answers) if (a.localPort !== null) latest.set(a.client, a.localPort);
          owners = new Map([...latest.values()].map((port) => [port, connectionOwner(gateway.gateway, port, before)]));
          const distinct = new Set(owners.values()).size;
          if (distinct < 2) load.hold(false);
          return distinct;
        },
        (distinct) => distinct >= 2,
        40,
        200,
      );
      // Kill the worker of the first client's connection: at least one connection is on it, and one elsewhere.
      const firstPort = [...load.answers].reverse().find((a) => a.client === 0 && a.localPort !== null)!.localPort!;
      const victim = owners.get(firstPort)!;
      expect(before).toContain(victim);
      const onVictim = new Set([...owners].filter(([, pid]) => pid === victim).map(([port]) => port));
      const killedAt = Date.now();
      process.kill(victim, 'SIGKILL');

      const replaced = await until(
        workers,
        (ws) => ws.every((w) => w.ready && w.pid !== null && w.pid !== victim),
        200,
        25,
      );
      console.log(`worker ${victim} killed; all 3 workers ready again after ${Date.now() - killedAt} ms`);
      // Restarts are counted per worker slot: the victim's slot, and only it.
      expect(replaced.map((w) => w.restarts)).toEqual(before.map((pid) => (pid === victim ? 1 : 0)));
      await new Promise((r) => setTimeout(r, 500));
      const answers = await load.stop();

      const failed = answers.filter((a) => !a.ok);
      const elsewhere = failed.filter((a) => a.localPort === null || !onVictim.has(a.localPort));
      console.log(
        `${answers.length} requests, ${onVictim.size} of 12 connections on the killed worker, ${failed.length} failed (all on it: ${elsewhere.length === 0})`,
      );
      expect(elsewhere).toEqual([]);
      // At most the request in flight on each of the killed worker's connections.
      expect(failed.length).toBeLessThanOrEqual(onVictim.size);
      // Every client carried on, on a new connection where it had to.
      for (let c = 0; c < 12; c++) expect(answers.some((a) => a.client === c && a.ok && a.at > killedAt)).toBe(true);
    } finally {
      await load.stop();
    }
  });

  it('the cluster view drops the killed worker and lists the new one, alive', async () => {
    const pids = (await workers()).map((w) => w.pid);
    const view = await until(
      () => getJson(admin.admin, '/admin/cluster', TOKEN).then((r) => r.body),
      (b) =>
        b.processes
          .filter((p: { role: string }) => p.role === 'gateway')
          .map((p: { pid: number }) => p.pid)
          .sort()
          .join() === [...pids].sort().join(),
      100,
      50,
    );
    const rows = view.processes.filter((p: { role: string }) => p.role === 'gateway');
    expect(rows.map((p: { worker: number }) => p.worker).sort()).toEqual([1, 2, 3]);
    expect(rows.every((p: { state: string; serves: string }) => p.state === 'alive' && p.serves === 'gateway')).toBe(
      true,
    );
  });
});
