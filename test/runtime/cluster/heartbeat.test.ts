import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Heartbeat } from '../../../src/runtime/cluster/heartbeat.js';
import { openPostgresStore, type PostgresStore } from '../../../src/store/postgres/store.js';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema, waitFor } from '../../store/pg-fixtures.js';
import { startTcpProxy, urlTarget, viaProxy } from '../../store/tcp-proxy.js';

// The heartbeat of one process against a real PostgreSQL, reached through a TCP proxy the test can
// take down: beats never throw while the store is away, resume when it returns, and a clean stop
// removes the row.
beforeAll(requirePostgres);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup() {
  const schema = uniqueSchema();
  cleanups.push(() => dropSchema(schema));
  const proxy = await startTcpProxy(urlTarget(PG_URL));
  cleanups.push(() => proxy.close());
  const store = await openPostgresStore(viaProxy(PG_URL, proxy), { schema, connectTimeoutMs: 500 });
  cleanups.push(() => store.close());
  const observer = await openPostgresStore(PG_URL, { schema });
  cleanups.push(() => observer.close());
  return { proxy, store, observer };
}

function heartbeat(store: PostgresStore, version: () => number | null, pruneAfterMs?: number): Heartbeat {
  const hb = new Heartbeat({
    role: 'gateway',
    worker: null,
    serves: 'gateway',
    store,
    intervalMs: 100,
    version,
    log: pino({ level: 'silent' }),
    ...(pruneAfterMs === undefined ? {} : { pruneAfterMs }),
  });
  cleanups.push(() => hb.stop());
  return hb;
}

describe('Heartbeat', () => {
  it('keeps beating through a store outage without failing, and reports the latest version when it returns', async () => {
    const { proxy, store, observer } = await setup();
    let version = 3;
    const hb = heartbeat(store, () => version);
    hb.start();
    const row = async () => (await observer.listProcesses()).processes.find((p) => p.id === hb.id);
    await waitFor('the first beat', async () => (await row())?.configVersion === 3);

    await proxy.stop();
    version = 4;
    await new Promise((r) => setTimeout(r, 600));
    const during = await observer.listProcesses();
    const stale = during.processes.find((p) => p.id === hb.id)!;
    // Not seen for 3+ intervals: readers call it stale, and it still carries the old version.
    expect(Date.parse(during.now) - Date.parse(stale.lastSeen)).toBeGreaterThan(300);
    expect(stale.configVersion).toBe(3);

    await proxy.start();
    await waitFor('beats to resume with version 4', async () => (await row())?.configVersion === 4, 5_000);
    const after = await observer.listProcesses();
    expect(Date.parse(after.now) - Date.parse(after.processes.find((p) => p.id === hb.id)!.lastSeen)).toBeLessThan(300);
  });

  it('reports a new applied version at once rather than at the next interval', async () => {
    const { store, observer } = await setup();
    let version = 1;
    const hb = new Heartbeat({
      role: 'admin',
      worker: null,
      serves: 'admin',
      store,
      intervalMs: 60_000,
      version: () => version,
      log: pino({ level: 'silent' }),
    });
    cleanups.push(() => hb.stop());
    hb.start();
    const row = async () => (await observer.listProcesses()).processes.find((p) => p.id === hb.id);
    await waitFor('the first beat', async () => (await row())?.configVersion === 1);
    version = 2;
    await waitFor('version 2 without waiting a minute', async () => (await row())?.configVersion === 2, 2_000);
  });

  it('removes its row on stop, prunes long-dead rows, and stops in bounded time while the store is down', async () => {
    const { proxy, store, observer } = await setup();
    await observer.heartbeat({
      id: 'dead',
      host: 'h',
      pid: 7,
      role: 'gateway',
      worker: null,
      serves: 'gateway',
      startedAt: new Date().toISOString(),
      configVersion: 0,
      heartbeatMs: 50,
    });
    await new Promise((r) => setTimeout(r, 100));
    const hb = heartbeat(store, () => 0, 50);
    hb.start();
    await waitFor('the dead row pruned and ours present', async () => {
      const ids = (await observer.listProcesses()).processes.map((p) => p.id);
      return ids.length === 1 && ids[0] === hb.id;
    });
    await hb.stop();
    expect((await observer.listProcesses()).processes).toEqual([]);

    const second = heartbeat(store, () => 0);
    second.start();
    await waitFor('the second row', async () => (await observer.listProcesses()).processes.length === 1);
    await proxy.stop();
    const started = Date.now();
    await second.stop();
    expect(Date.now() - started).toBeLessThan(3_000);
    // It could not remove its row: the row is left to go stale.
    expect((await observer.listProcesses()).processes.map((p) => p.id)).toEqual([second.id]);
  });
});
