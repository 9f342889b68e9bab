import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/store.js';
import {
  createFlipApi,
  getJson,
  IsogateProcesses,
  startLoad,
  withSchema,
  type IsogateProcess,
} from '../helpers/cluster.js';
import { adminClient, requestOnce, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema } from '../store/pg-fixtures.js';
import { startTcpProxy, urlTarget, viaProxy, type TcpProxy } from '../store/tcp-proxy.js';

// PostgreSQL taken away under load, twice: refused (the server is gone) and blackholed (a silent
// network cut). The admin and two gateways (one in-process, one with a worker) reach PostgreSQL
// through a TCP proxy the test controls; the machine's PostgreSQL itself keeps running.
const TOKEN = 'cluster-outage-token-0123456789';
const schema = uniqueSchema();
const procs = new IsogateProcesses(TOKEN);
let ups: TestUpstream[];
let proxy: TcpProxy;
let direct: PostgresStore;
let admin: IsogateProcess;
let gateways: IsogateProcess[];
const call = adminClient(() => admin.admin, TOKEN);

beforeAll(async () => {
  await requirePostgres();
  ups = await startUpstreams(['ip1', 'ip2']);
  proxy = await startTcpProxy(urlTarget(PG_URL));
  const url = withSchema(viaProxy(PG_URL, proxy), schema);
  const common = ['--store', url, '--store-timeout-ms', '1000', '--poll-ms', '200', '--heartbeat-ms', '300'];
  admin = await procs.start('admin', common);
  direct = await openPostgresStore(PG_URL, { schema });
  await createFlipApi(call, 'out', ups);
  gateways = await Promise.all([
    procs.start('gateway', [...common, '--workers', '0']),
    procs.start('gateway', [...common, '--workers', '1']),
  ]);
}, 120_000);

afterAll(async () => {
  await procs.stopAll();
  await direct?.close();
  await proxy?.close();
  await Promise.all((ups ?? []).map((u) => u.close()));
  await dropSchema(schema);
});

const statuses = () => Promise.all(gateways.map((g) => getJson(g.status, '/status')));
const degraded = async () => (await statuses()).map((s) => s.body.degraded as boolean);
/** Every gateway serves `version` and its requests show IP1_enable = `ip1`. */
async function allServe(version: number, ip1: boolean): Promise<void> {
  await until(statuses, (all) => all.every((s) => s.body.version === version), 200, 25);
  const answers = await Promise.all(
    gateways.flatMap((g) => Array.from({ length: 6 }, () => requestOnce(g.gateway, '/out'))),
  );
  expect(new Set(answers)).toEqual(ip1 ? new Set(['ip1', 'ip2']) : new Set(['ip2']));
}

describe('PostgreSQL away under load', () => {
  it('serves every request while it is refused or blackholed, reports degraded on a 200 /status, answers admin writes 503, and catches up', async () => {
    const loads = gateways.map((g) => startLoad(g.gateway, '/out', { clients: 2, maxMs: 60_000, pauseMs: 2 }));
    try {
      for (const cut of ['refused', 'blackholed'] as const) {
        if (cut === 'refused') await proxy.stop();
        else proxy.blackhole();
        await until(degraded, (d) => d.every(Boolean), 200, 50);
        const during = await statuses();
        expect(during.map((s) => s.status)).toEqual([200, 200]);
        expect(
          during.every((s) => s.body.store.connected === false && typeof s.body.store.lastError === 'string'),
        ).toBe(true);
        expect((await fetch(`http://127.0.0.1:${gateways[0]!.status}/status/ready`)).status).toBe(200);

        const started = Date.now();
        const res = await fetch(`http://127.0.0.1:${admin.admin}/admin/variables/IP1_enable`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ value: 'false' }),
        });
        expect(res.status).toBe(503);
        expect((await res.json()).error.code).toBe('STORE_UNAVAILABLE');
        expect(Date.now() - started).toBeLessThan(5_000);

        // Written by another admin that still reaches PostgreSQL: the gateways must pick it up on return.
        await direct.putVariable('IP1_enable', 'false');
        await new Promise((r) => setTimeout(r, 1_000));
        if (cut === 'refused') await proxy.start();
        else proxy.restore();
        await until(degraded, (d) => d.every((x) => !x), 300, 50);
        await allServe(await direct.version(), false);

        // And a change made through the admin after the return reaches all of them too.
        await call('PUT', '/admin/variables/IP1_enable', { value: 'true' });
        await allServe(await direct.version(), true);
      }
    } finally {
      const answers = (await Promise.all(loads.map((l) => l.stop()))).flat();
      const failed = answers.filter((a) => !a.ok);
      console.log(`store outage: ${answers.length} requests through two gateways, ${failed.length} failed`);
      if (failed.length > 0)
        for (const g of gateways) console.log(`gateway :${g.gateway} stderr:\n${g.stderr().slice(-4000)}`);
      expect(failed.slice(0, 5)).toEqual([]);
      expect(answers.length).toBeGreaterThan(100);
    }
  }, 90_000);
});
