import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type adminClient, freePort, until } from './processes.js';
import type { TestUpstream } from './upstreams.js';

/** The built CLI the cluster tests run (`npm run build` first). */
export const CLI = join(fileURLToPath(new URL('../..', import.meta.url)), 'dist', 'src', 'cli.js');

/** `url` (a postgres:// URL) with `?schema=` set. */
export function withSchema(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
}

/** One `isogate` command started from `dist/`, with the ports it was given. */
export interface IsogateProcess {
  readonly child: ChildProcess;
  readonly gateway: number;
  readonly admin: number;
  readonly status: number;
  /** Its data dir (SQLite file and admin token). */
  readonly dataDir: string;
  /** What it wrote to stderr (its start line, warnings and errors), for failure messages. */
  stderr(): string;
  /** Sends `signal` and resolves with the exit code once it exited (bounded by `timeoutMs`, then SIGKILL). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Starts and stops `isogate` commands on free ports, each with its own temp data dir unless given one. */
export class IsogateProcesses {
  private readonly started: IsogateProcess[] = [];
  private readonly dirs: string[] = [];

  constructor(private readonly token: string) {}

  /**
   * Runs `isogate <command> …args` on free gateway/admin/status ports (127.0.0.1), log level warn
   * and no access log unless `accessLog`.
   * Resolves once it is ready: `/status/ready` 200 for gateway and start, the admin API for admin.
   */
  async start(
    command: 'start' | 'gateway' | 'admin',
    args: string[],
    options: {
      env?: NodeJS.ProcessEnv;
      ports?: { gateway: number; admin: number; status: number };
      dataDir?: string;
      /** The process's open-file limit (`ulimit -n`), when lower than the test's own. */
      openFiles?: number;
      /** Where its stdout goes (default: ignored). */
      stdout?: 'ignore' | 'pipe';
      /** Log at info with the access log on (default: warn, access log off). */
      accessLog?: boolean;
    } = {},
  ): Promise<IsogateProcess> {
    const env = options.env ?? {};
    let dir = options.dataDir;
    if (dir === undefined) {
      dir = mkdtempSync(join(tmpdir(), 'isogate-cluster-'));
      this.dirs.push(dir);
    }
    const { gateway, admin, status } = options.ports ?? {
      gateway: await freePort(),
      admin: await freePort(),
      status: await freePort(),
    };
    const argv = [
      '--no-node-snapshot',
      CLI,
      command,
      '--data-dir',
      dir,
      '--log-level',
      options.accessLog ? 'info' : 'warn',
      ...(options.accessLog ? [] : ['--no-access-log']),
      '--gateway-host',
      '127.0.0.1',
      '--gateway-port',
      String(gateway),
      '--admin-port',
      String(admin),
      '--status-host',
      '127.0.0.1',
      '--status-port',
      String(status),
      ...args,
    ];
    const child = spawn(
      options.openFiles === undefined ? process.execPath : 'sh',
      options.openFiles === undefined
        ? argv
        : ['-c', `ulimit -n ${options.openFiles} && exec "$0" "$@"`, process.execPath, ...argv],
      {
        env: { PATH: process.env.PATH, ISOGATE_ADMIN_TOKEN: this.token, ...env },
        stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'],
      },
    );
    let err = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      // Bounded: only the start of the output matters for a failure message.
      if (err.length < 20_000) err += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const proc: IsogateProcess = {
      child,
      gateway,
      admin,
      status,
      dataDir: dir,
      stderr: () => err,
      async stop(signal = 'SIGTERM', timeoutMs = 20_000) {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.kill(signal);
        const code = await exited;
        clearTimeout(kill);
        return code;
      },
    };
    this.started.push(proc);
    const ready =
      command === 'admin'
        ? () =>
            fetch(`http://127.0.0.1:${admin}/admin/config/version`, {
              headers: { authorization: `Bearer ${this.token}` },
            }).then((r) => r.status)
        : () => fetch(`http://127.0.0.1:${status}/status/ready`).then((r) => r.status);
    try {
      await until(
        async () => {
          if (child.exitCode !== null) throw Object.assign(new Error('exited'), { fatal: true });
          return ready();
        },
        (s) => s === 200 || child.exitCode !== null,
        600,
        50,
      );
    } catch (e) {
      throw new Error(`isogate ${command} did not become ready: ${(e as Error).message}\n${err}`, { cause: e });
    }
    if (child.exitCode !== null) throw new Error(`isogate ${command} exited with ${child.exitCode}:\n${err}`);
    return proc;
  }

