/**
 * One client floods the gateway port with idle connections (a few thousand, on 127.0.0.1) while the
 * gateway runs with a low open-file limit (`ulimit -n 1024`): without a connection limit below the
 * open-file limit, `accept` fails and every other client's request fails with it. With it, the
 * gateway closes idle connections oldest first and another client is still served.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsogateProcesses, type IsogateProcess } from '../helpers/cluster.js';
import { scrape } from '../helpers/metrics.js';
import { adminClient, requestOnce, until } from '../helpers/processes.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const TOKEN = 'connection-flood-token-0123456789';
const procs = new IsogateProcesses(TOKEN);
/** The gateway's open-file limit: the flood is twice that. */
const GATEWAY_FILES = 1024;
const FLOOD = 2 * GATEWAY_FILES;
let ups: TestUpstream[];
let gw: IsogateProcess;
const flood: Socket[] = [];

/** Opens `n` connections, up to 100 at a time; resolves with how many connected (a refused or reset one does not count). */
async function openFlood(port: number, n: number): Promise<number> {
  let connected = 0;
  for (let at = 0; at < n; at += 100) {
    await Promise.all(
      Array.from(
        { length: Math.min(100, n - at) },
        () =>
          new Promise<void>((resolve) => {
            const s = connect({ host: '127.0.0.1', port });
            flood.push(s);
            s.on('error', () => resolve());
            s.once('connect', () => {
              connected++;
              resolve();
            });
            s.once('close', () => resolve());
          }),
      ),
    );
  }
  return connected;
}

beforeAll(async () => {
  // Client and gateway ends both count against this process's limit only for the client side.
  const { execSync } = await import('node:child_process');
  const own = Number(execSync('sh -c "ulimit -n"').toString().trim());
  expect(own, 'the test needs room for its own end of the flood').toBeGreaterThan(FLOOD + 512);
  ups = await startUpstreams(['a']);
  gw = await procs.start('start', ['--workers', '0', '--no-demo'], { openFiles: GATEWAY_FILES });
  const call = adminClient(() => gw.admin, TOKEN);
  const api = await call('POST', '/admin/apis', { name: 'f', path: '/f', algorithm: 'round_robin' });
  await call('POST', `/admin/apis/${api.id}/nodes`, { name: 'a', connector: { kind: 'simple-url', url: ups[0]!.url } });
}, 60_000);

afterAll(async () => {
  for (const s of flood) s.destroy();
  await procs.stopAll();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

describe('a flood of idle connections past the open-file limit', () => {
  it('keeps the gateway below the limit, closing idle connections oldest first, and another client is served', async () => {
    const connected = await openFlood(gw.gateway, FLOOD);
    expect(connected).toBe(FLOOD);
    const metrics = async () => {
      const m = await scrape(`http://127.0.0.1:${gw.status}/metrics`);
      return {
        open: m.sum('isogate_client_connections'),
        evicted: m.sum('isogate_client_connections_evicted_total'),
        refused: m.sum('isogate_client_refusals_total'),
      };
    };
    // Once the gateway has taken every connection of the flood (held, closed to make room, or refused) …
    const { open } = await until(metrics, (m) => m.open + m.evicted + m.refused >= FLOOD);
    expect(open).toBeLessThan(GATEWAY_FILES - 200);
    expect(open).toBeGreaterThan(GATEWAY_FILES / 2);
    // … another client, on its own connections, is served while the flood holds its connections.
    for (let i = 0; i < 5; i++) expect(await requestOnce(gw.gateway, '/f')).toBe('a');
    expect(flood.filter((s) => !s.destroyed).length).toBeGreaterThan(GATEWAY_FILES / 2);
    expect((await metrics()).open).toBeLessThan(GATEWAY_FILES - 200);
  });
});
