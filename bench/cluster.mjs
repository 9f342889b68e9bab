// `npm run bench:cluster`: high availability on PostgreSQL, measured. Not a test: it prints figures.
//
// 1. Propagation: one `isogate admin` and three `isogate gateway` processes on a fresh PostgreSQL
//    schema; FLIPS variable flips through the admin API, each timed from sending the PUT until every
//    gateway answers a request the way the flip demands (its only node is ruled by IP1_enable).
// 2. Workers: requests/s of one `isogate gateway --workers 1` and then `--workers 2`, loaded by wrk.
//
// Env: ISOGATE_BENCH_PG (postgres://postgres@127.0.0.1:5432/test), FLIPS (100), DUR (10s), WARM (2s),
// CONNS (50), THREADS (2). The schema is dropped at the end.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort, log, sleep, startNginx, wrk } from './common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PG_URL = process.env.ISOGATE_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const FLIPS = Number(process.env.FLIPS ?? 100);
const DUR = process.env.DUR ?? '10s';
const WARM = process.env.WARM ?? '2s';
const CONNS = process.env.CONNS ?? '50';
const THREADS = process.env.THREADS ?? '2';
const HOST = '127.0.0.1';
const TOKEN = 'bench-cluster-token-0123456789';
const schema = `bench_${randomBytes(5).toString('hex')}`;
const storeUrl = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
const work = mkdtempSync(join(tmpdir(), 'isogate-bench-cluster-'));
const children = [];

