import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/processes.js';

// The real command a user runs (`npm start` runs the same compiled CLI), as a child process.
const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(root, 'dist', 'src', 'cli.js');
const dirs: string[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'isogate-cli-'));
  dirs.push(d);
  return d;
}

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, ['--no-node-snapshot', cli, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exit };
}

async function waitFor(url: string, status = 200, tries = 200): Promise<Response> {
  for (let i = 0; i < tries; i++) {
    try {
      const res = await fetch(url);
      if (res.status === status) return res;
      await res.arrayBuffer();
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never answered ${status}`);
}

describe('isogate start', () => {
  it('a port in use is a one-line error naming the flag, exit code 1', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = run([
        'start',
        '--data-dir',
        tempDir(),
        '--gateway-host',
        '127.0.0.1',
        '--gateway-port',
        String(port),
        '--admin-port',
        '0',
        '--status-port',
        '0',
        '--no-demo',
      ]);
      expect(await r.exit).toBe(1);
      const lines = r.stderr().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('--gateway-port');
      expect(lines[0]).toContain(String(port));
    } finally {
      blocker.close();
    }
  });

  it('an unwritable data dir is a one-line error naming the flag, exit code 1', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'not a directory');
    const r = run([
      'start',
      '--data-dir',
      join(file, 'sub'),
      '--gateway-port',
      '0',
      '--admin-port',
      '0',
      '--status-port',
      '0',
    ]);
    expect(await r.exit).toBe(1);
    const lines = r.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('--data-dir');
  });

  it('a bad flag value names the flag (and environment variables work like flags)', async () => {
    const r = run(['start', '--gateway-port', 'eighty']);
    expect(await r.exit).toBe(1);
    expect(r.stderr()).toContain('--gateway-port');
    const r2 = run(['start'], { ISOGATE_ADMIN_PORT: '99999' });
    expect(await r2.exit).toBe(1);
    expect(r2.stderr()).toContain('--admin-port');
  });

  it('first start seeds the demo: curl works at once, the canary goes to the temp node, token file is 0600; SIGTERM exits 0', async () => {
    const dataDir = tempDir();
    const [gw, admin, status, demo] = [
      await freePort(),
      await freePort(),
      await freePort(),
      20000 + Math.floor(Math.random() * 20000),
    ];
    const r = run(
      [
        'start',
        '--data-dir',
        dataDir,
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
        ISOGATE_DEMO_PORT_BASE: String(demo),
      },
    );
    await waitFor(`http://127.0.0.1:${status}/status/ready`);
    expect((await fetch(`http://127.0.0.1:${status}/status`)).status).toBe(200);

    const plain = await (await fetch(`http://127.0.0.1:${gw}/demo/hello`)).json();
    expect(['ip1-a', 'ip2-a']).toContain(plain.node);
    const canary = await (await fetch(`http://127.0.0.1:${gw}/demo/hello?select_code=temp_node`)).json();
    expect(canary.node).toBe('ip1-canary');
    const sticky = await (await fetch(`http://127.0.0.1:${gw}/sticky/x`)).json();
    expect(['ip1-b', 'ip2-b']).toContain(sticky.node);

    const tokenFile = join(dataDir, 'admin-token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(r.stderr()).toContain(token);
    expect((await fetch(`http://127.0.0.1:${admin}/admin/apis`)).status).toBe(401);
    const apis = await fetch(`http://127.0.0.1:${admin}/admin/apis`, { headers: { authorization: `Bearer ${token}` } });
    expect((await apis.json()).map((a: { name: string }) => a.name).sort()).toEqual(['demo', 'demo-sticky']);

    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  });

  it('SIGTERM lets an in-flight request finish before exiting 0', async () => {
    let arrived!: () => void;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    const slow = await import('node:http').then(({ createServer: cs }) => {
      const s = cs((_req, res) => {
        arrived();
        setTimeout(() => res.end('slow done'), 700);
      });
      return new Promise<{ port: number; close: () => void }>((resolve) =>
        s.listen(0, '127.0.0.1', () =>
          resolve({ port: (s.address() as { port: number }).port, close: () => s.close() }),
        ),
      );
    });
    const dataDir = tempDir();
    const [gw, admin, status] = [await freePort(), await freePort(), await freePort()];
    const r = run(
      [
        'start',
        '--data-dir',
        dataDir,
        '--no-demo',
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
        ISOGATE_ADMIN_TOKEN: 'cli-test-token-0123456789',
      },
    );
    await waitFor(`http://127.0.0.1:${status}/status/ready`);
    const auth = { authorization: 'Bearer cli-test-token-0123456789', 'content-type': 'application/json' };
    const api = await (
      await fetch(`http://127.0.0.1:${admin}/admin/apis`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ name: 's', path: '/s', algorithm: 'round_robin' }),
      })
    ).json();
    await fetch(`http://127.0.0.1:${admin}/admin/apis/${api.id}/nodes`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'slow', connector: { kind: 'simple-url', url: `http://127.0.0.1:${slow.port}` } }),
    });
    const inFlight = fetch(`http://127.0.0.1:${gw}/s`).then(async (res) => [res.status, await res.text()]);
    await reached;
    r.child.kill('SIGTERM');
    expect(await inFlight).toEqual([200, 'slow done']);
    expect(await r.exit).toBe(0);
    slow.close();
  });
});

describe('rolling restart', () => {
  it('SIGTERM turns /status/ready to 503 first and keeps serving for --drain-wait-ms', async () => {
    const dataDir = tempDir();
    const [gw, admin, status] = [await freePort(), await freePort(), await freePort()];
    const r = run(
      [
        'start',
        '--workers',
        '0',
        '--no-demo',
        '--drain-wait-ms',
        '1500',
        '--data-dir',
        dataDir,
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
        ISOGATE_ADMIN_TOKEN: 'cli-test-token-0123456789',
      },
    );
    await waitFor(`http://127.0.0.1:${status}/status/ready`);
    r.child.kill('SIGTERM');
    await waitFor(`http://127.0.0.1:${status}/status/ready`, 503);
    // Draining, not gone: the gateway still answers (404: no API configured) and /status stays 200.
    expect((await fetch(`http://127.0.0.1:${gw}/anything`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${status}/status`)).status).toBe(200);
    expect(await r.exit).toBe(0);
  });
});
