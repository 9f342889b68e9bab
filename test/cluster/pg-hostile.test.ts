import { spawn } from 'node:child_process';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCreate } from '../../src/model/api.js';
import type { ClusterState } from '../../src/model/cluster.js';
import { NodeCreate } from '../../src/model/node.js';
import { migrations } from '../../src/store/postgres/migrations.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/store.js';
import { CLI, getJson, IsogateProcesses, withSchema, type IsogateProcess } from '../helpers/cluster.js';
import { requestOnce, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { dropSchema, PG_URL, requirePostgres, sql, uniqueSchema, waitFor } from '../store/pg-fixtures.js';
import { urlTarget } from '../store/tcp-proxy.js';

// PostgreSQL as an attacker or a bad night sees it: a LISTEN connection that hangs right after it
// connected, a failover to a standby that lost the last writes (version numbers reused), a lock held
// by a long migration, forged NOTIFY floods from any role, hostile rows written straight into the
// tables, and a schema migrated by a newer isogate. Real gateway processes (dist/) on their own
// schemas of the test database; every wait bounded.

const TOKEN = 'pg-hostile-token-0123456789abcdef';
const procs = new IsogateProcesses(TOKEN);
const schemas: string[] = [];
const stores: PostgresStore[] = [];
let ups: TestUpstream[];

/** A fresh schema (migrated) and a direct store on it, as "another admin that reaches PostgreSQL". */
async function freshSchema(): Promise<{ schema: string; direct: PostgresStore }> {
  const schema = `${uniqueSchema()}_hostile`;
  schemas.push(schema);
  const direct = await openPostgresStore(PG_URL, { schema });
  stores.push(direct);
  return { schema, direct };
}

/** `/<name>` round robin: node ip1 while IP1_enable is "true", node ip2 always. Returns the API id. */
async function flipApi(store: PostgresStore, name: string): Promise<string> {
  await store.putVariable('IP1_enable', 'true');
  const api = await store.createApi(ApiCreate.parse({ name, path: `/${name}`, algorithm: 'round_robin' }));
  await store.createNode(
    api.id,
    NodeCreate.parse({
      name: 'ip1',
      connector: { kind: 'simple-url', url: ups[0]!.url },
      rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }],
    }),
  );
  await store.createNode(
    api.id,
    NodeCreate.parse({ name: 'ip2', connector: { kind: 'simple-url', url: ups[1]!.url } }),
  );
  return api.id;
}

/** The nodes answering `n` requests to `path` on a gateway port. */
async function answers(port: number, path: string, n = 6): Promise<Set<string>> {
  const all = await Promise.all(Array.from({ length: n }, () => requestOnce(port, path)));
  return new Set(all);
}

const statusOf = async (g: IsogateProcess) => (await getJson(g.status, '/status')).body;

