import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { IsogateProcesses, type IsogateProcess } from '../helpers/cluster.js';
import { parseMetrics } from '../helpers/metrics.js';
import { adminClient, until } from '../helpers/processes.js';
import { startWsUpstream, type WsUpstream } from '../helpers/ws-upstreams.js';

// 1,000 WebSockets held open through one gateway process, then SIGTERM: every one is closed once the
// ports close (after --drain-wait-ms), on both sides, and the process exits 0 without waiting out
// --drain-ms (a minute here), since upgraded connections never finish on their own.
const TOKEN = 'websocket-drain-token-012345678';
const COUNT = 1_000;
const procs = new IsogateProcesses(TOKEN);
let node: WsUpstream;
let gw: IsogateProcess;
const clients: WebSocket[] = [];

beforeAll(async () => {
  node = await startWsUpstream('held');
  gw = await procs.start('start', ['--workers', '0', '--no-demo', '--drain-wait-ms', '300', '--drain-ms', '60000']);
  const call = adminClient(() => gw.admin, TOKEN);
  const api = await call('POST', '/admin/apis', { name: 'held', path: '/held', algorithm: 'least_conn' });
  await call('POST', `/admin/apis/${api.id}/nodes`, { name: 'held', connector: { kind: 'simple-url', url: node.url } });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.terminate();
  await procs.stopAll();
  await node?.close();
});

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.gateway}/held`);
    clients.push(ws);
    const timer = setTimeout(() => reject(new Error('no greeting within 10 s')), 10_000);
    ws.once('message', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('1,000 WebSockets and SIGTERM', () => {
  it('holds them all, then closes every one once the ports close, and exits 0', async () => {
    for (let batch = 0; batch < COUNT / 100; batch++) await Promise.all(Array.from({ length: 100 }, () => open()));
    expect(clients.filter((c) => c.readyState === WebSocket.OPEN)).toHaveLength(COUNT);
    expect(node.sockets.size).toBe(COUNT);
    const text = await (await fetch(`http://127.0.0.1:${gw.status}/metrics`)).text();
    expect(parseMetrics(text).sum('isogate_upgraded_connections', { api: 'held' })).toBe(COUNT);
    // Every one of them still carries messages.
    const echoes = await Promise.all(
      clients.map(
        (ws, i) =>
          new Promise<string>((resolve) => {
            ws.once('message', (d) => resolve(String(d)));
            ws.send(`m${i}`);
          }),
      ),
    );
    expect(echoes.every((e, i) => e === `m${i}`)).toBe(true);

    const closes = clients.map((ws) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code))));
    // Bounded at 20 s (then SIGKILL, and the code would be null), a third of --drain-ms.
    expect(await gw.stop('SIGTERM', 20_000)).toBe(0);
    const codes = await Promise.all(closes);
    expect(codes).toHaveLength(COUNT);
    await until(
      async () => node.sockets.size,
      (n) => n === 0,
      100,
      50,
    );
  }, 120_000);
});
