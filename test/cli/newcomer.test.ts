import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cluster.js';
import { requestOnce, until } from '../helpers/processes.js';

// What a newcomer meets first, through the built CLI as `npm start` runs it: the version, the start
// line with the ports it really got, and one-line errors for a store or data dir isogate cannot use.
const root = join(CLI, '..', '..', '..');
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(
    children
      .splice(0)
      .map((c) =>
        c.exitCode === null && c.signalCode === null
          ? new Promise((r) => (c.once('exit', r), c.kill('SIGTERM')))
          : null,
      ),
  );
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'isogate-newcomer-'));
  dirs.push(d);
  return d;
}

/** Runs the CLI; `stdout`, `stderr` and `exit` as it goes (exit bounded to 20 s, then SIGKILL). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ['--no-node-snapshot', CLI, ...args], {
    env: { PATH: process.env.PATH, ISOGATE_ADMIN_TOKEN: 'newcomer-token-0123456789', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (c: Buffer) => (out.stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out.stderr += c.toString()));
  const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => (clearTimeout(kill), resolve(code))),
  );
  return { child, out, exit };
}

describe('isogate for a newcomer', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    for (const flag of ['--version', '-v']) {
      const r = cli([flag]);
      expect(await r.exit).toBe(0);
      expect(r.out.stdout).toBe(`isogate ${version}\n`);
    }
  });

  it.each([['0'], ['1']])(
    'port 0 everywhere (--workers %s): the start line names the ports it got, and each answers',
    async (workers) => {
      const r = cli([
        'start',
        '--no-demo',
        '--data-dir',
        tempDir(),
        '--workers',
        workers,
        '--log-level',
        'warn',
        '--gateway-host',
        '127.0.0.1',
        '--gateway-port',
        '0',
        '--admin-port',
        '0',
        '--status-host',
        '127.0.0.1',
        '--status-port',
        '0',
      ]);
      const line = await until(
        async () => r.out.stderr,
        (s) => /isogate start: gateway/.test(s) || r.child.exitCode !== null,
        400,
        50,
      );
      const m =
        /gateway http:\/\/127\.0\.0\.1:(\d+).*admin http:\/\/127\.0\.0\.1:(\d+).*status http:\/\/127\.0\.0\.1:(\d+)\/status/.exec(
          line,
        );
      expect(m, line).not.toBeNull();
      const [gateway, admin, status] = m!.slice(1).map(Number) as [number, number, number];
      for (const port of [gateway, admin, status]) expect(port).toBeGreaterThan(0);
      expect(await requestOnce(gateway, '/nothing-here')).toBe('ROUTE_NOT_FOUND');
      expect((await fetch(`http://127.0.0.1:${status}/status/ready`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${admin}/admin/apis`)).status).toBe(401);
    },
  );

  it('--store mysql://… is one line saying the store is unsupported, before any file is made', async () => {
    const dataDir = join(tempDir(), 'never-made');
    const r = cli(['start', '--store', 'mysql://root@127.0.0.1/isogate', '--data-dir', dataDir]);
    expect(await r.exit).toBe(1);
    expect(r.out.stderr).toBe(
      'isogate: --store: unsupported store mysql:// (isogate stores its config in PostgreSQL, as postgres://user@host/db, or in a SQLite file path)\n',
    );
    expect(existsSync(dataDir)).toBe(false);
  });

  it.each(['/proc/isogate-data', '/proc'])(
    'a data dir of %s fails at once with one line naming --data-dir',
    async (dataDir) => {
      const r = cli([
        'start',
        '--no-demo',
        '--data-dir',
        dataDir,
        '--gateway-port',
        '0',
        '--admin-port',
        '0',
        '--status-port',
        '0',
      ]);
      expect(await r.exit).toBe(1);
      const lines = r.out.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^isogate: --data-dir: ${dataDir} cannot be used as the data directory: `));
    },
  );
});