/** Bumps the stored version and notifies, as a write would, in the same transaction as `statements`. */
async function rawWrite(schema: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path="${schema}"` });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('BEGIN');
    for (const s of statements) await client.query(s);
    const { rows } = await client.query<{ v: string }>(
      'UPDATE meta SET config_version = config_version + 1 WHERE id = 1 RETURNING config_version AS v',
    );
    await client.query("SELECT pg_notify('isogate_config', current_schema() || ':' || $1)", [rows[0]!.v]);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

/**
 * A TCP forwarder that can, once, swallow the client chunk containing a text and everything after it
 * on that connection, both ways, leaving the connection open: a server (or the network) that hangs
 * at that very moment and never answers.
 */
async function startFreezeProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let freezeOn: Buffer | null = null;
  let frozen = 0;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = net.createServer((down) => {
    const up = net.connect(target.port, target.host);
    track(down);
    track(up);
    let hung = false;
    down.on('data', (chunk: Buffer) => {
      if (hung) return;
      if (freezeOn !== null && chunk.includes(freezeOn)) {
        freezeOn = null;
        hung = true;
        frozen++;
        return;
      }
      up.write(chunk);
    });
    up.on('data', (chunk: Buffer) => hung || down.write(chunk));
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: (schema: string) => {
      const u = new URL(PG_URL);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return withSchema(u.toString(), schema);
    },
    freezeOnce(text: string) {
      freezeOn = Buffer.from(text);
    },
    get frozen() {
      return frozen;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

const gatewayArgs = (url: string, extra: string[] = []) => [
  '--store',
  url,
  '--workers',
  '0',
  '--heartbeat-ms',
  '300',
  '--store-timeout-ms',
  '1000',
  ...extra,
];

/** Runs `isogate gateway` on `url` expecting it to fail its start; resolves with its exit code and stderr (bounded: 20 s, then SIGKILL). */
async function startGatewayExpectingExit(url: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    [
      '--no-node-snapshot',
      CLI,
      'gateway',
      '--gateway-host',
      '127.0.0.1',
      '--gateway-port',
      '0',
      '--status-host',
      '127.0.0.1',
      '--status-port',
      '0',
      '--log-level',
      'warn',
      ...gatewayArgs(url),
    ],
    { env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    if (stderr.length < 20_000) stderr += c.toString();
  });
  const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(kill);
  return { code, stderr };
}

beforeAll(async () => {
  await requirePostgres();
  ups = await startUpstreams(['ip1', 'ip2']);
}, 60_000);

afterAll(async () => {
  await procs.stopAll();
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all((ups ?? []).map((u) => u.close()));
  for (const s of schemas) await dropSchema(s);
}, 60_000);

describe('the LISTEN connection hangs right after it connected', () => {
  it('a gateway whose listener hung on LISTEN still picks up a later write (the listener must time out and reconnect)', async () => {
    const { schema, direct } = await freshSchema();
    await flipApi(direct, 'wedge');
    const proxy = await startFreezeProxy(urlTarget(PG_URL));
    try {
      // The very first LISTEN this gateway sends is swallowed: connected, authenticated, then silence.
      proxy.freezeOnce('LISTEN isogate_config');
      // A minute-long poll: only the listener can bring a change in time (as in propagation.test.ts).
      const gw = await procs.start('gateway', gatewayArgs(proxy.url(schema), ['--poll-ms', '60000']));
      await waitFor('the LISTEN to be swallowed', () => proxy.frozen === 1, 10_000);
      await direct.putVariable('IP1_enable', 'false');
      const version = await direct.version();
      // Fixed: the listener's post-connect queries answer within min(heartbeat, store timeout) or it reconnects.
      const served = await until(
        () => statusOf(gw),
        (s) => s.version === version,
        150,
        100,
      ).catch(() => null);
      const status = await statusOf(gw);
      expect({ version: status.version, degraded: status.degraded }).toEqual({ version, degraded: false });
      expect(served).not.toBeNull();
      expect(await answers(gw.gateway, '/wedge')).toEqual(new Set(['ip2']));
      await gw.stop();
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

describe('failover to a standby that lost the last writes (config versions reused)', () => {
  it('a gateway follows the promoted database even when its version number was already served', async () => {
    const { schema, direct } = await freshSchema();
    await flipApi(direct, 'failover');
    const url = withSchema(PG_URL, schema);
    const gw = await procs.start('gateway', gatewayArgs(url, ['--poll-ms', '200']));
    // The last write before the crash: IP1 off. The gateway serves it.
    await direct.putVariable('IP1_enable', 'false');
    const lost = await direct.version();
    await until(
      () => statusOf(gw),
      (s) => s.version === lost,
      100,
      50,
    );
    expect(await answers(gw.gateway, '/failover')).toEqual(new Set(['ip2']));
    // Asynchronous standby promoted without that write: the variable is back to "true" and the
    // counter one lower (simulated in place on the same schema; the content is what the standby has).
    await sql("UPDATE variables SET value = 'true' WHERE name = 'IP1_enable'", [], schema);
    await sql('UPDATE meta SET config_version = config_version - 1 WHERE id = 1', [], schema);
    // The first write on the promoted database makes version `lost` again, with other content.
    await direct.putVariable('after_failover', 'yes');
    expect(await direct.version()).toBe(lost);
    // A gateway started now serves the database's config (IP1 on) under that same number.
    const fresh = await procs.start('gateway', gatewayArgs(url, ['--poll-ms', '200']));
    expect((await statusOf(fresh)).version).toBe(lost);
    expect(await answers(fresh.gateway, '/failover')).toEqual(new Set(['ip1', 'ip2']));
    // Fixed: each version bump writes a random meta.version_token; gateways reload when (version, token) differs.
    const old = await until(
      () => answers(gw.gateway, '/failover'),
      (a) => a.has('ip1'),
      40,
      100,
    ).catch(() => null);
    expect(old).toEqual(new Set(['ip1', 'ip2']));
    await fresh.stop();
    await gw.stop();
  }, 60_000);
});

describe('a long lock on meta (a newer isogate migrating, a DBA session left open)', () => {
  it('keeps serving the last snapshot, and timed-out reads do not leave server backends behind', async () => {
    const { schema, direct } = await freshSchema();
    await flipApi(direct, 'locked');
    const gw = await procs.start('gateway', gatewayArgs(withSchema(PG_URL, schema), ['--poll-ms', '200']));
    const version = await direct.version();
    const appName = `isogate-store:${schema}`;
    const locker = new pg.Client({ connectionString: PG_URL, options: `-c search_path="${schema}"` });
    locker.on('error', () => undefined);
    await locker.connect();
    let most = 0;
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE meta IN ACCESS EXCLUSIVE MODE');
      // Bounded both in time (8 s) and in how many backends this may pile up on the shared server (7).
      const deadline = Date.now() + 8_000;
      while (Date.now() < deadline && most <= 6) {
        const [row] = await sql<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
          [appName],
        );
        most = Math.max(most, row!.n);
        await new Promise((r) => setTimeout(r, 200));
      }
      // Serving from the last snapshot all along.
      const status = await statusOf(gw);
      expect(status.version).toBe(version);
      expect(await answers(gw.gateway, '/locked')).toEqual(new Set(['ip1', 'ip2']));
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end().catch(() => undefined);
    }
    // Once the lock is gone, a write is served again.
    await direct.putVariable('IP1_enable', 'false');
    const next = await direct.version();
    await until(
      () => statusOf(gw),
      (s) => s.version === next,
      100,
      100,
    );
    expect(await answers(gw.gateway, '/locked')).toEqual(new Set(['ip2']));
    // Fixed: pool connections carry statement_timeout/lock_timeout = --store-timeout-ms (and idle_in_transaction).
    expect(most).toBeLessThanOrEqual(5); // the pool's size: at most one waiting backend per pooled connection
    await gw.stop();
  }, 60_000);
});

describe('forged notifications from any role that can connect', () => {
  it('a flood of NOTIFYs (forged versions, other schemas, 8000-byte payloads) neither moves nor wedges a gateway', async () => {
    const { schema, direct } = await freshSchema();
    await flipApi(direct, 'flood');
    const gw = await procs.start('gateway', gatewayArgs(withSchema(PG_URL, schema), ['--poll-ms', '60000']));
    const version = await direct.version();
    const role = `hostile_${randomBytes(5).toString('hex')}`;
    await sql(`CREATE ROLE ${role} LOGIN`);
    try {
      const u = new URL(PG_URL);
      u.username = role;
      const attacker = new pg.Client({ connectionString: u.toString() });
      attacker.on('error', () => undefined);
      await attacker.connect();
      try {
        const big = 'x'.repeat(7_900);
        for (let batch = 0; batch < 20; batch++) {
          // 100 notifications per statement, committed at once: forged "new versions" of this schema,
          // far-future ones, garbage, and maximal payloads.
          await attacker.query(`SELECT pg_notify('isogate_config', p) FROM unnest($1::text[]) AS p`, [
            Array.from({ length: 100 }, (_, i) =>
              i % 4 === 0
                ? `${schema}:${version + 1 + batch * 100 + i}`
                : i % 4 === 1
                  ? `${schema}:9007199254740993`
                  : i % 4 === 2
                    ? `${schema}:${big}`
                    : `${big}:${i}`,
            ),
          ]);
        }
      } finally {
        await attacker.end();
      }
      // Still alive, still listening, still serving the stored version (not a forged one).
      await new Promise((r) => setTimeout(r, 500));
      const status = await statusOf(gw);
      expect({ version: status.version, degraded: status.degraded }).toEqual({ version, degraded: false });
      expect(await answers(gw.gateway, '/flood')).toEqual(new Set(['ip1', 'ip2']));
      // And a real write still comes through the listener (the poll is a minute).
      await direct.putVariable('IP1_enable', 'false');
      const next = await direct.version();
      await until(
        () => statusOf(gw),
        (s) => s.version === next,
        100,
        100,
      );
      expect(await answers(gw.gateway, '/flood')).toEqual(new Set(['ip2']));
    } finally {
      await sql(`DROP ROLE IF EXISTS ${role}`);
    }
    expect(gw.child.exitCode).toBeNull();
    await gw.stop();
  }, 60_000);
});

describe('hostile rows written straight into the tables', () => {
  let schema: string;
  let direct: PostgresStore;
  let gw: IsogateProcess;
  let apiId: string;

  beforeAll(async () => {
    ({ schema, direct } = await freshSchema());
    apiId = await flipApi(direct, 'rows');
    await direct
      .createApi(ApiCreate.parse({ name: 'other', path: '/other', algorithm: 'round_robin' }))
      .then((a) =>
        direct.createNode(a.id, NodeCreate.parse({ name: 'ip2', connector: { kind: 'simple-url', url: ups[1]!.url } })),
      );
    gw = await procs.start('gateway', gatewayArgs(withSchema(PG_URL, schema), ['--poll-ms', '200']));
  }, 60_000);

  /** Writes `statements` (with a version bump and NOTIFY), checks the gateway keeps `keep`, then undoes them. */
  async function refused(statements: string[], undo: string[]): Promise<void> {
    const before = await direct.version();
    await until(
      () => statusOf(gw),
      (s) => s.version === before,
      100,
      50,
    );
    await rawWrite(schema, statements);
    // A few polls and the notification have come and gone.
    await new Promise((r) => setTimeout(r, 1_000));
    const status = await statusOf(gw);
    expect(gw.child.exitCode).toBeNull();
    expect(status.version).toBe(before);
    // Said, not only logged: the process serves an older config than the store holds, and why.
    expect(status.degraded).toBe(true);
    expect(status.config.lastError.message).toEqual(expect.any(String));
    expect(await answers(gw.gateway, '/rows')).toEqual(new Set(['ip1', 'ip2']));
    expect(await answers(gw.gateway, '/other', 2)).toEqual(new Set(['ip2']));
    await rawWrite(schema, undo);
    const after = await direct.version();
    const repaired = await until(
      () => statusOf(gw),
      (s) => s.version === after,
      100,
      50,
    );
    expect([repaired.degraded, repaired.config.lastError]).toEqual([false, null]);
  }

  it('refuses an API row with broken JSON and keeps serving the previous snapshot, then follows once it is repaired', async () => {
    await refused(
      [`UPDATE apis SET methods = '["GET", ' WHERE id = '${apiId}'`],
      [`UPDATE apis SET methods = '["GET"]' WHERE id = '${apiId}'`],
    );
  });

  it('refuses unknown fields, wrong types and enormous values in stored JSON and variables', async () => {
    await refused(
      [`UPDATE apis SET timeouts = '{"connectMs": 1000, "evil": true}' WHERE id = '${apiId}'`],
      [`UPDATE apis SET timeouts = (SELECT timeouts FROM apis WHERE name = 'other') WHERE id = '${apiId}'`],
    );
    await refused(
      [`UPDATE nodes SET weight = -5, tags = '{"not": "an array"}' WHERE api_id = '${apiId}'`],
      [`UPDATE nodes SET weight = 1, tags = '[]' WHERE api_id = '${apiId}'`],
    );
    // 8 MB in one variable value (the model allows 4096 characters).
    await refused(
      [
        `INSERT INTO variables (name, value, updated_at) VALUES ('huge', repeat('x', 8 * 1024 * 1024), '2024-01-01T00:00:00.000Z')`,
      ],
      [`DELETE FROM variables WHERE name = 'huge'`],
    );
  }, 30_000);

  it('serves a stored selector that does not compile as a broken selector of that API only', async () => {
    const before = await direct.version();
    await until(
      () => statusOf(gw),
      (s) => s.version === before,
      100,
      50,
    );
    await rawWrite(schema, [
      `UPDATE apis SET selector = '{"code":"function select(request, env, nodes) { return (","onError":"use-all","timeoutMs":20,"memoryMb":32,"memoize":"auto"}' WHERE id = '${apiId}'`,
    ]);
    const after = before + 1;
    await until(
      () => statusOf(gw),
      (s) => s.version === after,
      100,
      50,
    );
    expect(gw.child.exitCode).toBeNull();
    // The other API is untouched; the broken one either uses all nodes (onError use-all) or refuses
    // with a gateway error, never kills or wedges the process.
    expect(await answers(gw.gateway, '/other', 2)).toEqual(new Set(['ip2']));
    const broken = await answers(gw.gateway, '/rows');
    expect([...broken].every((a) => a === 'ip1' || a === 'ip2' || /^[A-Z_]+$/.test(a))).toBe(true);
    await rawWrite(schema, [`UPDATE apis SET selector = NULL WHERE id = '${apiId}'`]);
    await until(
      () => statusOf(gw),
      (s) => s.version === after + 1,
      100,
      50,
    );
  });

  it('a gateway started while a hostile row is stored fails its start at once (exit 1), it does not hang', async () => {
    await sql(`UPDATE apis SET methods = '["GET", ' WHERE id = '${apiId}'`, [], schema);
    try {
      // No previous snapshot to keep: refusing to serve a config it cannot read is the documented
      // choice ("fails loudly"), but note that one bad row thus stops every restart of the fleet.
      const { code, stderr } = await startGatewayExpectingExit(withSchema(PG_URL, schema));
      expect(code).toBe(1);
      expect(stderr).toMatch(/JSON|methods/);
    } finally {
      await sql(`UPDATE apis SET methods = '["GET"]' WHERE id = '${apiId}'`, [], schema);
    }
    expect(gw.child.exitCode).toBeNull();
  }, 30_000);

  it('one hostile row in the cluster view does not hide every other process', async () => {
    // A row any role with INSERT on the table (or a future isogate with a new role name) could write.
    await sql(
      `INSERT INTO processes (id, host, pid, role, worker, serves, started_at, config_version, heartbeat_ms, last_seen)
       VALUES ('hostile', 'h', 1, 'sidecar', NULL, 'gateway', 'not a date', 0, 0, '2024-01-01T00:00:00.000Z')`,
      [],
      schema,
    );
    try {
      // Fixed: listProcesses skips (and logs once) rows that do not validate; StoredDataError is 500, never 400.
      const listed = await direct.listProcesses().catch((err: Error) => err);
      expect(listed).not.toBeInstanceOf(Error);
      const pids = (listed as ClusterState).processes.map((p) => p.pid);
      expect(pids).toContain(gw.child.pid);
    } finally {
      await sql(`DELETE FROM processes WHERE id = 'hostile'`, [], schema);
    }
  });
});

describe('a schema migrated by a newer isogate', () => {
  it('a running gateway keeps following writes after a newer additive migration; a new one of the old version refuses to start', async () => {
    const { schema, direct } = await freshSchema();
    await flipApi(direct, 'newer');
    const url = withSchema(PG_URL, schema);
    const gw = await procs.start('gateway', gatewayArgs(url, ['--poll-ms', '60000']));
    // What the next isogate might do: an added column and table, recorded as migrated.
    const future = migrations.at(-1)!.version + 1;
    await sql(
      `BEGIN;
       ALTER TABLE apis ADD COLUMN future TEXT;
       CREATE TABLE future_things (id TEXT PRIMARY KEY);
       INSERT INTO schema_migrations (version, name, applied_at) VALUES (${future}, 'future', '2030-01-01T00:00:00.000Z');
       COMMIT;`,
      [],
      schema,
    );
    await direct.putVariable('IP1_enable', 'false');
    const version = await direct.version();
    await until(
      () => statusOf(gw),
      (s) => s.version === version,
      100,
      100,
    );
    expect(await answers(gw.gateway, '/newer')).toEqual(new Set(['ip2']));
    // An isogate of this (older) version started now: it must refuse, with the reason, exit 1.
    const { code, stderr } = await startGatewayExpectingExit(url);
    expect(code).toBe(1);
    expect(stderr).toMatch(/newer than this isogate supports/);
    expect(gw.child.exitCode).toBeNull();
    await gw.stop();
  }, 60_000);
});

describe('clock skew between processes', () => {
  it('a process whose clock runs an hour ahead or behind is alive by the database clock, and pruning does not take it', async () => {
    const { direct } = await freshSchema();
    const skewed = (id: string, offsetMs: number) =>
      direct.heartbeat({
        id,
        host: 'skewed',
        pid: 4242,
        role: 'gateway',
        worker: null,
        serves: 'gateway',
        startedAt: new Date(Date.now() + offsetMs).toISOString(),
        configVersion: 0,
        heartbeatMs: 1_000,
      });
    await skewed('ahead', 3_600_000);
    await skewed('behind', -3_600_000);
    expect(await direct.pruneProcesses(60_000)).toBe(0);
    const { now, processes } = await direct.listProcesses();
    const ages = processes.map((p) => Date.parse(now) - Date.parse(p.lastSeen));
    expect(processes.map((p) => p.id).sort()).toEqual(['ahead', 'behind']);
    expect(ages.every((a) => a >= 0 && a < 60_000)).toBe(true);
  });
});
