import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsogateProcesses, getJson, startLoad, type IsogateProcess } from '../helpers/cluster.js';
import { adminClient, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { startTcpProxy, type TcpProxy } from '../store/tcp-proxy.js';
import { scrape } from '../helpers/metrics.js';

// The cluster policy across three gateway processes (built CLI: `npm run build` first) sharing one
// SQLite file and one real Redis, reached through a TCP proxy the test cuts. Keys carry a prefix of
// this run only.

const TOKEN = 'cluster-limits-token-0123456789';
const REDIS = { host: '127.0.0.1', port: Number(process.env.ISOGATE_TEST_REDIS_PORT ?? 6379) };
const prefix = `isogate-test-${randomBytes(6).toString('hex')}:`;
const procs = new IsogateProcesses(TOKEN);
let gws: IsogateProcess[] = [];
let proxy: TcpProxy;
let up: TestUpstream;
let redis: Redis;
let admin: ReturnType<typeof adminClient>;

beforeAll(async () => {
  proxy = await startTcpProxy(REDIS);
  redis = new Redis({ ...REDIS, keyPrefix: prefix, maxRetriesPerRequest: 1 });
  up = (await startUpstreams(['u']))[0]!;
  const args = [
    '--workers',
    '0',
    '--poll-ms',
    '100',
    '--redis',
    `redis://127.0.0.1:${proxy.port}`,
    '--redis-prefix',
    prefix,
    '--redis-timeout-ms',
    '200',
  ];
  const first = await procs.start('start', [...args, '--no-demo']);
  const store = join(first.dataDir, 'isogate.db');
  gws = [
    first,
    await procs.start('gateway', [...args, '--store', store]),
    await procs.start('gateway', [...args, '--store', store]),
  ];
  admin = adminClient(() => first.admin, TOKEN);
  for (const g of gws)
    await until(
      () => getJson(g.status, '/status'),
      (s) => s.body.redis?.connected === true,
    );
}, 120_000);

afterAll(async () => {
  await procs.stopAll();
  if (redis) {
    const keys = await redis.keys('*');
    // keys() answers with the prefix; del() adds it again.
    if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(prefix.length)));
    redis.disconnect();
  }
  await proxy?.close();
  await up?.close();
});

/** A field of the shared bucket of an API's limit (`by: api`), null while it has none; its key is `rl:<api>:0:<settings digest>:`. */
async function bucketField(id: string, field: 'tk' | 'ts'): Promise<number | null> {
  const keys = await redis.keys(`${prefix}rl:${id}:0:*`);
  expect(keys.length).toBeLessThanOrEqual(1);
  return keys.length === 0 ? null : Number(await redis.hget(keys[0]!.slice(prefix.length), field));
}

/** Creates an API with one limit and waits until every gateway serves it (without spending its tokens). */
async function limitedApi(name: string, limit: Record<string, unknown>): Promise<string> {
  const api = await admin('POST', '/admin/apis', {
    name,
    path: `/${name}/*`,
    algorithm: 'round_robin',
    access: { limits: [{ by: 'api', policy: 'cluster', ...limit }] },
  });
  await admin('POST', `/admin/apis/${api.id}/nodes`, { name: 'u', connector: { kind: 'simple-url', url: up.url } });
  const { version } = await admin('GET', '/admin/config/version');
  for (const g of gws)
    await until(
      () => getJson(g.status, '/status'),
      (s) => s.body.version >= version,
    );
  return api.id;
}

async function status(port: number, path: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  await res.arrayBuffer();
  return res.status;
}