  /** Stops every command still running (SIGTERM) and removes the data dirs. */
  async stopAll(): Promise<void> {
    await Promise.all(this.started.map((p) => p.stop()));
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** GET on 127.0.0.1 returning the parsed JSON body (bounded to 5 s). */
export async function getJson(port: number, path: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(5_000),
  });
  return { status: res.status, body: await res.json() };
}

/** What one answer of the load was. */
export interface LoadAnswer {
  /** Which connection (client) sent it. */
  readonly client: number;
  /** The client's local port for this request's connection (null if it never connected). */
  readonly localPort: number | null;
  /** The answering node (`x-node`), the gateway error code, `status:<n>`, or `error:<message>`. */
  readonly outcome: string;
  readonly ok: boolean;
  readonly at: number;
}

/** A running load: `clients` loops, each sending one request after the other on its own keep-alive connection. */
export interface Load {
  /** Answers so far. */
  readonly answers: LoadAnswer[];
  /** Stops the loops and resolves once they finished. */
  stop(): Promise<LoadAnswer[]>;
  /** With `reconnectEvery`: switches reconnecting off (true) or on again (false). */
  hold(on: boolean): void;
}

/**
 * Sends GET `path` to `port` from `clients` loops at once, each on its own persistent connection
 * (a new one after an error), until stopped, for at most `maxMs` and `maxRequests` in total.
 * A 200 from the expected upstreams counts as ok; anything else is a failure with its reason.
 */
export function startLoad(
  port: number,
  path: string,
  options: {
    clients: number;
    maxMs?: number;
    maxRequests?: number;
    pauseMs?: number;
    method?: 'GET' | 'POST';
    reconnectEvery?: number;
  },
): Load {
  const answers: LoadAnswer[] = [];
  let held = false;
  const deadline = Date.now() + (options.maxMs ?? 60_000);
  const maxRequests = options.maxRequests ?? 200_000;
  let stopped = false;
  const loop = async (client: number) => {
    let agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let sent = 0;
    while (!stopped && Date.now() < deadline && answers.length < maxRequests) {
      const answer = await once(agent, port, path, client, options.method ?? 'GET');
      answers.push(answer);
      sent++;
      if (options.reconnectEvery && !held && sent % options.reconnectEvery === 0) {
        // A fresh connection now and then, so the kernel's uneven accepts get another chance to spread them.
        agent.destroy();
        agent = new Agent({ keepAlive: true, maxSockets: 1 });
      } else if (!answer.ok && answer.outcome.startsWith('error:')) {
        // The connection is gone: carry on from a new one, as a client would.
        agent.destroy();
        agent = new Agent({ keepAlive: true, maxSockets: 1 });
      }
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
    agent.destroy();
  };
  const loops = Array.from({ length: options.clients }, (_, i) => loop(i));
  return {
    answers,
    hold(on) {
      held = on;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return answers;
    },
  };
}

function once(agent: Agent, port: number, path: string, client: number, method: 'GET' | 'POST'): Promise<LoadAnswer> {
  return new Promise((resolve) => {
    let localPort: number | null = null;
    const done = (outcome: string, ok: boolean) => resolve({ client, localPort, outcome, ok, at: Date.now() });
    const body = method === 'POST' ? JSON.stringify({ client, at: Date.now() }) : null;
    const headers =
      body === null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = request({ host: '127.0.0.1', port, path, agent, method, headers }, (res) => {
      localPort = res.socket?.localPort ?? localPort;
      res.resume();
      res.on('end', () => {
        const node = res.headers['x-node'];
        const code = res.headers['x-isogate-error'];
        if (res.statusCode === 200 && typeof node === 'string') done(node, true);
        else done(typeof code === 'string' ? code : `status:${res.statusCode}`, false);
      });
      res.on('error', (e) => done(`error:${e.message}`, false));
    });
    req.on('socket', (socket) => {
      const note = () => (localPort = socket.localPort ?? localPort);
      if (socket.localPort) note();
      else socket.once('connect', note);
    });
    req.on('error', (e) => done(`error:${(e as NodeJS.ErrnoException).code ?? e.message}`, false));
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.end(body ?? undefined);
  });
}

/**
 * Which of `pids` holds the server side of the TCP connection from 127.0.0.1:`clientPort` to
 * 127.0.0.1:`serverPort` (Linux /proc: the socket's inode, then the process whose fd links to it).
 */
export function connectionOwner(serverPort: number, clientPort: number, pids: readonly number[]): number | null {
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(serverPort)}`;
  const remote = `0100007F:${hex(clientPort)}`;
  let inode: string | null = null;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === local && cols[2] === remote) {
      inode = cols[9] ?? null;
      break;
    }
  }
  if (inode === null || inode === '0') return null;
  const target = `socket:[${inode}]`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

/** Milliseconds as "12.3 ms". */
export function ms(n: number): string {
  return `${n.toFixed(1)} ms`;
}

/** The p-th percentile (0..100) of `values` (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * The API the HA tests flip, at `/<name>` round robin: node `ip1` (on `ups[0]`) takes traffic while
 * `IP1_enable` is "true" (set so first), node `ip2` (on `ups[1]`) always.
 */
export async function createFlipApi(
  call: ReturnType<typeof adminClient>,
  name: string,
  ups: readonly TestUpstream[],
): Promise<void> {
  await call('PUT', '/admin/variables/IP1_enable', { value: 'true' });
  const api = await call('POST', '/admin/apis', { name, path: `/${name}`, algorithm: 'round_robin' });
  await call('POST', `/admin/apis/${api.id}/nodes`, {
    name: 'ip1',
    connector: { kind: 'simple-url', url: ups[0]!.url },
    rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }],
  });
  await call('POST', `/admin/apis/${api.id}/nodes`, {
    name: 'ip2',
    connector: { kind: 'simple-url', url: ups[1]!.url },
  });
}
