// `npm run bench:tls`: isogate's TLS port, HTTP/2 and WebSocket proxying against nginx terminating TLS
// with the same certificate in front of the same upstreams, measured in the same run. Not a test: it
// prints figures. Targets, each isogate run followed by nginx's (ratio = isogate ÷ nginx):
//   plain HTTP keep-alive (the baseline ratio), HTTPS keep-alive (req/s and p99 at CONNS connections),
//   new TLS handshakes per second (wrk with `Connection: close`: one full handshake per request),
//   HTTP/2 req/s (h2load), and WebSocket echo messages/s through isogate against direct to the node.
//
// Env: DUR (10s) WARM (3s) CONNS (50) THREADS (2) ROUNDS (3) H2_CLIENTS (10) H2_STREAMS (10)
// WS_CONNS (50) WS_SECONDS (10) ONLY (comma-separated rows to run: http, https, handshakes, h2, ws; all by
// default) WORKERS (the gateway's --workers) NODE_FLAGS (node flags for the gateway's main process: with
// WORKERS=0, `--cpu-prof --cpu-prof-dir=DIR` profiles the gateway itself) FLOOR=1 (also runs the HTTPS,
// handshake and HTTP/2 loads against bench/node-floor.mjs: node:tls and node:http2 answering by
// themselves, the most a Node.js gateway could serve there). Smoke run: DUR=2s WARM=1s ROUNDS=1 WS_SECONDS=2 npm run bench:tls
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import {
  addApi,
  adminClient,
  benchKnobs,
  log,
  median,
  nginxEchoServers,
  runBench,
  sleep,
  startNodeFloor,
  waitOk,
  wrk,
} from './common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DUR = process.env.DUR ?? '10s';
const WARM = process.env.WARM ?? '3s';
const CONNS = process.env.CONNS ?? '50';
const THREADS = process.env.THREADS ?? '2';
const ROUNDS = Math.max(1, Math.min(10, Number(process.env.ROUNDS ?? 3) || 3));
const H2_CLIENTS = process.env.H2_CLIENTS ?? '10';
const H2_STREAMS = process.env.H2_STREAMS ?? '10';
const WS_CONNS = Number(process.env.WS_CONNS ?? 50);
const WS_SECONDS = Number(process.env.WS_SECONDS ?? 10);
const KNOBS = benchKnobs();
const FLOOR = process.env.FLOOR === '1';
const HOST = '127.0.0.1';
const UP_PORTS = [18381, 18382, 18383];
const WS_PORT = 18384;
const GW = 18390,
  GW_TLS = 18393,
  ADMIN = 18391,
  STATUS = 18392;
const NGX = 18395,
  NGX_TLS = 18396;
const FLOOR_TLS = 18397;
const TOKEN = 'bench-token-0123456789abcdef';
const work = mkdtempSync(join(tmpdir(), 'isogate-bench-tls-'));
const started = [];

