import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsogateProcesses, getJson, type IsogateProcess } from '../helpers/cluster.js';
import { until } from '../helpers/processes.js';
import { startTcpProxy, type TcpProxy } from '../store/tcp-proxy.js';

// Redis as each worker of `isogate start --workers 2` sees it, in /status (built CLI: `npm run build`
// first): the real Redis of this machine behind a TCP proxy the test takes down before the start and
// brings back later. Keys carry a prefix of this run only (none are written: no API has a limit).

const TOKEN = 'redis-status-workers-token-0123456789';
const REDIS = { host: '127.0.0.1', port: Number(process.env.ISOGATE_TEST_REDIS_PORT ?? 6379) };
const procs = new IsogateProcesses(TOKEN);
let proxy: TcpProxy;
let gw: IsogateProcess;

interface WorkerStatus {
  pid: number;
  ready: boolean;
  redis: { configured: boolean; connected: boolean; lastError: string | null; downSince: string | null };
}

const status = async () => (await getJson(gw.status, '/status')).body as { degraded: boolean; workers: WorkerStatus[] };

beforeAll(async () => {
  proxy = await startTcpProxy(REDIS);
  await proxy.stop();
  gw = await procs.start('start', [
    '--no-demo',
    '--workers',
    '2',
    '--redis',
    `redis://127.0.0.1:${proxy.port}`,
    '--redis-prefix',
    `isogate-test-${randomBytes(6).toString('hex')}:`,
    '--redis-timeout-ms',
    '200',
  ]);
}, 60_000);

afterAll(async () => {
  await procs.stopAll();
  await proxy?.close();
});

describe('Redis status with --workers 2', () => {
  it('reports each worker unconnected and the process degraded but ready, then connected once Redis is back', async () => {
    const down = await until(
      status,
      (s) => s.workers.length === 2 && s.workers.every((w) => w.redis.connected === false),
      200,
      50,
    );
    expect(down.degraded).toBe(true);
    for (const w of down.workers) {
      expect(w.ready).toBe(true);
      expect(w.redis).toMatchObject({ configured: true, connected: false });
      expect(w.redis.lastError).toMatch(/ECONNREFUSED|ECONNRESET|closed|timeout/i);
      expect(Number.isNaN(Date.parse(w.redis.downSince ?? ''))).toBe(false);
    }
    // Redis unreachable does not take the machine out of a load balancer: the gateway serves with the local policy.
    expect((await fetch(`http://127.0.0.1:${gw.status}/status/ready`)).status).toBe(200);

    await proxy.start();
    const up = await until(
      status,
      (s) => s.workers.length === 2 && s.workers.every((w) => w.redis.connected === true),
      200,
      50,
    );
    expect(up.degraded).toBe(false);
    for (const w of up.workers) expect(w.redis).toMatchObject({ connected: true, lastError: null, downSince: null });
  });
});
