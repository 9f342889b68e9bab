// What the bench scripts share: a timestamped log, sleep, a free port on 127.0.0.1, wrk with its
// output parsed, nginx and its echo upstreams, readiness polling, an admin client, a median, and how
// a bench script ends.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Logs to stderr with the time of day, so stdout keeps only the figures. */
export const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function toMs(v) {
  if (!v) return NaN;
  const n = parseFloat(v);
  if (v.endsWith('us')) return n / 1000;
  if (v.endsWith('ms')) return n;
  if (v.endsWith('s')) return n * 1000;
  return NaN;
}

/** Runs `wrk -t<threads> -c<conns> -d<dur> --latency [args…] url` (bounded by `dur`) and parses what it printed. */
export function wrk(url, { threads, conns, dur, args = [] }) {
  const r = spawnSync('wrk', [`-t${threads}`, `-c${conns}`, `-d${dur}`, '--latency', ...args, url], {
    encoding: 'utf8',
  });
  const text = r.stdout ?? '';
  return {
    status: r.status,
    stderr: r.stderr ?? '',
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0),
    p50: toMs(/^\s+50%\s+(\S+)/m.exec(text)?.[1]),
    p99: toMs(/^\s+99%\s+(\S+)/m.exec(text)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0),
    /** wrk's "Socket errors: …" details, or ''. */
    sockErr: /Socket errors: (.*)/.exec(text)?.[1] ?? '',
  };
}

/** nginx `server` blocks answering `return 200` with a 100-byte JSON body on each port (the shared anchors' shape). */
export function nginxEchoServers(host, ports) {
  return ports.map((p) => {
    const body = `{"service":"echo","ok":true,"node":"${String(p).slice(-2)}","msg":"hello from upstream","pad":"0123456789abcdefghijklm"}`;
    return `server { listen ${host}:${p} backlog=4096; location / { default_type application/json; return 200 '${body}'; } }`;
  });
}

/**
 * Starts nginx in the foreground with these `server { … }` lines (one worker, no access log, long
 * keep-alive), its pid, logs and temp paths under `work`; returns the child process.
 */
export function startNginx(work, servers, { detached = false } = {}) {
  const lines = [
    `worker_processes 1; daemon off; pid ${work}/nginx.pid; error_log ${work}/nginx-error.log warn;`,
    'events { worker_connections 8192; }',
    'http { access_log off; keepalive_requests 1000000; keepalive_timeout 120s;',
    `  client_body_temp_path ${work}/t1; proxy_temp_path ${work}/t2; fastcgi_temp_path ${work}/t3; uwsgi_temp_path ${work}/t4; scgi_temp_path ${work}/t5;`,
    ...servers.map((server) => `  ${server}`),
    '}',
  ];
  writeFileSync(join(work, 'nginx.conf'), lines.join('\n'));
  return spawn('nginx', ['-p', work, '-e', join(work, 'nginx-error.log'), '-c', join(work, 'nginx.conf')], {
    stdio: 'ignore',
    detached,
  });
}

/**
 * The knobs the benchmarks share, from the environment: ONLY (the row keys to run), WORKERS (the
 * gateway's `--workers`) and NODE_FLAGS (node flags of the gateway's main process, e.g. `--cpu-prof
 * --cpu-prof-dir=DIR` with WORKERS=0).
 */
export function benchKnobs(env = process.env) {
  const nodeFlags = (env.NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  return {
    /** The row keys to run, or null for every row. */
    only: env.ONLY ? new Set(env.ONLY.split(',').map((k) => k.trim())) : null,
    /** Node flags before the CLI. */
    nodeFlags,
    /** The CLI arguments the knobs add: `--workers N` when WORKERS is set. */
    cliArgs: env.WORKERS === undefined ? [] : ['--workers', env.WORKERS],
    /** How long a stopped gateway may take to end and write its profile, ms (0: not profiled). */
    profileWaitMs: nodeFlags.length > 0 ? 8_000 : 0,
  };
}

/**
 * bench/node-floor.mjs (FLOOR=1) with the gateway's number of workers (WORKERS, else one per core):
 * Node answering by itself on `tlsPort` (0: none, with `pem` {cert, key} files) and `plainPort` (0:
 * none). Resolves with the detached child once every worker listens.
 */
export function startNodeFloor({ tlsPort = 0, pem = null, plainPort = 0 }, env = process.env) {
  const workers = env.WORKERS === undefined ? availableParallelism() : Math.max(1, Number(env.WORKERS));
  const script = join(dirname(fileURLToPath(import.meta.url)), 'node-floor.mjs');
  const args = [script, String(tlsPort), pem?.cert ?? '-', pem?.key ?? '-', String(workers), String(plainPort)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  return new Promise((resolve) => child.stdout.once('data', () => resolve(child)));
}

/** Polls `url` until it answers 2xx, every 50 ms, at most `tries` times. */
export async function waitOk(url, tries = 200) {
  for (let i = 0; i < tries; i++) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.ok) return;
    } catch {}
    await sleep(50);
  }
  throw new Error(`${url} not ready`);
}

/** An admin API client for `base` (`http://host:port`): `(method, path, body?)` → parsed JSON; throws on a status ≥ 300. */
export function adminClient(base, token) {
  const send = (method, path, body) =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return async (method, path, body) => {
    // A GET after minutes of load can meet a kept-alive connection the server has just closed
    // (EPIPE, reset): it is safe to send once more.
    const r = await send(method, path, body).catch((err) => {
      if (method !== 'GET') throw err;
      return send(method, path, body);
    });
    const json = await r.json();
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };
}

/**
 * Makes a round-robin GET API at `/<name>` (`extra` adds or overrides fields) with one simple-url node
 * per entry of `nodes` (`{ name, url, tags? }`); returns the API as the admin API answered it.
 */
export async function addApi(admin, name, nodes, extra = {}) {
  const api = await admin('POST', '/admin/apis', {
    name,
    path: `/${name}`,
    algorithm: 'round_robin',
    methods: ['GET'],
    ...extra,
  });
  for (const n of nodes)
    await admin('POST', `/admin/apis/${api.id}/nodes`, {
      name: n.name,
      connector: { kind: 'simple-url', url: n.url },
      ...(n.tags === undefined ? {} : { tags: n.tags }),
    });
  return api;
}

/** The q-quantile (0..1) of `xs` by nearest rank (the smallest value with at least q of them at or below it); NaN when empty. */
export function percentile(xs, q) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * q) - 1))];
}

/** The median of numbers (NaN ones left out; NaN when none is left). */
export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs a bench script's `main`, then its `cleanup` whatever happened, and exits 0, or 1 after printing the failure. */
export function runBench(main, cleanup) {
  main().then(
    () => {
      cleanup();
      process.exit(0);
    },
    (err) => {
      console.error(err);
      cleanup();
      process.exit(1);
    },
  );
}