function requireTools() {
  const missing = ['wrk', 'nginx', 'h2load', 'openssl'].filter(
    (c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0,
  );
  if (missing.length > 0) {
    console.error(`missing ${missing.join(', ')} (Debian: apt-get install -y wrk nginx nghttp2-client openssl)`);
    process.exit(1);
  }
}

/** One self-signed certificate (EC P-256) for bench.test, used by isogate and nginx alike. */
function makeCertificate() {
  const cert = join(work, 'cert.pem');
  const key = join(work, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '30',
      '-subj',
      '/CN=bench.test',
      '-addext',
      'subjectAltName=DNS:bench.test',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/** The upstreams (nginx `return 200`, as `npm run bench` uses) and nginx as the TLS-terminating proxy in front of them. */
function startNginx({ cert, key }) {
  const upstreams = UP_PORTS.map((p) => `server ${HOST}:${p};`).join(' ');
  const lines = [
    `worker_processes 2; daemon off; pid ${work}/nginx.pid; error_log ${work}/nginx-error.log warn;`,
    'events { worker_connections 8192; }',
    `http { access_log off; keepalive_requests 1000000; keepalive_timeout 120s;`,
    `  client_body_temp_path ${work}/t1; proxy_temp_path ${work}/t2; fastcgi_temp_path ${work}/t3; uwsgi_temp_path ${work}/t4; scgi_temp_path ${work}/t5;`,
    `  upstream ups { ${upstreams} keepalive 128; }`,
    `  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }`,
  ];
  lines.push(...nginxEchoServers(HOST, UP_PORTS));
  // The proxy: the same certificate, TLS 1.2+, tickets and a session cache, HTTP/2, keep-alive upstreams.
  const proxy = `location / { proxy_pass http://ups; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /ws { proxy_pass http://${HOST}:${WS_PORT}; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; proxy_read_timeout 300s; }`;
  lines.push(`  server { listen ${HOST}:${NGX} backlog=4096; ${proxy} }`);
  lines.push(`  server { listen ${HOST}:${NGX_TLS} ssl http2 backlog=4096; ssl_certificate ${cert}; ssl_certificate_key ${key};
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m; ssl_session_tickets on; ${proxy} }`);
  lines.push('}');
  writeFileSync(join(work, 'nginx.conf'), lines.join('\n'));
  started.push(spawn('nginx', ['-p', work, '-c', join(work, 'nginx.conf')], { stdio: 'ignore', detached: true }));
}

function startWsEcho() {
  const child = spawn(process.execPath, [join(root, 'bench', 'ws-echo.mjs'), String(WS_PORT)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  started.push(child);
  return new Promise((resolve) => child.stdout.once('data', resolve));
}

function startGateway() {
  const args = [
    '--no-node-snapshot',
    ...KNOBS.nodeFlags,
    join(root, 'dist/src/cli.js'),
    'start',
    '--no-demo',
    '--no-access-log',
    '--data-dir',
    join(work, 'data'),
    '--gateway-host',
    HOST,
    '--gateway-port',
    String(GW),
    '--gateway-tls-port',
    String(GW_TLS),
    '--admin-port',
    String(ADMIN),
    '--status-host',
    HOST,
    '--status-port',
    String(STATUS),
  ];
  args.push(...KNOBS.cliArgs);
  started.push(
    spawn(process.execPath, args, {
      env: { ...process.env, ISOGATE_ADMIN_TOKEN: TOKEN, NODE_ENV: 'production' },
      stdio: 'ignore',
      detached: true,
    }),
  );
}

const admin = adminClient(`http://${HOST}:${ADMIN}`, TOKEN);

async function configure({ cert, key }) {
  await admin('POST', '/admin/certificates', {
    certificate: readFileSync(cert, 'utf8'),
    privateKey: readFileSync(key, 'utf8'),
  });
  await addApi(
    admin,
    'plain',
    UP_PORTS.map((p, i) => ({ name: `up${i + 1}`, url: `http://${HOST}:${p}` })),
  );
  await addApi(admin, 'ws', [{ name: 'echo', url: `http://${HOST}:${WS_PORT}` }]);
}

function runWrk(name, url, headers = []) {
  const args = headers.flatMap((h) => ['-H', h]);
  wrk(url, { threads: THREADS, conns: CONNS, dur: WARM, args });
  const r = wrk(url, { threads: THREADS, conns: CONNS, dur: DUR, args });
  log(`${name}: ${Math.round(r.rps)} req/s  p99 ${r.p99.toFixed(2)} ms  non-2xx ${r.non2xx} ${r.sockErr}`);
  return { rate: r.rps, p99: r.p99, errors: r.non2xx + (r.sockErr ? 1 : 0) };
}

/** h2load for DUR seconds after WARM: H2_CLIENTS connections with H2_STREAMS streams each. */
function runH2load(name, url) {
  const seconds = (v) => String(Math.max(1, parseFloat(v)));
  const r = spawnSync(
    'h2load',
    ['-c', H2_CLIENTS, '-m', H2_STREAMS, '-t', THREADS, '-D', seconds(DUR), '--warm-up-time', seconds(WARM), url],
    { encoding: 'utf8' },
  );
  const text = r.stdout ?? '';
  const rate = Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(text)?.[1] ?? 0);
  const failed = Number(/(\d+) failed/.exec(text)?.[1] ?? 0);
  const proto = /Application protocol: (\S+)/.exec(text)?.[1] ?? '?';
  log(`${name}: ${Math.round(rate)} req/s (${proto}), ${failed} failed`);
  return { rate, p99: NaN, errors: failed + (proto === 'h2' ? 0 : 1) };
}

/** WS_CONNS WebSockets, each echoing one 64-byte message at a time for WS_SECONDS: messages/s. */
async function runWs(name, url) {
  const payload = Buffer.alloc(64, 120);
  const sockets = await Promise.all(
    Array.from(
      { length: WS_CONNS },
      () =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(url, { perMessageDeflate: false });
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  let count = 0;
  let stop = false;
  for (const ws of sockets) {
    ws.on('message', () => {
      count++;
      if (!stop) ws.send(payload);
    });
  }
  for (const ws of sockets) ws.send(payload);
  await sleep(Math.min(3_000, WS_SECONDS * 300)); // warm-up
  const from = count;
  const t0 = performance.now();
  await sleep(WS_SECONDS * 1000);
  const rate = ((count - from) * 1000) / (performance.now() - t0);
  stop = true;
  for (const ws of sockets) ws.terminate();
  log(`${name}: ${Math.round(rate)} messages/s over ${WS_CONNS} connections`);
  return { rate, p99: NaN, errors: 0 };
}

async function main() {
  requireTools();
  const pem = makeCertificate();
  startNginx(pem);
  await startWsEcho();
  if (FLOOR) started.push(await startNodeFloor({ tlsPort: FLOOR_TLS, pem }));
  for (const p of UP_PORTS) await waitOk(`http://${HOST}:${p}/`);
  startGateway();
  await waitOk(`http://${HOST}:${STATUS}/status/ready`, 300);
  await configure(pem);
  log(
    `wrk -t${THREADS} -c${CONNS} -d${DUR} (after ${WARM}), h2load -c${H2_CLIENTS} -m${H2_STREAMS}, ${WS_CONNS} WebSockets for ${WS_SECONDS} s, ${ROUNDS} rounds, node ${process.version}`,
  );
  // [what, unit, isogate run, reference run, reference name, key]
  const all = [
    [
      'plain HTTP keep-alive',
      'req/s',
      () => runWrk('isogate http', `http://${HOST}:${GW}/plain`),
      () => runWrk('nginx http', `http://${HOST}:${NGX}/plain`),
      'nginx',
      'http',
    ],
    [
      'HTTPS keep-alive',
      'req/s',
      () => runWrk('isogate https', `https://${HOST}:${GW_TLS}/plain`),
      () => runWrk('nginx https', `https://${HOST}:${NGX_TLS}/plain`),
      'nginx',
      'https',
      () => runWrk('node alone https', `https://${HOST}:${FLOOR_TLS}/plain`),
    ],
    [
      'new TLS handshakes',
      'handshakes/s',
      () => runWrk('isogate handshakes', `https://${HOST}:${GW_TLS}/plain`, ['Connection: close']),
      () => runWrk('nginx handshakes', `https://${HOST}:${NGX_TLS}/plain`, ['Connection: close']),
      'nginx',
      'handshakes',
      () => runWrk('node alone handshakes', `https://${HOST}:${FLOOR_TLS}/plain`, ['Connection: close']),
    ],
    [
      'HTTP/2',
      'req/s',
      () => runH2load('isogate h2', `https://${HOST}:${GW_TLS}/plain`),
      () => runH2load('nginx h2', `https://${HOST}:${NGX_TLS}/plain`),
      'nginx',
      'h2',
      () => runH2load('node alone h2', `https://${HOST}:${FLOOR_TLS}/plain`),
    ],
    [
      'WebSocket echo',
      'messages/s',
      () => runWs('isogate ws', `ws://${HOST}:${GW}/ws`),
      () => runWs('direct ws', `ws://${HOST}:${WS_PORT}/ws`),
      'direct',
      'ws',
    ],
  ];
  const pairs = all.filter((p) => KNOBS.only === null || KNOBS.only.has(p[5]));
  const results = pairs.map(() => []);
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}/${ROUNDS}`);
    for (const [i, [, , ours, theirs, , , floor]] of pairs.entries()) {
      const a = await ours();
      const b = await theirs();
      const c = FLOOR && floor !== undefined ? await floor() : null;
      results[i].push({ a, b, c, ratio: a.rate / b.rate });
    }
  }
  console.log(`\nmedian of ${ROUNDS} round(s):\n`);
  console.log('| target | isogate | reference | isogate ÷ reference | isogate p99 ms | reference p99 ms | errors |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [i, [what, unit, , , ref]] of pairs.entries()) {
    const rs = results[i];
    const p99 = (xs) => (Number.isFinite(median(xs)) ? median(xs).toFixed(2) : '—');
    const errors = rs.reduce((n, r) => n + r.a.errors + r.b.errors, 0);
    console.log(
      `| ${what} (${unit}) | ${Math.round(median(rs.map((r) => r.a.rate)))} | ${ref} ${Math.round(median(rs.map((r) => r.b.rate)))} | ${median(rs.map((r) => r.ratio)).toFixed(3)} | ${p99(rs.map((r) => r.a.p99))} | ${p99(rs.map((r) => r.b.p99))} | ${errors} |`,
    );
  }
  if (FLOOR) printFloor(pairs, results);
  const at = (key) => pairs.findIndex((p) => p[5] === key);
  if (at('http') < 0) return;
  const base = median(results[at('http')].map((r) => r.ratio));
  console.log(
    `\ngoal: each TLS, HTTP/2 ratio to nginx at least the plain-HTTP ratio of this run (${base.toFixed(3)}):`,
  );
  for (const i of ['https', 'handshakes', 'h2'].map(at).filter((i) => i >= 0)) {
    const ratio = median(results[i].map((r) => r.ratio));
    console.log(`  ${pairs[i][0]}: ${ratio.toFixed(3)} ${ratio >= base ? 'MET' : 'MISSED'}`);
  }
}

/** The FLOOR=1 table: node:tls / node:http2 answering by themselves, against nginx and against isogate. */
function printFloor(pairs, results) {
  console.log(`\nnode alone (bench/node-floor.mjs: answers every request itself, no routing, no upstream):\n`);
  console.log('| target | node alone | node alone ÷ nginx | isogate ÷ node alone |');
  console.log('|---|---:|---:|---:|');
  for (const [i, [what, unit]] of pairs.entries()) {
    const rs = results[i].filter((r) => r.c !== null);
    if (rs.length === 0) continue;
    const floor = median(rs.map((r) => r.c.rate));
    const toNginx = median(rs.map((r) => r.c.rate / r.b.rate));
    const ours = median(rs.map((r) => r.a.rate / r.c.rate));
    console.log(`| ${what} (${unit}) | ${Math.round(floor)} | ${toNginx.toFixed(3)} | ${ours.toFixed(3)} |`);
  }
}

function cleanup() {
  for (const p of started) {
    try {
      process.kill(-p.pid, 'SIGTERM');
    } catch {}
  }
  // A profiled gateway writes its profile once its shutdown has ended.
  if (KNOBS.profileWaitMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, KNOBS.profileWaitMs);
  rmSync(work, { recursive: true, force: true });
}

runBench(main, cleanup);
