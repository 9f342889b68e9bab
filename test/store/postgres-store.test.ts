import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/store.js';
import type { Store } from '../../src/store/store.js';
import { apiInput } from './fixtures.js';
import { dropSchema, PG_URL, requirePostgres, sql, uniqueSchema, waitFor } from './pg-fixtures.js';
import { describeAuditContract } from './audit-contract.js';
import { describeSecretsAuditContract } from './secrets-audit-contract.js';
import { describeSelectorBudgetContract } from './selector-budget-contract.js';
import { describeStoreContract, type StoreFixture } from './store-contract.js';
import { startTcpProxy, urlTarget, viaProxy } from './tcp-proxy.js';

/** Nothing listens on port 1 of the loopback: connections are refused at once. */
const CLOSED_URL = 'postgres://postgres@127.0.0.1:1/test';

beforeAll(requirePostgres);

/** A fresh store on its own new schema, dropped with everything in it afterwards. */
async function freshPostgres(): Promise<StoreFixture> {
  const schema = uniqueSchema();
  const opened: Store[] = [await openPostgresStore(PG_URL, { schema })];
  return {
    store: opened[0]!,
    async openAnother() {
      const store = await openPostgresStore(PG_URL, { schema });
      opened.push(store);
      return store;
    },
    async countRows(table, apiId) {
      const where = apiId === undefined ? '' : ' WHERE api_id = $1';
      const rows = await sql<{ n: string }>(
        `SELECT COUNT(*) AS n FROM ${table}${where}`,
        apiId === undefined ? [] : [apiId],
        schema,
      );
      return Number(rows[0]!.n);
    },
    async breakSelectorHistory() {
      await sql(
        "CREATE FUNCTION fail_history() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$",
        [],
        schema,
      );
      await sql(
        'CREATE TRIGGER fail_history BEFORE INSERT ON selector_versions FOR EACH ROW EXECUTE FUNCTION fail_history()',
        [],
        schema,
      );
    },
    async clearAudit() {
      await sql('DELETE FROM audit_log', [], schema);
    },
    async exec(statement) {
      await sql(statement, [], schema);
    },
    async dispose() {
      for (const store of opened) await store.close();
      await dropSchema(schema);
    },
  };
}

describeStoreContract('PostgresStore', { fresh: freshPostgres });
describeAuditContract('PostgresStore', { fresh: freshPostgres });
describeSecretsAuditContract('PostgresStore', { fresh: freshPostgres });
describeSelectorBudgetContract('PostgresStore', { fresh: freshPostgres });

