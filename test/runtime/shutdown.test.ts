/**
 * A stop that always ends, whatever happens to the gateway's output (the built CLI as a child
 * process, its stdout and stderr on pipes this test holds): SIGTERM ends it with a full pipe whose
 * reader does not read, and with a pipe whose reader is gone; its log lines reach a live pipe within
 * a flush interval, its last lines too; a second SIGTERM (or SIGINT) during a long drain stops it at
 * once and says what it cut.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cluster.js';
import { adminClient, freePort, until } from '../helpers/processes.js';

const TOKEN = 'shutdown-token-0123456789abcdef';
const dirs: string[] = [];
const children: ChildProcess[] = [];
let slow: Server;
let slowUrl = '';

beforeAll(async () => {
  slow = createServer((_req, res) => setTimeout(() => res.end('slow'), 5_000));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
});

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

afterAll(() => {
  slow?.closeAllConnections();
  slow?.close();
});

interface Gateway {
  child: ChildProcess;
  gateway: number;
  admin: number;
  status: number;
  /** stdout read so far (when the test reads it). */
  out: () => string;
  exit: Promise<number | null>;
}

/** `isogate start --workers 0` with the access log on, stdout and stderr on pipes. */
async function start(args: string[] = []): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'isogate-shutdown-'));
  dirs.push(dir);
  const [gateway, admin, status] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [
      '--no-node-snapshot',
      CLI,
      'start',
      '--workers',
      '0',
      '--no-demo',
      '--data-dir',
      dir,
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
    ],
    { env: { PATH: process.env.PATH, ISOGATE_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    if (out.length < 1_000_000) out += c.toString();
  });
  child.stderr!.resume();
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await until(
    () => fetch(`http://127.0.0.1:${status}/status/ready`).then((r) => r.status),
    (s) => s === 200,
    600,
    50,
  );
  return { child, gateway, admin, status, out: () => out, exit };
}

/** `n` requests (404s: no API), each a line of access log; bounded, 20 at a time. */
async function traffic(port: number, n: number): Promise<void> {
  for (let i = 0; i < n; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, n - i) }, () =>
        fetch(`http://127.0.0.1:${port}/nothing/${'x'.repeat(200)}`).then((r) => r.arrayBuffer()),
      ),
    );
  }
}

/** Resolves with the exit code, or 'still running' after `ms`. */
function exitWithin(g: Gateway, ms: number): Promise<number | null | 'still running'> {
  return Promise.race([g.exit, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms))]);
}

describe('SIGTERM', () => {
  it('ends the process when its output pipe is full and the reader does not read', async () => {
    const g = await start();
    g.child.stdout!.pause();
    // About 400 KB of access log: far more than a pipe holds (64 KiB).
    await traffic(g.gateway, 1_500);
    g.child.kill('SIGTERM');
    expect(await exitWithin(g, 15_000)).toBe(0);
  }, 60_000);

  it('ends the process when the reader of its output is gone', async () => {
    const g = await start();
    g.child.stdout!.destroy();
    g.child.stderr!.destroy();
    await traffic(g.gateway, 200);
    g.child.kill('SIGTERM');
    expect(await exitWithin(g, 15_000)).toBe(0);
  }, 60_000);

  it('on a live pipe: lines show while it runs (a timed flush), and the last lines before it exits are not lost', async () => {
    const g = await start();
    // No request: the start line alone must arrive, not wait for 4 KiB of lines or the shutdown.
    await until(
      async () => g.out(),
      (o) => o.includes('"msg":"isogate serving"'),
      100,
      50,
    );
    await traffic(g.gateway, 3);
    await until(
      async () => g.out().split('"component":"access"').length - 1,
      (n) => n === 3,
      100,
      50,
    );
    g.child.kill('SIGTERM');
    expect(await exitWithin(g, 15_000)).toBe(0);
    const lines = g
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg?: string });
    expect(lines.at(-1)!.msg).toBe('stopped');
  }, 60_000);

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'a second %s during a long drain stops at once and says what it cut',
    async (signal) => {
      const g = await start(['--drain-ms', '60000']);
      const call = adminClient(() => g.admin, TOKEN);
      const api = await call('POST', '/admin/apis', {
        name: 'slow',
        path: '/slow',
        algorithm: 'round_robin',
        retries: 0,
      });
      await call('POST', `/admin/apis/${api.id}/nodes`, {
        name: 'slow',
        connector: { kind: 'simple-url', url: slowUrl },
      });
      const inFlight = new Promise<string>((resolve) => {
        const req = request({ host: '127.0.0.1', port: g.gateway, path: '/slow', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(`${res.statusCode}`));
          res.on('error', () => resolve('cut'));
        });
        req.on('error', () => resolve('cut'));
        req.end();
      });
      await new Promise((r) => setTimeout(r, 300));
      g.child.kill(signal);
      await until(
        async () => g.out(),
        (o) => o.includes('stopping: draining'),
        100,
        50,
      );
      g.child.kill(signal);
      expect(await exitWithin(g, 5_000)).toBe(1);
      expect(await inFlight).toBe('cut');
      const cut = g
        .out()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => String(l.msg).includes('stopping at once'));
      expect(cut).toMatchObject({ reason: signal, clientConnections: 1, requestsInProgress: 1 });
    },
    60_000,
  );
});
