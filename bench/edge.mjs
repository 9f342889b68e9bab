// `npm run bench:edge`: what holding the edge costs, measured. Not a test: it prints figures (the
// table in docs/edge-limits.md is filled from its output on a quiet machine).
//
// One `isogate start --workers 0` (so the gateway is one process whose memory is read from /proc),
// nginx `return 200` upstreams, and this process as every client:
//  1. idle connections: IDLE connections that send nothing; the gateway's RSS and heap before and
//     after, per connection;
//  2. slowloris: SLOWLORIS connections each holding an unfinished request head of HEAD_BYTES, then
//     of 12 KiB (the head memory limit refuses those past it: admitted and refused are printed);
//  3. another client's latency (wrk, CONNS connections, DUR) with no slow connections, then while
//     SLOW connections are held (half slowloris, half clients that ask a large answer of another API,
//     /big, and never read it);
//  4. a slow node under load: an API over two fast nodes and one answering in SLOW_NODE_MS, RATE
//     requests/s for LOAD_SECONDS (open loop), latency and outcomes per node, with default limits.
//
// Env: IDLE (10000), SLOWLORIS (10000), HEAD_BYTES (100), SLOW (5000), CONNS (50), THREADS (2),
// DUR (10s), RATE (200), LOAD_SECONDS (30), SLOW_NODE_MS (5000), BIG_ANSWER_KB (1024). SMOKE=1: small counts, a few seconds.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addApi, adminClient, freePort, log, percentile, runBench, sleep, startNginx, waitOk, wrk } from './common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SMOKE = process.env.SMOKE === '1';
const num = (name, full, smoke) => Number(process.env[name] ?? (SMOKE ? smoke : full));
const IDLE = num('IDLE', 10_000, 300);
const SLOWLORIS = num('SLOWLORIS', 10_000, 300);
const HEAD_BYTES = num('HEAD_BYTES', 100, 100);
const SLOW = num('SLOW', 5_000, 200);
const CONNS = num('CONNS', 50, 10);
const THREADS = num('THREADS', 2, 1);
const DUR = process.env.DUR ?? (SMOKE ? '2s' : '10s');
const RATE = num('RATE', 200, 40);
const LOAD_SECONDS = num('LOAD_SECONDS', 30, 3);
const SLOW_NODE_MS = num('SLOW_NODE_MS', 5_000, 500);
const BIG_ANSWER_KB = num('BIG_ANSWER_KB', 1024, 1024);
const HOST = '127.0.0.1';
const TOKEN = 'bench-edge-token-0123456789abcdef';
const work = mkdtempSync(join(tmpdir(), 'isogate-bench-edge-'));
const children = [];
const sockets = new Set();

function need(cmd) {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0)
    throw new Error(`${cmd} is missing (Debian: apt-get install -y ${cmd})`);
}

/**
 * nginx `return 200` upstreams, each naming itself in x-node, and one more that serves a
 * BIG_ANSWER_KB file (the answer slow readers ask for); returns the fast ports and the big one.
 */
async function nginx(n) {
  const ports = await Promise.all(Array.from({ length: n }, freePort));
  const bigPort = await freePort();
  const files = join(work, 'big');
  mkdirSync(files, { recursive: true });
  writeFileSync(join(files, 'big'), Buffer.alloc(BIG_ANSWER_KB * 1024, 'b'));
  children.push(
    startNginx(work, [
      ...ports.map(
        (p, i) =>
          `server { listen ${HOST}:${p} backlog=4096; location / { add_header x-node fast${i + 1}; default_type application/json; return 200 '{"node":"fast${i + 1}"}'; } }`,
      ),
      `server { listen ${HOST}:${bigPort} backlog=4096; location / { root ${files}; try_files /big =404; } }`,
    ]),
  );
  return { fast: ports, bigPort };
}

/** A node answering after SLOW_NODE_MS, in its own process (so this one's load does not delay it). */
async function slowNode() {
  const port = await freePort();
  const code = `require('node:http').createServer((q, s) => setTimeout(() => { s.writeHead(200, { 'x-node': 'slow' }); s.end('slow'); }, ${SLOW_NODE_MS})).listen(${port}, '${HOST}')`;
  children.push(spawn(process.execPath, ['-e', code], { stdio: 'ignore' }));
  return port;
}

