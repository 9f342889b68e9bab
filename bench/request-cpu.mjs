// Gateway CPU time per request: a fixed number of keep-alive GETs through one in-process gateway
// (`--workers 0`, no access log, no selector, one node on a node:http upstream in this process), with
// the gateway's user+system CPU read from /proc/<pid>/stat before and after. Not a test: it prints
// figures. Linux only.
//
// Env: REQUESTS (20000 per round), ROUNDS (5), CONCURRENCY (8), ISOGATE_CLI (the built cli.js to
// measure; default this checkout's dist/src/cli.js, so an older build can be compared).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { freePort, sleep } from './common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = process.env.ISOGATE_CLI ?? join(root, 'dist/src/cli.js');
const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const TOKEN = 'cpu-bench-token-0123456789abcdef';
const TICK_S = 1 / 100; // USER_HZ on Linux
const work = mkdtempSync(join(tmpdir(), 'isogate-cpu-'));

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_S;
}

async function until(fn, tries = 200) {
  for (let i = 0; i < tries; i++) {
    try {
      if (await fn()) return;
    } catch {}
    await sleep(50);
  }
  throw new Error('not ready');
}

const upstream = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{"ok":true}');
});
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const [gw, admin, status] = [await freePort(), await freePort(), await freePort()];
const child = spawn(
  process.execPath,
  [
    '--no-node-snapshot',
    CLI,
    'start',
    '--workers',
    '0',
    '--no-demo',
    '--no-access-log',
    '--log-level',
    'warn',
    '--data-dir',
    join(work, 'data'),
    '--gateway-host',
    '127.0.0.1',
    '--gateway-port',
    String(gw),
    '--admin-port',
    String(admin),
    '--status-host',
    '127.0.0.1',
    '--status-port',
    String(status),
  ],
  {
    env: { PATH: process.env.PATH, ISOGATE_ADMIN_TOKEN: TOKEN, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);
try {
  await until(async () => (await fetch(`http://127.0.0.1:${status}/status/ready`)).status === 200);
  const call = async (method, path, body) => {
    const res = await fetch(`http://127.0.0.1:${admin}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return res.json();
  };
  const api = await call('POST', '/admin/apis', { name: 'cpu', path: '/cpu/*', algorithm: 'round_robin' });
  await call('POST', `/admin/apis/${api.id}/nodes`, {
    name: 'up',
    connector: { kind: 'simple-url', url: `http://127.0.0.1:${upstream.address().port}` },
  });

  const pool = new Pool(`http://127.0.0.1:${gw}`, { connections: CONCURRENCY, pipelining: 1 });
  const load = async (n) => {
    let next = 0;
    let bad = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) {
          next++;
          const { statusCode, body } = await pool.request({ method: 'GET', path: '/cpu/x' });
          await body.dump();
          if (statusCode !== 200) bad++;
        }
      }),
    );
    if (bad > 0) throw new Error(`${bad} non-200 answers`);
  };
  await load(Math.min(5_000, REQUESTS)); // warm up (JIT, pools)
  const perRequest = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = cpuSeconds(child.pid);
    const t0 = performance.now();
    await load(REQUESTS);
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(child.pid) - before;
    perRequest.push((cpu / REQUESTS) * 1e6);
    console.log(
      `round ${r + 1}: ${REQUESTS} requests in ${wall.toFixed(2)} s, gateway CPU ${cpu.toFixed(2)} s = ${((cpu / REQUESTS) * 1e6).toFixed(1)} µs/request`,
    );
  }
  perRequest.sort((a, b) => a - b);
  console.log(
    `median gateway CPU per request: ${perRequest[Math.floor(perRequest.length / 2)].toFixed(1)} µs (${CLI.startsWith(root) ? 'this checkout' : CLI})`,
  );
  await pool.close();
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  upstream.close();
  rmSync(work, { recursive: true, force: true });
}
