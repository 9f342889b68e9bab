// `npm run soak`: a bounded soak of the built gateway. It starts `isogate start --workers 2` with one
// API (round robin, retries 2) over three node:http upstreams on 127.0.0.1, loads it with a keep-alive
// undici client for SOAK_SECONDS while one upstream flaps (its port closes, cutting its connections
// like a crash, and reopens every SOAK_FLAP_SECONDS), then prints requests sent, non-2xx answers by
// status and x-isogate-error code, latency percentiles, what the gateway's /metrics counted, and the
// gateway's memory (RSS and heap of the primary and workers) before and after. Not a test.
//
// Env: SOAK_SECONDS (60), SOAK_FLAP_SECONDS (3), SOAK_CONNECTIONS (32), SOAK_WORKERS (2),
// SOAK_MAX_REQUESTS (5000000: a hard cap besides the time).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, openSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { freePort, log, percentile, sleep } from './common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const FLAP_SECONDS = Number(process.env.SOAK_FLAP_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 32);
const WORKERS = Number(process.env.SOAK_WORKERS ?? 2);
const MAX_REQUESTS = Number(process.env.SOAK_MAX_REQUESTS ?? 5_000_000);
const TOKEN = 'soak-token-0123456789abcdef';
const work = mkdtempSync(join(tmpdir(), 'isogate-soak-'));
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** An upstream on a fixed port that can go down (connections cut) and come back. */
function upstream(name, port) {
  const body = JSON.stringify({ node: name, pad: 'x'.repeat(80) });
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'x-node': name });
    res.end(body);
  });
  server.keepAliveTimeout = 65_000;
  return {
    name,
    port,
    up: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      }),
    down: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function until(fn, tries = 300) {
  for (let i = 0; i < tries; i++) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {}
    await sleep(50);
  }
  throw new Error('not ready in time');
}

/** Sums of every sample of each metric name matching the label filter, from a /metrics scrape. */
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function rssOf(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return Number(line.split(/\s+/)[1]) * 1024;
  } catch {
    return NaN;
  }
}

async function memory(statusPort) {
  const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${statusPort}/metrics`)).text());
  const sum = (name) => samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);
  const details = await (await fetch(`http://127.0.0.1:${statusPort}/status`)).json();
  return {
    samples,
    rss: sum('process_resident_memory_bytes'),
    heap: sum('nodejs_heap_size_used_bytes'),
    processes: [
      { role: 'primary', pid: details.pid },
      ...(details.workers ?? []).map((w, i) => ({ role: `worker ${i + 1}`, pid: w.pid })),
    ].map((p) => ({ ...p, rss: rssOf(p.pid) })),
  };
}