async function startGateway() {
  const [gw, admin, status] = [await freePort(), await freePort(), await freePort()];
  const args = [
    '--no-node-snapshot',
    '--max-semi-space-size=64',
    '--no-allocation-site-pretenuring',
    join(root, 'dist/src/cli.js'),
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
    HOST,
    '--gateway-port',
    String(gw),
    '--admin-port',
    String(admin),
    '--status-host',
    HOST,
    '--status-port',
    String(status),
    // Every client here is 127.0.0.1.
    '--max-client-connections-per-ip',
    '1000000',
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ISOGATE_ADMIN_TOKEN: TOKEN },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  await waitOk(`http://${HOST}:${status}/status/ready`, 400);
  return { child, gw, admin, status };
}

/** The gateway's resident memory (/proc) and the sums of some of its metrics. */
async function sample(g) {
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${g.child.pid}/status`, 'utf8'))[1]) * 1024;
  const text = await (await fetch(`http://${HOST}:${g.status}/metrics`)).text();
  const sum = (name) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  return {
    rss,
    heap: sum('nodejs_heap_size_used_bytes'),
    open: sum('isogate_client_connections'),
    idle: sum('isogate_client_connections_idle'),
    headMemory: sum('isogate_client_head_memory_bytes'),
    refusedHead: Number(/isogate_client_refusals_total\{limit="head_memory"\} (\S+)/.exec(text)?.[1] ?? 0),
  };
}

async function until(fn, ok, tries = 600, ms = 100) {
  let last;
  for (let i = 0; i < tries; i++) {
    last = await fn();
    if (ok(last)) return last;
    await sleep(ms);
  }
  throw new Error(`not reached: ${JSON.stringify(last)}`);
}

/** Opens `n` connections (100 at a time), writing `first` on each once connected (nothing when null). */
async function openMany(port, n, first, pause = false) {
  const opened = [];
  for (let at = 0; at < n; at += 100) {
    await Promise.all(
      Array.from(
        { length: Math.min(100, n - at) },
        () =>
          new Promise((resolve) => {
            const s = connect({ host: HOST, port });
            sockets.add(s);
            s.on('error', () => resolve());
            s.on('close', () => sockets.delete(s));
            s.once('connect', () => {
              if (pause) s.pause();
              if (first !== null) s.write(first);
              opened.push(s);
              resolve();
            });
          }),
      ),
    );
  }
  return opened;
}

function closeAll(list) {
  for (const s of list) s.destroy();
}

const mb = (b) => (b / 1024 / 1024).toFixed(1);
const kbPer = (b, n) => (n > 0 ? (b / n / 1024).toFixed(2) : '-');

/** Memory of `n` connections opened by `open`, held until measured, then closed. */
async function memoryOf(g, label, n, open) {
  await sleep(500);
  const before = await sample(g);
  const list = await open();
  await until(
    () => sample(g),
    (s) => s.open + s.refusedHead >= before.open + n - 5 || s.open >= before.open + list.length,
  );
  await sleep(1_000);
  const after = await sample(g);
  const refused = after.refusedHead - before.refusedHead;
  // A refused connection can still be counted open while it closes: it is not one of those held.
  const admitted = Math.min(after.open - before.open, n - refused);
  console.log(
    `${label}: ${n} opened, ${admitted} held, ${refused} refused (HEAD_MEMORY_FULL); RSS +${mb(after.rss - before.rss)} MB (${kbPer(after.rss - before.rss, admitted)} KiB each), ` +
      `heap +${mb(after.heap - before.heap)} MB (${kbPer(after.heap - before.heap, admitted)} KiB each), head memory ${mb(after.headMemory)} MB`,
  );
  closeAll(list);
  await until(
    () => sample(g),
    // Back to what was open before (a connection refused while more were still arriving can be
    // counted open in one reading and gone in the next, so the count while held is no baseline).
    (s) => s.open <= before.open + 5,
  );
  return {
    n,
    admitted,
    refused,
    rssPer: (after.rss - before.rss) / Math.max(1, admitted),
    heapPer: (after.heap - before.heap) / Math.max(1, admitted),
  };
}