describe('PostgresStore on a shared PostgreSQL', () => {
  // Run in reverse order: stores close before their schema is dropped.
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function schema(): string {
    const name = uniqueSchema();
    cleanups.push(() => dropSchema(name));
    return name;
  }

  async function open(schemaName: string, options: PostgresStoreOptions = {}, url = PG_URL): Promise<PostgresStore> {
    const store = await openPostgresStore(url, { schema: schemaName, ...options });
    cleanups.push(() => store.close());
    return store;
  }

  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  it('keeps its tables in its own schema and refuses schema names that would need quoting', async () => {
    const s = schema();
    await open(s);
    const tables = await sql<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
      [s],
    );
    expect(tables.map((t) => t.table_name)).toEqual([
      'admin_tokens',
      'apis',
      'audit_log',
      'certificates',
      'consumers',
      'idempotency_keys',
      'meta',
      'nodes',
      'processes',
      'schema_migrations',
      'selector_versions',
      'variables',
    ]);
    for (const bad of ['bad-name', 'x"; DROP TABLE apis; --', '1abc', '']) {
      await expect(openPostgresStore(PG_URL, { schema: bad })).rejects.toThrow(/invalid PostgreSQL schema name/);
    }
  });

  it('NOTIFYs "<schema>:<version>" on isogate_config when a write commits, and nothing for one that fails or changes nothing', async () => {
    const s = schema();
    const store = await open(s);
    const listener = new pg.Client({ connectionString: PG_URL });
    await listener.connect();
    cleanups.push(() => listener.end());
    const payloads: string[] = [];
    listener.on('notification', (msg) => {
      if (msg.channel === 'isogate_config' && msg.payload?.startsWith(`${s}:`)) payloads.push(msg.payload);
    });
    await listener.query('LISTEN isogate_config');

    await store.createApi(apiInput());
    await expect(store.createApi(apiInput({ path: '/other' }))).rejects.toMatchObject({ code: 'API_NAME_TAKEN' });
    expect(await store.updateApi('missing', (a) => a)).toBeNull();
    await store.putVariable('x', '1');
    await waitFor('the second notification', () => payloads.length >= 2);
    await sleep(100);
    expect(payloads).toEqual([`${s}:1`, `${s}:2`]);
  });

  it('watch reports every committed write from any store on its schema, and nothing from other schemas', async () => {
    const s = schema();
    const a = await open(s);
    const b = await open(s);
    const elsewhere = await open(schema());
    const seen: number[] = [];
    const stop = a.watch((v) => seen.push(v));

    // The version as of connecting comes first.
    await waitFor('the initial version', () => seen.length === 1);
    expect(seen).toEqual([0]);
    for (let i = 0; i < 3; i++) await elsewhere.putVariable(`v${i}`, 'x');
    await a.createApi(apiInput());
    await b.putVariable('x', '1');
    await waitFor('version 2', () => seen.includes(2));
    await sleep(100);
    expect(seen).toEqual([0, 1, 2]);
    expect(a.health()).toEqual({ connected: true, lastError: null });

    stop();
    await b.putVariable('x', '2');
    await sleep(200);
    expect(seen).toEqual([0, 1, 2]);
    expect(
      await sql('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [`isogate-listener:${s}`]),
    ).toEqual([]);
  });

  it('keeps reads answering while more writes than the pool holds wait for a long write', async () => {
    const s = schema();
    const store = await open(s, { poolSize: 3 });
    await store.putVariable('SEEN', 'yes');
    // Another process's long write holds the meta row; this process's writes queue behind it.
    const blocker = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${s}` });
    await blocker.connect();
    cleanups.push(() => blocker.end());
    await blocker.query('BEGIN');
    await blocker.query('SELECT config_version FROM meta WHERE id = 1 FOR UPDATE');
    const order: string[] = [];
    const writes = Array.from({ length: 8 }, (_, i) =>
      store.putVariable(`W${i}`, String(i)).then(() => order.push(`write ${i}`)),
    );
    // Five times the pool in writes wait, yet a read finds a connection (they wait for their turn, not on one each).
    const read = await store.listVariables();
    order.push('read');
    expect(read.map((v) => v.name)).toEqual(['SEEN']);
    await blocker.query('ROLLBACK');
    await Promise.all(writes);
    expect(order[0]).toBe('read');
    expect((await store.listVariables()).map((v) => v.name).sort()).toEqual([
      'SEEN',
      ...Array.from({ length: 8 }, (_, i) => `W${i}`),
    ]);
  });

  it('heartbeats neither notify watchers nor wait for a config writer holding the meta lock', async () => {
    const s = schema();
    const store = await open(s);
    const seen: number[] = [];
    const stop = store.watch((v) => seen.push(v));
    cleanups.push(async () => stop());
    await waitFor('the initial version', () => seen.includes(0));
    const beat = {
      id: 'gw',
      host: 'h',
      pid: 1,
      role: 'gateway',
      worker: null,
      serves: 'gateway',
      startedAt: new Date().toISOString(),
      configVersion: 0,
      heartbeatMs: 1000,
    } as const;
    for (let i = 0; i < 5; i++) await store.heartbeat({ ...beat, configVersion: i });
    await store.pruneProcesses(60_000);
    await store.removeProcess('gw');
    await sleep(200);
    expect(seen).toEqual([0]);

    // A config write in progress holds the meta row; a heartbeat must not queue behind it.
    const blocker = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${s}` });
    await blocker.connect();
    cleanups.push(() => blocker.end());
    await blocker.query('BEGIN');
    await blocker.query('SELECT config_version FROM meta WHERE id = 1 FOR UPDATE');
    const started = Date.now();
    await store.heartbeat(beat);
    expect(Date.now() - started).toBeLessThan(2_000);
    await blocker.query('ROLLBACK');
    expect((await store.listProcesses()).processes.map((p) => p.id)).toEqual(['gw']);
  });

  it('watch reconnects after the server kills its connection and reports the version written meanwhile', async () => {
    const s = schema();
    // A first retry no sooner than 320 ms leaves time to commit a write while the listener is down.
    const watched = await open(s, { reconnect: { initialMs: 400, maxMs: 1_000 } });
    const writer = await open(s);
    const seen: number[] = [];
    cleanups.push(async () => stop());
    const stop = watched.watch((v) => seen.push(v));
    await waitFor('the initial version', () => seen.includes(0));
    await writer.createApi(apiInput());
    await waitFor('version 1', () => seen.includes(1));

    const appName = `isogate-listener:${s}`;
    const before = await sql<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
      appName,
    ]);
    expect(before).toHaveLength(1);
    const killed = await sql<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [before[0]!.pid]);
    expect(killed).toEqual([{ ok: true }]);
    await waitFor('the listener to notice', () => !watched.health().connected);
    expect(watched.health().lastError).toMatch(/terminat/i);

    await writer.putVariable('written_while_down', 'yes');
    // Committed while nobody listened: only the catch-up read after reconnecting can report it.
    expect(watched.health().connected).toBe(false);
    await waitFor('version 2 after the reconnect', () => seen.includes(2));
    expect(watched.health()).toEqual({ connected: true, lastError: null });
    const after = await sql<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [appName]);
    expect(after).toHaveLength(1);
    expect(after[0]!.pid).not.toBe(before[0]!.pid);

    // Notifications flow again on the new connection.
    await writer.putVariable('after', 'yes');
    await waitFor('version 3', () => seen.includes(3));
  });

  it('answers StoreUnavailableError while PostgreSQL is gone, retries with backoff and catches up when it returns', async () => {
    const s = schema();
    const proxy = await startTcpProxy(urlTarget(PG_URL));
    cleanups.push(() => proxy.close());
    const gateway = await open(
      s,
      { reconnect: { initialMs: 50, maxMs: 200 }, connectTimeoutMs: 2_000 },
      viaProxy(PG_URL, proxy),
    );
    const writer = await open(s);
    const seen: number[] = [];
    const stop = gateway.watch((v) => seen.push(v));
    cleanups.push(async () => stop());
    await waitFor('the initial version', () => seen.includes(0));
    await gateway.createApi(apiInput());
    await waitFor('version 1', () => seen.includes(1));

    await proxy.stop();
    await waitFor('the listener to notice', () => !gateway.health().connected);
    // Several refused attempts pass while it is down; each keeps the health report current.
    await sleep(500);
    expect(gateway.health()).toEqual({ connected: false, lastError: expect.stringMatching(/ECONNREFUSED/) });
    const read = await gateway.listApis().catch((e: unknown) => e);
    expect(read).toBeInstanceOf(StoreUnavailableError);
    expect((read as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
    await expect(gateway.putVariable('lost', 'x')).rejects.toBeInstanceOf(StoreUnavailableError);

    await writer.putVariable('a', '1');
    await writer.putVariable('b', '2');
    await proxy.start();
    await waitFor('version 3 after PostgreSQL returns', () => seen.includes(3));
    expect(seen.filter((v) => v === 2)).toEqual([]);
    expect((await gateway.loadConfig()).variables.map((v) => v.name)).toEqual(['a', 'b']);
    expect(gateway.health()).toEqual({ connected: true, lastError: null });
  });

  it('survives PostgreSQL going away in the middle of a query: the call fails, the process does not', async () => {
    const s = schema();
    const proxy = await startTcpProxy(urlTarget(PG_URL));
    cleanups.push(() => proxy.close());
    const store = await open(s, { connectTimeoutMs: 500 }, viaProxy(PG_URL, proxy));
    expect(await store.version()).toBe(0);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    cleanups.push(async () => process.off('uncaughtException', onUncaught));
    // The query leaves but its answer never comes; then every socket is cut while it waits.
    proxy.blackhole();
    const pending = store.version().catch((e: unknown) => e);
    await sleep(100);
    await proxy.stop();
    expect(await pending).toBeInstanceOf(StoreUnavailableError);
    await sleep(50);
    expect(uncaught).toEqual([]);
    proxy.restore();
    await proxy.start();
    expect(await store.version()).toBe(0);
  });

  it('fails reads and writes within the operation timeout on a silent network cut, and serves again once it heals', async () => {
    const s = schema();
    const proxy = await startTcpProxy(urlTarget(PG_URL));
    cleanups.push(() => proxy.close());
    const store = await open(s, { connectTimeoutMs: 300, operationTimeoutMs: 300 }, viaProxy(PG_URL, proxy));
    await store.putVariable('a', '1');
    proxy.blackhole();
    for (const call of [() => store.version(), () => store.loadConfig(), () => store.putVariable('b', '2')]) {
      const started = Date.now();
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(1_500);
    }
    // The first call timed out on its pooled connection, later ones already on connecting.
    expect(store.health()).toEqual({
      connected: false,
      lastError: expect.stringMatching(/no answer within 300 ms|connection timeout/),
    });
    proxy.restore();
    // The connections that timed out were dropped, not handed out again.
    expect(await store.version()).toBe(1);
    expect((await store.loadConfig()).variables.map((v) => v.name)).toEqual(['a']);
    expect(store.health().connected).toBe(true);
  });

  it('watch notices a silent network cut by its heartbeat and catches up once the network is back', async () => {
    const s = schema();
    const proxy = await startTcpProxy(urlTarget(PG_URL));
    cleanups.push(() => proxy.close());
    const gateway = await open(
      s,
      { heartbeatMs: 200, connectTimeoutMs: 300, reconnect: { initialMs: 50, maxMs: 100 } },
      viaProxy(PG_URL, proxy),
    );
    const writer = await open(s);
    const seen: number[] = [];
    const stop = gateway.watch((v) => seen.push(v));
    cleanups.push(async () => stop());
    await waitFor('the initial version', () => seen.includes(0));

    proxy.blackhole();
    // No socket closes: only the unanswered heartbeat tells the listener its connection is dead.
    await waitFor('the heartbeat to fail', () => !gateway.health().connected);
    expect(gateway.health().lastError).toMatch(/heartbeat|timeout/i);
    await writer.putVariable('x', '1');
    await sleep(400);
    expect(seen).toEqual([0]);

    proxy.restore();
    await waitFor('version 1 after the network returns', () => seen.includes(1));
    await waitFor('a healthy report', () => gateway.health().connected);
  });

  it('never loses an update nor bumps the version twice when two stores write the same row at once', async () => {
    const s = schema();
    const a = await open(s);
    const b = await open(s);
    const seen: number[] = [];
    const stop = a.watch((v) => seen.push(v));
    cleanups.push(async () => stop());
    await waitFor('the initial version', () => seen.includes(0));

    const api = await a.createApi(apiInput({ maxBodyBytes: 0 }));
    const perStore = 25;
    const increment = (store: Store) =>
      store.updateApi(api.id, (cur) => ({ ...cur, maxBodyBytes: cur.maxBodyBytes + 1 }));
    await Promise.all(Array.from({ length: perStore }, () => [increment(a), increment(b)]).flat());

    expect((await a.getApi(api.id))!.maxBodyBytes).toBe(2 * perStore);
    expect(await b.version()).toBe(1 + 2 * perStore);
    // Every write got its own version, notified once each, in commit order.
    const expected = Array.from({ length: 2 * perStore + 2 }, (_, i) => i);
    await waitFor('every version', () => seen.length >= expected.length);
    expect(seen).toEqual(expected);
  });

  it('lets exactly one of two stores create the same name or route at once', async () => {
    const s = schema();
    const a = await open(s);
    const b = await open(s);
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled([
        a.createApi(apiInput({ name: `same-${round}`, path: `/a${round}` })),
        b.createApi(apiInput({ name: `SAME-${round}`, path: `/b${round}` })),
        a.createApi(apiInput({ name: `route-a-${round}`, path: `/shared${round}` })),
        b.createApi(apiInput({ name: `route-b-${round}`, path: `/shared${round}` })),
      ]);
      const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: string }).code));
      expect(codes.slice(0, 2).sort()).toEqual(['API_NAME_TAKEN', 'ok']);
      expect(codes.slice(2).sort()).toEqual(['ROUTE_CONFLICT', 'ok']);
    }
    expect(await a.listApis()).toHaveLength(10);
    expect(await a.version()).toBe(10);
  });

  it('loads a config that matches its version while another store writes', async () => {
    const s = schema();
    const reader = await open(s);
    const writer = await open(s);
    let writing = true;
    const writes = (async () => {
      for (let i = 0; i < 40; i++) await writer.putVariable(`v${String(i).padStart(2, '0')}`, String(i));
      writing = false;
    })();
    let loads = 0;
    // Bounded by the writer's 40 writes.
    while (writing) {
      const config = await reader.loadConfig();
      // Each write adds one variable, so a consistent snapshot holds exactly `version` of them.
      expect(config.variables).toHaveLength(config.version);
      loads++;
    }
    await writes;
    expect(loads).toBeGreaterThan(0);
    expect((await reader.loadConfig()).version).toBe(40);
  });

  it('fails with StoreUnavailableError, and reports it, when PostgreSQL cannot be reached', async () => {
    const err = await openPostgresStore(CLOSED_URL, { schema: uniqueSchema() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);

    const store = await open(uniqueSchema(), { migrate: false, reconnect: { initialMs: 20, maxMs: 50 } }, CLOSED_URL);
    expect(store.health()).toEqual({ connected: true, lastError: null });
    await expect(store.version()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.loadConfig()).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.putVariable('x', '1')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(store.health()).toEqual({ connected: false, lastError: expect.stringMatching(/ECONNREFUSED/) });

    const seen: number[] = [];
    const stop = store.watch((v) => seen.push(v));
    await sleep(300);
    stop();
    expect(seen).toEqual([]);
  });
});