const ports = [await freePort(), await freePort(), await freePort()];
const ups = ['a', 'b', 'flappy'].map((name, i) => upstream(name, ports[i]));
await Promise.all(ups.map((u) => u.up()));
const [gw, admin, status] = [await freePort(), await freePort(), await freePort()];
const out = openSync(join(work, 'gateway.log'), 'a');
const child = spawn(
  process.execPath,
  [
    '--no-node-snapshot',
    join(root, 'dist/src/cli.js'),
    'start',
    '--workers',
    String(WORKERS),
    '--no-demo',
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
  { env: { PATH: process.env.PATH, ISOGATE_ADMIN_TOKEN: TOKEN, NODE_ENV: 'production' }, stdio: ['ignore', out, out] },
);
let flapper = null;
try {
  await until(async () => (await fetch(`http://127.0.0.1:${status}/status/ready`)).status === 200);
  const call = async (method, path, body) => {
    const res = await fetch(`http://127.0.0.1:${admin}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  // Active probes every 500 ms bring flappy back soon after it is up; passive checks eject it after
  // 3 failed requests, for 1 s growing with each ejection (capped at 10 s).
  const api = await call('POST', '/admin/apis', {
    name: 'soak',
    path: '/soak/*',
    algorithm: 'round_robin',
    retries: 2,
    health: {
      active: { path: '/', intervalMs: 500, timeoutMs: 300, healthyThreshold: 1, unhealthyThreshold: 2 },
      passive: { consecutiveFailures: 3, baseEjectionMs: 1_000, maxEjectionMs: 10_000 },
    },
  });
  for (const u of ups)
    await call('POST', `/admin/apis/${api.id}/nodes`, {
      name: u.name,
      connector: { kind: 'simple-url', url: `http://127.0.0.1:${u.port}` },
    });

  const pool = new Pool(`http://127.0.0.1:${gw}`, {
    connections: CONNECTIONS,
    pipelining: 1,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  const outcomes = new Map();
  const latencies = [];
  let sent = 0;
  let ok = 0;
  const tally = (key) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  const load = async (untilMs, record) => {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (Date.now() < untilMs && sent < MAX_REQUESTS) {
          if (record) sent++;
          const t0 = performance.now();
          try {
            const res = await pool.request({ method: 'GET', path: '/soak/item?n=1' });
            await res.body.dump();
            if (!record) continue;
            latencies.push(performance.now() - t0);
            if (res.statusCode >= 200 && res.statusCode < 300) ok++;
            else tally(`${res.statusCode} ${res.headers['x-isogate-error'] ?? '(from the upstream)'}`);
          } catch (err) {
            if (record) tally(`client error ${err.code ?? err.message}`);
          }
        }
      }),
    );
  };

  log(`warming up for 3 s (${CONNECTIONS} connections, ${WORKERS} workers)`);
  await load(Date.now() + 3_000, false);
  await sleep(500);
  const before = await memory(status);
  const load0 = loadavg();
  log(`soak: ${SECONDS} s of load while "flappy" goes down and up every ${FLAP_SECONDS} s`);
  const flappy = ups[2];
  let flaps = 0;
  let isUp = true;
  flapper = setInterval(() => {
    (isUp ? flappy.down() : flappy.up()).then(
      () => {
        isUp = !isUp;
        flaps++;
      },
      (err) => log('flap failed', err.message),
    );
  }, FLAP_SECONDS * 1000);
  const startedAt = performance.now();
  await load(Date.now() + SECONDS * 1000, true);
  const elapsed = (performance.now() - startedAt) / 1000;
  clearInterval(flapper);
  flapper = null;
  if (!isUp) await flappy.up();
  await pool.close();
  await sleep(2_000); // let the gateway settle (idle sockets, GC) before measuring again
  const after = await memory(status);
  const load1 = loadavg();

  latencies.sort((a, b) => a - b);
  const metric = (samples, name, filter = {}) =>
    samples
      .filter((s) => s.name === name && Object.entries(filter).every(([k, v]) => s.labels[k] === v))
      .reduce((n, s) => n + s.value, 0);
  const delta = (name, filter) => metric(after.samples, name, filter) - metric(before.samples, name, filter);

  console.log('');
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${mib(totalmem())} RAM, Node ${process.version}; load average ${load0[0].toFixed(2)} before, ${load1[0].toFixed(2)} after`,
  );
  console.log(
    `gateway: isogate start --workers ${WORKERS}, access log on (to a file), 1 API round robin over 3 node:http upstreams, retries 2, active probes every 500 ms, passive ejection after 3 failures (1 s base, 10 s cap)`,
  );
  console.log(
    `load: ${CONNECTIONS} keep-alive connections for ${elapsed.toFixed(1)} s; "flappy" went down/up ${flaps} times (every ${FLAP_SECONDS} s, connections cut)`,
  );
  console.log('');
  console.log(`requests sent: ${sent} (${Math.round(sent / elapsed)}/s)`);
  console.log(`2xx:           ${ok}`);
  const bad = [...outcomes.entries()].sort((a, b) => b[1] - a[1]);
  console.log(`non-2xx:       ${sent - ok}${bad.length ? '' : ' (none)'}`);
  for (const [key, n] of bad) console.log(`  ${String(n).padStart(8)}  ${key}`);
  console.log(
    `latency ms:    p50 ${percentile(latencies, 0.5).toFixed(2)}  p90 ${percentile(latencies, 0.9).toFixed(2)}  p99 ${percentile(latencies, 0.99).toFixed(2)}  max ${latencies.at(-1)?.toFixed(1)}`,
  );
  console.log('');
  console.log('the gateway counted (/metrics, during the soak):');
  for (const cls of ['2xx', '4xx', '5xx'])
    console.log(
      `  isogate_requests_total{class="${cls}"}  ${delta('isogate_requests_total', { api: 'soak', class: cls })}`,
    );
  for (const u of ups)
    console.log(
      `  isogate_requests_total{node="${u.name}"}  ${delta('isogate_requests_total', { api: 'soak', node: u.name })}`,
    );
  for (const u of ups)
    console.log(
      `  isogate_upstream_connect_failures_total{node="${u.name}"}  ${delta('isogate_upstream_connect_failures_total', { api: 'soak', node: u.name })}`,
    );
  for (const reason of ['connect', 'timeout', 'reset', 'status']) {
    console.log(
      `  isogate_upstream_retries_total{reason="${reason}"}  ${delta('isogate_upstream_retries_total', { api: 'soak', reason })}`,
    );
  }
  for (const u of ups)
    console.log(
      `  isogate_node_healthy{node="${u.name}"} at the end  ${after.samples.find((s) => s.name === 'isogate_node_healthy' && s.labels.api === 'soak' && s.labels.node === u.name)?.value ?? '-'}`,
    );
  for (const code of new Set(
    after.samples
      .filter((s) => s.name === 'isogate_gateway_errors_total' && s.labels.api === 'soak')
      .map((s) => s.labels.code),
  )) {
    console.log(
      `  isogate_gateway_errors_total{code="${code}"}  ${delta('isogate_gateway_errors_total', { api: 'soak', code })}`,
    );
  }
  console.log('');
  console.log('gateway memory               before        after');
  console.log(`  RSS, all processes   ${mib(before.rss).padStart(12)} ${mib(after.rss).padStart(12)}`);
  console.log(`  V8 heap used, all    ${mib(before.heap).padStart(12)} ${mib(after.heap).padStart(12)}`);
  for (const p of after.processes) {
    const b = before.processes.find((x) => x.role === p.role);
    const samePid = b && b.pid === p.pid ? '' : ' (restarted)';
    console.log(`  RSS ${p.role.padEnd(16)} ${mib(b?.rss ?? NaN).padStart(12)} ${mib(p.rss).padStart(12)}${samePid}`);
  }
} finally {
  if (flapper) clearInterval(flapper);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await Promise.all(ups.map((u) => u.down().catch(() => undefined)));
  rmSync(work, { recursive: true, force: true });
}
