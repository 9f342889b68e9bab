// `npm run bench`: direct upstream vs nginx as a reverse proxy (1 worker) vs isogate (no selector,
// canary selector over 20 nodes memoized and not, the by-user-percent example with a different user
// id on every request, key auth rows), loaded by wrk on 127.0.0.1 for a bounded time. Not a test: it
// prints figures.
//
// Env: DUR (10s) WARM (3s) CONNS (50) THREADS (2) ROUNDS (3) SELECTOR_COST (0: skip bench/selector-cost.ts)
// ONLY (a comma-separated list of row keys to run: nginx, floor, plain, canary, canary-run, by-user, keyed-local,
// keyed-cluster; all by default; the direct row always runs) for a short run.
// REDIS (redis://127.0.0.1:6379; 0: no cluster-limit row) for the access rows: key authentication with
// a local rate limit that never triggers, and the same with a cluster limit on Redis.
// PAIRS (0): after the rounds, the memoized canary and the access rows each against the plain API in
// this many pairs of PAIR_DUR (3s) runs (bench/paired.mjs), for a cost that separate runs' drift hides.
// WORKERS (the gateway's --workers; one per core by default), NODE_FLAGS (node flags for the gateway's
// main process: with WORKERS=0, `--cpu-prof --cpu-prof-dir=DIR` profiles the gateway itself),
// ACCESS_LOG (1: keep the per-request log line on), FLOOR (1: one more row, bench/node-floor.mjs on
// plain HTTP, node:net answering every request itself in the gateway's number of workers: the rate
// and p99 a Node.js process reaches on this machine before any proxying, the floor under isogate's),
// LOG_TO (null, the default: the gateway's output, access log included, is written to /dev/null, so
// every line is built and written but the VM's disk is not part of the figures; file: to a file in the
// work dir, whose writeback bursts land in the later rounds).
// Each round measures direct before and after every target (direct, target 1, direct, target 2, …),
// and a target's ratio is its rate over the mean of the two direct runs around it: on a shared 2-core
// VM the direct rate alone moves by 2× from one run to the next, so one direct run per round made
// each round's ratios mostly noise. The summary gives each target's median over the rounds.
// The nginx reverse proxy is one more target measured the same way; a target's "× nginx" is its ratio
// to direct over nginx's ratio to direct in the same round.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  addApi,
  adminClient,
  benchKnobs,
  log,
  median,
  nginxEchoServers,
  sleep,
  startNginx,
  waitOk,
  startNodeFloor,
  wrk,
} from './common.mjs';
import { pairedRatio } from './paired.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DUR = process.env.DUR ?? '10s';
const WARM = process.env.WARM ?? '3s';
const CONNS = process.env.CONNS ?? '50';
const THREADS = process.env.THREADS ?? '2';
const ROUNDS = Math.max(1, Math.min(10, Number(process.env.ROUNDS ?? 3) || 3));
const ACCESS_LOG = process.env.ACCESS_LOG !== '0';
const PAIRS = Math.max(0, Math.min(100, Number(process.env.PAIRS ?? 0) || 0));
const PAIR_DUR = process.env.PAIR_DUR ?? '3s';
const FLOOR = process.env.FLOOR === '1';
const KNOBS = benchKnobs();
const LOG_TO = process.env.LOG_TO === 'file' ? 'file' : 'null';
const HOST = '127.0.0.1';
const UP_PORTS = [18281, 18282, 18283];
/** nginx as a reverse proxy to the same upstreams, the yardstick of the selector targets. */
const NGINX_PROXY = 18289;
const GW = 18290,
  ADMIN = 18291,
  STATUS = 18292;
