import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NEEDS, plan, postgresUrl } from '../../scripts/prepare.mjs';

// What `npm test` does to a machine before the suite: the decisions, from what is there.
const base = {
  purpose: 'test' as const,
  missingTools: [] as string[],
  down: [] as string[],
  serverInstalled: { postgres: true, redis: true },
  root: true,
  apt: true,
  pgVersion: '15',
  localPg: true,
};

describe('scripts/prepare.mjs', () => {
  it('does nothing when everything is there', () => {
    expect(plan(base)).toEqual({ install: [], start: [], stop: null });
  });

  it('as root on Debian: installs the missing tools by package name and starts the services that are down', () => {
    const p = plan({ ...base, missingTools: ['chromium', 'h2load'], down: ['postgres', 'redis'] });
    expect(p).toEqual({ install: ['chromium', 'nghttp2-client'], start: ['postgres', 'redis'], stop: null });
  });

  it('installs a service whose server is missing before starting it', () => {
    const p = plan({ ...base, down: ['postgres', 'redis'], serverInstalled: { postgres: false, redis: false } });
    expect(p.install).toEqual(['postgresql', 'redis-server']);
    expect(p.start).toEqual(['postgres', 'redis']);
    expect(p.stop).toBeNull();
  });

  it('a service that is up needs no package, even when its server is not installed here', () => {
    expect(plan({ ...base, serverInstalled: { postgres: false, redis: false } })).toEqual({
      install: [],
      start: [],
      stop: null,
    });
  });

  it('not root: stops with the exact apt-get command', () => {
    const p = plan({ ...base, root: false, missingTools: ['chromium', 'nginx'] });
    expect(p.stop).toBe(
      "missing chromium, nginx; install them as root: sudo sh -c 'apt-get update && apt-get install -y chromium nginx'",
    );
  });

  it('not Debian: says which packages are missing', () => {
    expect(plan({ ...base, apt: false, missingTools: ['wrk'] }).stop).toMatch(/^missing wrk \(Debian package names\)/);
  });

  it('not root with PostgreSQL down: stops with the pg_ctlcluster command for the installed version', () => {
    const p = plan({ ...base, root: false, down: ['postgres', 'redis'] });
    expect(p.stop).toBe(
      'PostgreSQL and Redis not running; start them: sudo pg_ctlcluster --skip-systemctl-redirect 15 main start && ' +
        'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    );
  });

  it('not root with only Redis down: starts it (Redis needs no root)', () => {
    expect(plan({ ...base, root: false, down: ['redis'] })).toEqual({ install: [], start: ['redis'], stop: null });
  });

  it('a remote ISOGATE_TEST_PG that is down is not started or installed here', () => {
    const p = plan({ ...base, localPg: false, down: ['postgres'], serverInstalled: { postgres: false, redis: true } });
    expect(p.install).toEqual([]);
    expect(p.stop).toMatch(/ISOGATE_TEST_PG does not answer/);
  });

  it('the test task needs the browser, nginx, the load tools, PostgreSQL and Redis; the bench needs wrk, nginx and h2load', () => {
    expect(NEEDS.test).toEqual({ tools: ['chromium', 'nginx', 'wrk', 'h2load'], services: ['postgres', 'redis'] });
    expect(NEEDS.bench.tools).toEqual(['wrk', 'nginx', 'h2load']);
    expect(NEEDS['bench-cluster'].services).toEqual(['postgres']);
  });

  it('uses the same PostgreSQL as the tests', () => {
    expect(postgresUrl({}).toString()).toBe('postgres://postgres@127.0.0.1:5432/test');
    expect(postgresUrl({ ISOGATE_TEST_PG: 'postgres://u@db:6543/x' }).port).toBe('6543');
  });

  it('refuses an unknown task with its usage, exit code 1', () => {
    const script = fileURLToPath(new URL('../../scripts/prepare.mjs', import.meta.url));
    const r = spawnSync(process.execPath, [script, 'tset'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('usage: node scripts/prepare.mjs toolchain|test|bench|bench-cluster');
  });
});