describe('cluster rate limits on Redis', () => {
  it('hold across three gateways within the stated tolerance', async () => {
    const id = await limitedApi('shared', { rate: 30, per: 'minute', burst: 30 });
    const started = Date.now();
    let passed = 0;
    // 90 requests, 30 to each gateway in turn: with the local policy all 90 would pass.
    for (let i = 0; i < 30; i++) for (const g of gws) if ((await status(g.gateway, '/shared/x')) === 200) passed++;
    const elapsedMs = Date.now() - started;
    // Tolerance (docs/access.md): burst + rate × (elapsed + L) / period, with L = 1 s for a per-minute limit.
    const bound = 30 + (30 * (elapsedMs + 1_000)) / 60_000;
    expect(passed).toBeLessThanOrEqual(Math.floor(bound));
    // Reservations other gateways hold can only lower it, by at most their batches (an eighth of the burst each).
    expect(passed).toBeGreaterThanOrEqual(30 - 3 * Math.floor(30 / 8));
    // The bucket is one key in Redis, shared by all three.
    const tokens = await bucketField(id, 'tk');
    expect(tokens).not.toBeNull();
    expect(tokens).toBeLessThan(2);
  });

  it('falls back to the local policy when Redis is cut under load, reports it, and recovers by itself', async () => {
    const id = await limitedApi('resilient', { rate: 1_000_000, per: 'minute' });
    const closedId = await limitedApi('strict', { rate: 1_000_000, per: 'minute', onRedisDown: 'closed' });
    const loads = gws.map((g) =>
      startLoad(g.gateway, '/resilient/x', { clients: 2, maxMs: 30_000, maxRequests: 20_000 }),
    );
    await until(
      async () => loads.reduce((n, l) => n + l.answers.length, 0),
      (n) => n > 60,
    );
    // The shared bucket is in use: each take writes Redis's clock (ms) into it.
    expect(await bucketField(id, 'ts')).toBeGreaterThan(0);

    await proxy.stop();
    for (const g of gws)
      await until(
        () => getJson(g.status, '/status'),
        (s) => s.body.redis.connected === false && s.body.degraded === true,
        200,
        50,
      );
    const cutAt = loads.reduce((n, l) => n + l.answers.length, 0);
    await until(
      async () => loads.reduce((n, l) => n + l.answers.length, 0),
      (n) => n > cutAt + 100,
    );
    // Failing closed: 503 RATE_LIMIT_UNAVAILABLE while Redis is away.
    const strict = await fetch(`http://127.0.0.1:${gws[1]!.gateway}/strict/x`);
    expect(strict.status).toBe(503);
    expect(strict.headers.get('x-isogate-error')).toBe('RATE_LIMIT_UNAVAILABLE');
    const details = (await getJson(gws[1]!.status, '/status')).body.redis;
    expect(details).toMatchObject({ configured: true, connected: false });
    expect(typeof details.lastError).toBe('string');
    const redisConnected = async (port: number) =>
      (await scrape(`http://127.0.0.1:${port}/metrics`)).samples.find((x) => x.name === 'isogate_redis_connected')
        ?.value;
    expect(await redisConnected(gws[1]!.status)).toBe(0);

    await proxy.start();
    for (const g of gws)
      await until(
        () => getJson(g.status, '/status'),
        (s) => s.body.redis.connected === true,
        200,
        50,
      );
    expect(await redisConnected(gws[1]!.status)).toBe(1);
    const [seconds, micros] = await redis.time();
    const recoveredAt = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const backAt = loads.reduce((n, l) => n + l.answers.length, 0);
    await until(
      async () => loads.reduce((n, l) => n + l.answers.length, 0),
      (n) => n > backAt + 100,
    );
    // Shared again: the bucket is taken from after Redis came back (the bucket itself refills too fast
    // at this rate to compare token counts). A batch reserved just before that reading may still be
    // spent, so wait (bounded) for the next take rather than expecting it by a fixed point.
    await until(
      async () => (await bucketField(id, 'ts')) ?? 0,
      (ts) => ts >= recoveredAt,
    );
    const answers = (await Promise.all(loads.map((l) => l.stop()))).flat();

    // No request failed that the local policy would have let through (its bucket never empties here).
    const failures = answers.filter((a) => !a.ok).map((a) => a.outcome);
    expect(failures).toEqual([]);
    // And the API that fails closed serves again.
    expect(await status(gws[1]!.gateway, '/strict/x')).toBe(200);
    expect(closedId).toBeTruthy();
  });
});