/** bench/node-floor.mjs's plain HTTP port (FLOOR=1). */
const FLOOR_PLAIN = 18294;
const TOKEN = 'bench-token-0123456789abcdef';
const REDIS = process.env.REDIS === '0' ? null : (process.env.REDIS ?? 'redis://127.0.0.1:6379');
// This run's keys only, removed at the end.
const REDIS_PREFIX = `isogate-bench-${process.pid}:`;
const work = mkdtempSync(join(tmpdir(), 'isogate-bench-'));
const started = [];

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function ensureTools() {
  const missing = ['wrk', 'nginx'].filter((c) => !has(c));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.error(`missing ${missing.join(', ')}: install them (Debian: apt-get install -y ${missing.join(' ')})`);
    process.exit(1);
  }
  log(`installing ${missing.join(' ')}`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

function startUpstreams() {
  // Same shape as the shared anchors: nginx `return 200` with a 100-byte JSON body per port.
  started.push(startNginx(work, nginxEchoServers(HOST, UP_PORTS), { detached: true }));
  // A second nginx, 1 worker, proxying round-robin to them over kept-alive connections.
  const proxyWork = join(work, 'proxy');
  mkdirSync(proxyWork);
  const proxy = [
    `upstream echo { ${UP_PORTS.map((p) => `server ${HOST}:${p};`).join(' ')} keepalive 64; }`,
    `server { listen ${HOST}:${NGINX_PROXY} backlog=4096; location / { proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
  ];
  started.push(startNginx(proxyWork, proxy, { detached: true }));
}

/** A wrk script giving every request its own user id (`?uid=`), unique across wrk's threads and runs. */
function uniqueUserScript() {
  const file = join(work, 'unique-user.lua');
  writeFileSync(
    file,
    [
      // A random prefix per thread and wrk run: the warm-up and every round must not repeat ids.
      'math.randomseed(os.time() + math.floor(os.clock() * 1e6))',
      'function setup(thread) thread:set("tid", math.random(1, 1e9)) end',
      'local n = 0',
      'function request() n = n + 1; return wrk.format(nil, wrk.path .. "?uid=u" .. tid .. "-" .. n) end',
      '',
    ].join('\n'),
  );
  return file;
}

function startGateway() {
  // A file descriptor, not a pipe through this process, so logging costs only the gateway's own write.
  const out = openSync(LOG_TO === 'null' ? '/dev/null' : join(work, 'gateway.log'), 'a');
  const args = [
    '--no-node-snapshot',
    ...KNOBS.nodeFlags,
    join(root, 'dist/src/cli.js'),
    'start',
    '--no-demo',
    '--data-dir',
    join(work, 'data'),
    '--gateway-host',
    HOST,
    '--gateway-port',
    String(GW),
    '--admin-port',
    String(ADMIN),
    '--status-host',
    HOST,
    '--status-port',
    String(STATUS),
  ];
  args.push(...KNOBS.cliArgs);
  if (!ACCESS_LOG) args.push('--no-access-log');
  if (REDIS) args.push('--redis', REDIS, '--redis-prefix', REDIS_PREFIX);
  const gw = spawn(process.execPath, args, {
    env: { ...process.env, ISOGATE_ADMIN_TOKEN: TOKEN, NODE_ENV: 'production' },
    stdio: ['ignore', out, out],
    detached: true,
  });
  started.push(gw);
  return gw;
}

const admin = adminClient(`http://${HOST}:${ADMIN}`, TOKEN);

async function configure() {
  const up = UP_PORTS.map((p, i) => ({ name: `up${i + 1}`, url: `http://${HOST}:${p}` }));
  // 20 nodes over the three upstreams, the last two tagged temp (the canary's).
  const twenty = (prefix) =>
    Array.from({ length: 20 }, (_, i) => ({
      name: `${prefix}${i + 1}`,
      url: `http://${HOST}:${UP_PORTS[i % 3]}`,
      tags: i >= 18 ? ['temp'] : [],
    }));
  await addApi(admin, 'plain', up);
  const canary = await addApi(admin, 'canary', twenty('n'));
  const code = readFileSync(join(root, 'scripts-examples', 'canary-by-query.js'), 'utf8');
  // As a user saves it: memoize "auto" (the default), which the state analysis turns on for this
  // stateless script.
  await admin('PUT', `/admin/apis/${canary.id}/selector`, { code });
  // The same API and selector again with memoization off: a sandbox round trip on every request.
  const memo = await addApi(admin, 'canary-run', twenty('m'));
  await admin('PUT', `/admin/apis/${memo.id}/selector`, { code, memoize: false });
  // The by-user-percent example as a user saves it (memoize "auto"): with a different user id on every
  // request, every call is a miss and runs in the sandbox (the records fill up at their cap).
  const byUser = await addApi(admin, 'by-user', twenty('u'));
  await admin('PUT', `/admin/apis/${byUser.id}/selector`, {
    code: readFileSync(join(root, 'scripts-examples', 'by-user-percent.js'), 'utf8'),
  });
  // The access rows: the plain API's nodes behind key authentication (the key in the query, so wrk
  // needs no header) and a per-consumer limit far above any rate reached, local or on Redis.
  const consumer = await admin('POST', '/admin/consumers', { name: 'bench', credentials: [{ kind: 'key' }] });
  const key = consumer.credentials[0].secret;
  for (const policy of ['local', 'cluster'])
    await addApi(admin, `keyed-${policy}`, up, {
      access: {
        auth: { methods: [{ kind: 'key', header: null, query: 'apikey' }] },
        limits: [{ by: 'consumer', rate: 1_000_000_000, per: 'second', policy }],
      },
    });
  return { canaryId: canary.id, byUserId: byUser.id, key };
}

/** Redis's count of script calls (EVALSHA/EVAL), to show the cluster limit takes batches, not one call per request. */
async function redisScriptCalls() {
  if (!REDIS) return null;
  const { Redis } = await import('ioredis');
  const r = new Redis(REDIS, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await r.connect();
    const info = await r.info('commandstats');
    return ['evalsha', 'eval'].reduce(
      (n, c) => n + Number(new RegExp(`cmdstat_${c}:calls=(\\d+)`).exec(info)?.[1] ?? 0),
      0,
    );
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
}

async function dropRedisKeys() {
  if (!REDIS) return;
  const { Redis } = await import('ioredis');
  const r = new Redis(REDIS, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await r.connect();
    const keys = await r.keys(`${REDIS_PREFIX}*`);
    if (keys.length > 0) await r.del(...keys);
  } catch {
    // best effort: the keys expire on their own
  } finally {
    r.disconnect();
  }
}

function measure(name, url, args = []) {
  wrk(url, { threads: THREADS, conns: CONNS, dur: WARM, args });
  const r = wrk(url, { threads: THREADS, conns: CONNS, dur: DUR, args });
  log(
    `${name}: ${Math.round(r.rps)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  non-2xx ${r.non2xx} ${r.sockErr}`,
  );
  return { name, rps: r.rps, p50: r.p50, p99: r.p99, non2xx: r.non2xx, sockErr: r.sockErr };
}

/** GET with a few tries: a keep-alive connection left from the start may have been closed while idle. */
async function fetchText(url) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await (await fetch(url)).text();
    } catch (err) {
      if (attempt >= 3) throw err;
      await sleep(100);
    }
  }
}

/** The verifier's runs over all selectors, from the gateway's counter (summed over workers). */
async function verificationsFromMetrics() {
  const text = await fetchText(`http://${HOST}:${STATUS}/metrics`);
  const lines = text.split('\n').filter((l) => l.startsWith('isogate_selector_memo_verifications_total{'));
  if (lines.length === 0) return null;
  return lines.map((l) => `${/outcome="(\w+)"/.exec(l)?.[1]} ${l.split(' ').pop()}`).join(', ');
}

/** Selector time per API from the gateway's own histogram: calls, mean, and the buckets holding p50 and p99. */
async function selectorCostFromMetrics(api) {
  const text = await fetchText(`http://${HOST}:${STATUS}/metrics`);
  const mine = text
    .split('\n')
    .filter((l) => l.startsWith('isogate_selector_duration_seconds') && l.includes(`api="${api}"`));
  const value = (suffix) =>
    Number(
      mine
        .find((l) => l.startsWith(`isogate_selector_duration_seconds_${suffix}`))
        ?.split(' ')
        .pop() ?? NaN,
    );
  const count = value('count');
  const buckets = mine
    .filter((l) => l.startsWith('isogate_selector_duration_seconds_bucket'))
    .map((l) => ({ le: Number(/le="([^"]+)"/.exec(l)?.[1]), n: Number(l.split(' ').pop()) }))
    .filter((b) => Number.isFinite(b.le))
    .sort((a, b) => a.le - b.le);
  const upTo = (q) => (buckets.find((b) => b.n >= q * count)?.le ?? NaN) * 1e6;
  return { calls: count, mean: (value('sum') / count) * 1e6, p50: upTo(0.5), p99: upTo(0.99) };
}

async function selectorCostFromLog() {
  // Streamed: a bench run's access log is hundreds of MB.
  const us = [];
  const lines = createInterface({ input: createReadStream(join(work, 'gateway.log'), 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.includes('"api":"canary-run"')) continue; // the unmemoized one: every call runs in the sandbox
    const m = /"selectorUs":([\d.]+)/.exec(line);
    if (m) us.push(Number(m[1]));
  }
  us.sort((a, b) => a - b);
  const q = (p) => us[Math.min(us.length - 1, Math.floor(us.length * p))] ?? NaN;
  return { calls: us.length, mean: us.reduce((a, b) => a + b, 0) / (us.length || 1), p50: q(0.5), p99: q(0.99) };
}

async function main() {
  ensureTools();
  startUpstreams();
  for (const p of UP_PORTS) await waitOk(`http://${HOST}:${p}/`);
  if (FLOOR) started.push(await startNodeFloor({ plainPort: FLOOR_PLAIN }));
  startGateway();
  await waitOk(`http://${HOST}:${STATUS}/status/ready`);
  const { canaryId, byUserId, key } = await configure();
  const canaryCheck = await fetch(`http://${HOST}:${GW}/canary?select_code=temp_node`);
  if (canaryCheck.status !== 200) throw new Error(`canary route answers ${canaryCheck.status}`);
  const memoization = (await admin('GET', `/admin/apis/${canaryId}/selector`)).status?.memoization;
  log(`canary selector saved with the default memoize "auto": ${JSON.stringify(memoization)}`);
  log(
    `wrk -t${THREADS} -c${CONNS} -d${DUR} (after ${WARM} warm-up), ${ROUNDS} rounds, node ${process.version}, access log ${ACCESS_LOG ? `on, to ${LOG_TO === 'null' ? '/dev/null' : 'a file'}` : 'off'}`,
  );
  const byUserScript = uniqueUserScript();
  /** [key, name, url, wrk args] per row; the first is the direct run measured around every other. */
  const targets = [
    ['direct', 'direct (one upstream)', `http://${HOST}:${UP_PORTS[0]}/echo`],
    ['nginx', 'nginx reverse proxy, 1 worker', `http://${HOST}:${NGINX_PROXY}/echo`],
    ...(FLOOR
      ? [['floor', "node alone, the gateway's workers (answers itself)", `http://${HOST}:${FLOOR_PLAIN}/`]]
      : []),
    ['plain', 'isogate, no selector', `http://${HOST}:${GW}/plain`],
    ['canary', 'isogate, canary selector, 20 nodes (memoize "auto", the default)', `http://${HOST}:${GW}/canary`],
    ['canary-run', 'isogate, canary selector, 20 nodes, memoize false', `http://${HOST}:${GW}/canary-run`],
    [
      'by-user',
      'isogate, by-user-percent, 20 nodes (memoize "auto"), a new user id on every request',
      `http://${HOST}:${GW}/by-user`,
      ['-s', byUserScript],
    ],
    [
      'keyed-local',
      'isogate, key auth + local limit (never triggers)',
      `http://${HOST}:${GW}/keyed-local?apikey=${key}`,
    ],
    ...(REDIS
      ? [
          [
            'keyed-cluster',
            'isogate, key auth + cluster limit on Redis (never triggers)',
            `http://${HOST}:${GW}/keyed-cluster?apikey=${key}`,
          ],
        ]
      : []),
  ].filter(([k], i) => i === 0 || KNOBS.only === null || KNOBS.only.has(k));
  const at = (k) => targets.findIndex(([key]) => key === k);
  for (const [, , url] of targets.slice(1)) {
    const check = await fetch(url);
    if (check.status !== 200) throw new Error(`${url.replace(key, '…')} answers ${check.status}`);
  }
  const scriptCallsBefore = await redisScriptCalls();
  const rounds = [];
  const directs = [];
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}/${ROUNDS}`);
    const [, directName, directUrl] = targets[0];
    const own = [measure(directName, directUrl)]; // this round's direct runs, in order
    const rows = [own[0]];
    for (const [, name, url, args] of targets.slice(1)) {
      const row = measure(name, url, args);
      own.push(measure(directName, directUrl));
      row.direct = (own.at(-2).rps + own.at(-1).rps) / 2;
      row.ratio = row.rps / row.direct;
      rows.push(row);
    }
    directs.push(...own);
    // The round's direct row: the mean rate of its direct runs, the median of their latencies.
    rows[0] = {
      ...own[0],
      rps: own.reduce((a, r) => a + r.rps, 0) / own.length,
      p50: median(own.map((r) => r.p50)),
      p99: median(own.map((r) => r.p99)),
      ratio: 1,
    };
    // Against nginx in the same round: ratio over ratio, so the drift of the direct rate cancels.
    const nginxRatio = at('nginx') > 0 ? rows[at('nginx')].ratio : NaN;
    for (const r of rows) r.vsNginx = r.ratio / nginxRatio;
    rounds.push(rows);
  }
  // PAIRS=N: each of these rows against the plain API in N pairs (bench/paired.mjs).
  const paired = [];
  if (PAIRS > 0 && at('plain') > 0) {
    const row = (k) => ({ key: k, name: targets[at(k)][1], url: targets[at(k)][2], args: targets[at(k)][3] });
    for (const k of ['canary', 'keyed-local', 'keyed-cluster'].filter((k) => at(k) > 0)) {
      const r = pairedRatio(row('plain'), row(k), { pairs: PAIRS, dur: PAIR_DUR, threads: THREADS, conns: CONNS });
      paired.push({ key: k, name: targets[at(k)][1], ...r });
    }
  }
  const scriptCallsAfter = await redisScriptCalls();
  const cost = ACCESS_LOG && LOG_TO === 'file' ? await selectorCostFromLog() : null;
  const perApi = [];
  for (const api of ['canary-run', 'by-user']) if (at(api) > 0) perApi.push([api, await selectorCostFromMetrics(api)]);
  const memoCache = (await admin('GET', `/admin/apis/${canaryId}/selector`)).status?.cache;
  const byUserStatus = (await admin('GET', `/admin/apis/${byUserId}/selector`)).status;
  console.log('\n| round | target | req/s | direct around it | × direct | × nginx | p50 ms | p99 ms | errors |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  rounds.forEach((rows, i) => {
    for (const r of rows) {
      const around = r.direct === undefined ? '(mean of the round)' : String(Math.round(r.direct));
      console.log(
        `| ${i + 1} | ${r.name} | ${Math.round(r.rps)} | ${around} | ${r.ratio.toFixed(3)} | ${fixed(r.vsNginx, 2)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.non2xx}${r.sockErr ? ' ' + r.sockErr : ''} |`,
      );
    }
  });
  console.log(`\nevery direct run, in order: ${directs.map((r) => Math.round(r.rps)).join(', ')} req/s`);
  const summary = targets.map(([key, name], t) => ({
    key,
    name,
    rps: median(rounds.map((rows) => rows[t].rps)),
    ratio: median(rounds.map((rows) => rows[t].ratio)),
    vsNginx: median(rounds.map((rows) => rows[t].vsNginx)),
    p50: median(rounds.map((rows) => rows[t].p50)),
    p99: median(rounds.map((rows) => rows[t].p99)),
  }));
  console.log(`\nmedian of ${ROUNDS} rounds:\n`);
  console.log('| target | req/s | × direct | × nginx | p50 ms | p99 ms |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of summary)
    console.log(
      `| ${r.name} | ${Math.round(r.rps)} | ${r.ratio.toFixed(3)} | ${fixed(r.vsNginx, 2)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`,
    );
  if (cost)
    console.log(
      `\nselector call time seen by the gateway (round trip incl. queueing, from the access log, ${cost.calls} calls): mean ${cost.mean.toFixed(1)} µs, p50 ${cost.p50} µs, p99 ${cost.p99} µs`,
    );
  console.log(
    '\nselector call time seen by the gateway, from its isogate_selector_duration_seconds histogram (p50/p99: the bucket holding them):',
  );
  for (const [api, c] of perApi) {
    console.log(
      `  ${api} (a sandbox round trip incl. queueing): ${c.calls} calls, mean ${c.mean.toFixed(1)} µs, p50 ≤ ${c.p50} µs, p99 ≤ ${c.p99} µs`,
    );
  }
  if (at('by-user') > 0 && byUserStatus?.cache)
    console.log(
      `  by-user (memoize "auto", ${byUserStatus.memoization?.active ? 'memoized' : 'not memoized'}): ${byUserStatus.cache.hits} answers from the cache, ${byUserStatus.cache.misses} runs in the sandbox, ${byUserStatus.cache.entries} entries`,
    );
  if (memoCache) {
    console.log(
      `  canary (memoize "auto"): ${memoCache.hits} answers from the cache, ${memoCache.misses} runs in the sandbox, ${memoCache.entries} entries`,
    );
    // The verifier's cost: each of these is one more sandbox run, off the request path.
    console.log(
      `  canary (memoize "auto") verifier: ${memoCache.verified} answers run again and compared (${memoCache.mismatches} differed), ${memoCache.skipped} samples skipped (sandbox busy) — ${(((memoCache.verified + memoCache.skipped) / Math.max(1, memoCache.hits)) * 100).toFixed(2)}% of the hits`,
    );
  }
  const verifications = await verificationsFromMetrics();
  if (verifications) console.log(`  all selectors, from isogate_selector_memo_verifications_total: ${verifications}`);
  const floor = summary.find((r) => r.key === 'floor');
  if (floor)
    verdicts.push(
      `floor (${floor.name}): ${(floor.ratio * 100).toFixed(1)}% of direct, p99 ${floor.p99.toFixed(2)} ms: no Node.js process in this setup answers under that p99`,
    );
  for (const sel of summary.filter((r) => r.key === 'canary' || r.key === 'canary-run')) {
    verdicts.push(
      `target (${sel.name}): ≥ 25% of direct: ${(sel.ratio * 100).toFixed(1)}% ${sel.ratio >= 0.25 ? 'MET' : 'MISSED'}; p99 < 5 ms: ${sel.p99.toFixed(2)} ms ${sel.p99 < 5 ? 'MET' : 'MISSED'}`,
    );
  }
  // Issue 18: an unmemoized selector at ≥ half of nginx's rate, p99 ≤ 5 ms.
  for (const sel of summary.filter((r) => r.key === 'canary-run' || r.key === 'by-user')) {
    verdicts.push(
      `target (${sel.name}): ≥ 0.5 × nginx: ${sel.vsNginx.toFixed(2)} ${sel.vsNginx >= 0.5 ? 'MET' : 'MISSED'}; p99 ≤ 5 ms: ${sel.p99.toFixed(2)} ms ${sel.p99 <= 5 ? 'MET' : 'MISSED'}`,
    );
  }
  // Access: the cost against the plain API, each round's ratios compared within the round.
  const plainAt = at('plain');
  for (const k of ['keyed-local', 'keyed-cluster']) {
    const t = at(k);
    if (t < 0 || plainAt < 0) continue;
    const cost = median(rounds.map((rows) => 1 - rows[t].ratio / rows[plainAt].ratio));
    verdicts.push(
      `target (${targets[t][1]}): cost ≤ 10% of the plain API's throughput: ${(cost * 100).toFixed(1)}% ${k === 'keyed-local' ? (cost <= 0.1 ? 'MET' : 'MISSED') : '(no target; reported)'}`,
    );
  }
  for (const p of paired) {
    const cost = 1 - p.ratio;
    verdicts.push(
      `paired (${p.pairs} pairs of ${PAIR_DUR}), ${p.name}: ${p.ratio.toFixed(3)} of the plain API's rate (quartiles ${p.q1.toFixed(3)}–${p.q3.toFixed(3)}), a cost of ${(cost * 100).toFixed(1)}%${p.key === 'keyed-local' ? ` against ≤ 10%: ${cost <= 0.1 ? 'MET' : 'MISSED'}` : ''}`,
    );
  }
  const clusterAt = at('keyed-cluster');
  if (scriptCallsBefore !== null && scriptCallsAfter !== null && clusterAt > 0) {
    const requests = rounds.reduce((n, rows) => n + rows[clusterAt].rps * parseFloat(DUR), 0);
    verdicts.push(
      `cluster limit: ${scriptCallsAfter - scriptCallsBefore} Redis script calls (token reservations) for about ${Math.round(requests)} requests in the measured runs (warm-ups, other runs and other clients of this Redis add some): no round trip per request`,
    );
  }
}

/** `x` with `digits` decimals, or – when it was not measured (no nginx row in the run). */
const fixed = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

/** The target lines, printed last. */
const verdicts = [];

/** The selector's own cost per call, measured through the sandbox on the now idle machine. */
function selectorCost() {
  if (process.env.SELECTOR_COST === '0') return;
  console.log(`\nthe selector's own cost per call (bench/selector-cost.ts, after the load, on the idle machine):`);
  spawnSync(
    process.execPath,
    ['--no-node-snapshot', '--import', 'tsx', join(root, 'bench', 'selector-cost.ts'), '20000', '50'],
    { cwd: root, stdio: 'inherit' },
  );
}

function stopAll() {
  for (const c of started) {
    try {
      process.kill(-c.pid, 'SIGTERM');
    } catch {}
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    stopAll();
    await dropRedisKeys();
    // A profiled gateway writes its profile once its shutdown has ended.
    await sleep(Math.max(500, KNOBS.profileWaitMs));
    for (const c of started) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {}
    }
    if (process.exitCode) console.error(`gateway log: ${join(work, 'gateway.log')}`);
    else {
      rmSync(work, { recursive: true, force: true });
      selectorCost();
      console.log('');
      for (const line of verdicts) console.log(line);
    }
  });
