// What the bench scripts share: a timestamped log, sleep, a free port on 127.0.0.1, and wrk with its
// output parsed.
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

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
  const r = spawnSync('wrk', [`-t${threads}`, `-c${conns}`, `-d${dur}`, '--latency', ...args, url], { encoding: 'utf8' });
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