/** RATE requests/s for LOAD_SECONDS, open loop; latency and outcome of each, by node. */
async function openLoop(g, path) {
  const agent = new Agent({ keepAlive: true, maxSockets: 4_000 });
  const results = [];
  const pending = [];
  const started = performance.now();
  const total = RATE * LOAD_SECONDS;
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const t0 = performance.now();
    pending.push(
      new Promise((resolve) => {
        const req = request({ host: HOST, port: g.gw, path, agent }, (res) => {
          res.resume();
          res.on('end', () => {
            results.push({
              who: res.headers['x-node'] ?? res.headers['x-isogate-error'] ?? String(res.statusCode),
              ms: performance.now() - t0,
            });
            resolve();
          });
        });
        req.on('error', (err) => {
          results.push({ who: `error:${err.code ?? err.message}`, ms: performance.now() - t0 });
          resolve();
        });
        req.setTimeout(SLOW_NODE_MS * 4 + 30_000, () => req.destroy(new Error('client timeout')));
        req.end();
      }),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return results;
}

async function main() {
  need('nginx');
  need('wrk');
  const { fast, bigPort } = await nginx(2);
  const slowPort = await slowNode();
  const g = await startGateway();
  const admin = adminClient(`http://${HOST}:${g.admin}`, TOKEN);
  const fastNodes = fast.map((p, i) => ({ name: `fast${i + 1}`, url: `http://${HOST}:${p}` }));
  await addApi(admin, 'plain', fastNodes);
  // What slow readers ask for: their own API, so that the nodes they hold are not /plain's.
  await addApi(admin, 'big', [{ name: 'big', url: `http://${HOST}:${bigPort}` }]);
  await addApi(admin, 'three', [...fastNodes, { name: 'slow', url: `http://${HOST}:${slowPort}` }], { retries: 0 });
  await waitOk(`http://${HOST}:${g.gw}/plain`);
  log(`gateway pid ${g.child.pid}; ${SMOKE ? 'SMOKE run: small counts' : 'full run'}; node ${process.version}`);

  console.log('\n# Memory (one gateway process, --workers 0; kernel socket buffers not included)');
  await memoryOf(g, 'idle connections', IDLE, () => openMany(g.gw, IDLE, null));
  const partial = (bytes) => `GET /plain HTTP/1.1\r\nHost: h\r\nX-Pad: ${'p'.repeat(Math.max(0, bytes - 41))}`;
  await memoryOf(g, `slowloris, ${HEAD_BYTES}-byte heads`, SLOWLORIS, () =>
    openMany(g.gw, SLOWLORIS, partial(HEAD_BYTES)),
  );
  await memoryOf(g, 'slowloris, 12 KiB heads', SLOWLORIS, () => openMany(g.gw, SLOWLORIS, partial(12 * 1024)));

  console.log(`\n# Another client's latency (wrk -t${THREADS} -c${CONNS} -d${DUR} on /plain)`);
  const url = `http://${HOST}:${g.gw}/plain`;
  wrk(url, { threads: THREADS, conns: CONNS, dur: '1s' });
  const quiet = wrk(url, { threads: THREADS, conns: CONNS, dur: DUR });
  console.log(
    `no slow connections:        ${Math.round(quiet.rps)} req/s  p50 ${quiet.p50.toFixed(2)} ms  p99 ${quiet.p99.toFixed(2)} ms  non-2xx ${quiet.non2xx}`,
  );
  const lorises = await openMany(g.gw, SLOW / 2, partial(HEAD_BYTES));
  // Slow readers: 4 pipelined GETs of a BIG_ANSWER_KB answer each, never read (answers stay buffered
  // up to --client-response-buffer-kb, then their node connections are paused and held).
  const readers = await openMany(g.gw, SLOW / 2, `GET /big HTTP/1.1\r\nHost: h\r\n\r\n`.repeat(4), true);
  await sleep(2_000);
  const held = await sample(g);
  const busy = wrk(url, { threads: THREADS, conns: CONNS, dur: DUR });
  console.log(
    `while ${SLOW} slow are held:  ${Math.round(busy.rps)} req/s  p50 ${busy.p50.toFixed(2)} ms  p99 ${busy.p99.toFixed(2)} ms  non-2xx ${busy.non2xx} ` +
      `(${held.open} client connections open, RSS ${mb(held.rss)} MB)`,
  );
  closeAll(lorises);
  closeAll(readers);
  await sleep(1_000);

  console.log(
    `\n# A slow node (${SLOW_NODE_MS} ms) beside two fast ones: ${RATE} req/s for ${LOAD_SECONDS} s, open loop, default limits`,
  );
  const results = await openLoop(g, '/three');
  const by = new Map();
  for (const r of results) {
    if (!by.has(r.who)) by.set(r.who, []);
    by.get(r.who).push(r.ms);
  }
  for (const [who, ms] of [...by.entries()].sort()) {
    console.log(
      `${who.padEnd(24)} ${String(ms.length).padStart(6)}  p50 ${percentile(ms, 0.5).toFixed(0)} ms  p99 ${percentile(ms, 0.99).toFixed(0)} ms  max ${Math.max(...ms).toFixed(0)} ms`,
    );
  }
}

function cleanup() {
  for (const s of sockets) s.destroy();
  // SIGTERM, not SIGKILL: an nginx master killed outright leaves its worker behind, holding its port.
  for (const c of children) {
    try {
      c.kill('SIGTERM');
    } catch {}
  }
  rmSync(work, { recursive: true, force: true });
}

runBench(main, cleanup);