async function sql(text) {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/** nginx `return 200` upstreams, as `npm run bench` uses, each naming itself in x-node. */
async function startUpstreams(n) {
  const ports = await Promise.all(Array.from({ length: n }, freePort));
  const servers = ports.map(
    (p, i) =>
      `server { listen ${HOST}:${p} backlog=4096; location / { add_header x-node up${i}; default_type application/json; return 200 '{"node":"up${i}"}'; } }`,
  );
  children.push(startNginx(work, servers));
  return ports;
}

/** Starts one isogate command on free ports; resolves once it is ready. */
async function isogate(command, args) {
  const [gateway, admin, status] = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(work, `${command}-`));
  const child = spawn(
    process.execPath,
    [
      '--no-node-snapshot',
      join(root, 'dist/src/cli.js'),
      command,
      '--store',
      storeUrl,
      '--data-dir',
      dir,
      '--log-level',
      'warn',
      '--no-access-log',
      '--gateway-host',
      HOST,
      '--gateway-port',
      String(gateway),
      '--admin-port',
      String(admin),
      '--status-host',
      HOST,
      '--status-port',
      String(status),
      ...args,
    ],
    { env: { PATH: process.env.PATH, ISOGATE_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(child);
  const probe =
    command === 'admin' ? `http://${HOST}:${admin}/admin/config/version` : `http://${HOST}:${status}/status/ready`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`isogate ${command} exited with ${child.exitCode}`);
    try {
      const r = await fetch(probe, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (r.status === 200) return { child, gateway, admin, status };
    } catch {}
    await sleep(50);
  }
  throw new Error(`isogate ${command} did not become ready`);
}

async function stop(proc) {
  if (proc.child.exitCode !== null) return;
  const exited = new Promise((r) => proc.child.once('exit', r));
  proc.child.kill('SIGTERM');
  await exited;
}

async function adminCall(admin, method, path, body) {
  const res = await fetch(`http://${HOST}:${admin.admin}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

/** One GET on a keep-alive agent: 'ip1' when the IP1 node answered, else the gateway error code. */
function probe(agent, port) {
  return new Promise((resolve, reject) => {
    const req = request({ host: HOST, port, path: '/ip1', agent }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve(res.statusCode === 200 ? 'ip1' : String(res.headers['x-isogate-error'] ?? res.statusCode)),
      );
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('no answer in 5 s')));
    req.end();
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

function load(url, dur) {
  const r = wrk(url, { threads: THREADS, conns: CONNS, dur });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  return r;
}

async function main() {
  for (const cmd of ['wrk', 'nginx']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0)
      throw new Error(`${cmd} is missing (Debian: apt-get install -y ${cmd})`);
  }
  await sql('SELECT 1').catch((err) => {
    throw new Error(`PostgreSQL is not reachable at ${PG_URL} (${err.message}); set ISOGATE_BENCH_PG`);
  });
  const [up] = await startUpstreams(1);

  log(`PostgreSQL schema ${schema}; starting 1 admin and 3 gateway processes`);
  const admin = await isogate('admin', []);
  await adminCall(admin, 'PUT', '/admin/variables/IP1_enable', { value: 'true' });
  const api = await adminCall(admin, 'POST', '/admin/apis', { name: 'ip1', path: '/ip1', algorithm: 'round_robin' });
  await adminCall(admin, 'POST', `/admin/apis/${api.id}/nodes`, {
    name: 'ip1',
    connector: { kind: 'simple-url', url: `http://${HOST}:${up}` },
    rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }],
  });
  // The poll is a minute: every flip has to arrive by LISTEN/NOTIFY.
  const gateways = await Promise.all([0, 1, 2].map(() => isogate('gateway', ['--workers', '0', '--poll-ms', '60000'])));
  const agents = gateways.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));

  const times = [];
  const putTimes = [];
  let value = 'true';
  for (let i = 0; i < FLIPS; i++) {
    value = value === 'true' ? 'false' : 'true';
    const want = value === 'true' ? 'ip1' : 'RULES_EXCLUDED_ALL';
    const started = performance.now();
    await adminCall(admin, 'PUT', '/admin/variables/IP1_enable', { value });
    putTimes.push(performance.now() - started);
    await Promise.all(
      gateways.map(async (g, j) => {
        // Bounded: 10 s per gateway per flip.
        for (let tries = 0; ; tries++) {
          if ((await probe(agents[j], g.gateway)) === want) return;
          if (performance.now() - started > 10_000) throw new Error(`flip ${i} did not reach gateway ${j} within 10 s`);
          await sleep(1);
        }
      }),
    );
    times.push(performance.now() - started);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const f = (n) => `${n.toFixed(1)} ms`;
  const puts = [...putTimes].sort((a, b) => a - b);
  // Heartbeats report a new version within about 100 ms; give them a moment (bounded) before reading the view.
  let view;
  let current = 0;
  for (let i = 0; i < 40; i++) {
    view = await adminCall(admin, 'GET', '/admin/cluster');
    current = view.processes.filter((p) => p.state === 'alive' && p.configVersion === view.configVersion).length;
    if (current === 4) break;
    await sleep(50);
  }
  console.log(
    `\nPropagation over ${FLIPS} IP1_enable flips to 3 gateway processes (admin PUT sent → every gateway serves it):`,
  );
  console.log(
    `  p50 ${f(pct(sorted, 50))}   p90 ${f(pct(sorted, 90))}   p99 ${f(pct(sorted, 99))}   max ${f(sorted.at(-1))}   (target p99 < 100 ms)`,
  );
  console.log(
    `  of which the admin's answer to the PUT (write committed, its own snapshot rebuilt): p50 ${f(pct(puts, 50))}   p99 ${f(pct(puts, 99))}`,
  );
  console.log(
    `  cluster view: ${view.processes.length} processes, ${current} alive on config version ${view.configVersion}`,
  );
  for (const a of agents) a.destroy();
  await Promise.all(gateways.map(stop));

  // An odd FLIPS leaves IP1_enable off, and the API's only node with it: put it back before loading.
  await adminCall(admin, 'PUT', '/admin/variables/IP1_enable', { value: 'true' });

  console.log(
    `\nOne gateway, wrk -t${THREADS} -c${CONNS} -d${DUR} (after ${WARM} warm-up) on /ip1 (one nginx upstream):`,
  );
  const results = [];
  for (const workers of [1, 2]) {
    const g = await isogate('gateway', ['--workers', String(workers)]);
    const url = `http://${HOST}:${g.gateway}/ip1`;
    load(url, WARM);
    const r = load(url, DUR);
    results.push(r.rps);
    console.log(
      `  --workers ${workers}: ${Math.round(r.rps)} req/s${r.non2xx ? `, ${r.non2xx} non-2xx` : ''}${r.sockErr ? `, Socket errors: ${r.sockErr}` : ''}`,
    );
    await stop(g);
  }
  console.log(
    `  --workers 2 / --workers 1: ${(results[1] / results[0]).toFixed(2)}×  (machine cores: ${(await import('node:os')).availableParallelism()}, shared with wrk and nginx)`,
  );
  await stop(admin);
}

main()
  .catch((err) => {
    console.error(`bench:cluster failed: ${err.stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await sleep(500);
    await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch((err) =>
      console.error(`could not drop schema ${schema}: ${err.message}`),
    );
    rmSync(work, { recursive: true, force: true });
  });
