#!/usr/bin/env node
// Prepares this machine for a task: `node scripts/prepare.mjs test|bench|bench-cluster|toolchain`.
// On Debian, as root, it installs the missing packages (apt-get update first) and starts PostgreSQL
// and Redis when they are not running; when it cannot, it stops at once (exit 1) and prints the exact
// command to run. `npm test`, the benchmarks and `.ci/run` all go through it, so the README's two
// commands are the whole set-up. ISOGATE_SKIP_PREPARE=1 skips it (you manage the machine yourself).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { pathToFileURL } from 'node:url';

/** What each task needs: tools (a command or file → the Debian package that has it) and services. */
export const NEEDS = {
  toolchain: { tools: ['g++', 'make', 'python3'], services: [] },
  test: { tools: ['chromium', 'nginx', 'wrk', 'h2load'], services: ['postgres', 'redis'] },
  bench: { tools: ['wrk', 'nginx', 'h2load'], services: [] },
  'bench-cluster': { tools: ['wrk', 'nginx', 'h2load'], services: ['postgres'] },
};

/** Each tool: how to tell it is there, and the Debian package that brings it. */
export const TOOLS = {
  'g++': { command: 'g++', pkg: 'g++' },
  make: { command: 'make', pkg: 'make' },
  python3: { command: 'python3', pkg: 'python3' },
  // The browser tests use Debian's Chromium at this path (playwright-core never downloads one).
  chromium: { file: '/usr/bin/chromium', pkg: 'chromium' },
  // The rolling-restart test runs this nginx unprivileged on free ports, never as a service.
  nginx: { file: '/usr/sbin/nginx', pkg: 'nginx' },
  wrk: { command: 'wrk', pkg: 'wrk' },
  h2load: { command: 'h2load', pkg: 'nghttp2-client' },
};

/** The services: where they listen, the package that has the server, and how to start it. */
export const SERVICES = {
  postgres: { name: 'PostgreSQL', pkg: 'postgresql' },
  redis: {
    name: 'Redis',
    pkg: 'redis-server',
    start: [
      'redis-server',
      '--daemonize',
      'yes',
      '--bind',
      '127.0.0.1',
      '--port',
      '6379',
      '--save',
      '',
      '--appendonly',
      'no',
    ],
  },
};

/** The PostgreSQL the tests use (the same default as test/store/pg-fixtures.ts). */
export function postgresUrl(env = process.env) {
  return new URL(env.ISOGATE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test');
}

/** Shell-quotes one argument for a command line a person will paste. */
function q(arg) {
  return arg === '' ? '""' : /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Decides what to do, from what is there: packages to install, services to start, or why it must
 * stop and the command a person runs instead. Pure, so the decisions are tested without a machine.
 * @param {{ purpose: keyof NEEDS, missingTools: string[], down: string[], serverInstalled: Record<string, boolean>, root: boolean, apt: boolean, pgVersion: string | null, localPg: boolean }} s
 */
export function plan(s) {
  const install = [...new Set(s.missingTools.map((t) => TOOLS[t].pkg))];
  for (const service of s.down) {
    if (!s.serverInstalled[service] && !(service === 'postgres' && !s.localPg)) install.push(SERVICES[service].pkg);
  }
  const start = s.down.filter((service) => service !== 'postgres' || s.localPg);
  const remotePgDown = s.down.includes('postgres') && !s.localPg;
  if (remotePgDown) {
    return {
      install: [],
      start: [],
      stop: 'PostgreSQL at ISOGATE_TEST_PG does not answer: start it, or unset ISOGATE_TEST_PG to use a local one on 127.0.0.1:5432',
    };
  }
  if (install.length > 0 && (!s.root || !s.apt)) {
    const cmd = `apt-get update && apt-get install -y ${install.join(' ')}`;
    return {
      install,
      start,
      stop: s.apt
        ? `missing ${install.join(', ')}; install them as root: sudo sh -c '${cmd}'`
        : `missing ${install.join(', ')} (Debian package names); install them with this machine's package manager`,
    };
  }
  if (start.length > 0 && !s.root) {
    const commands = start.map((service) =>
      service === 'postgres'
        ? `sudo pg_ctlcluster --skip-systemctl-redirect ${s.pgVersion ?? '<version>'} main start`
        : SERVICES[service].start.map(q).join(' '),
    );
    // Redis runs as any user; PostgreSQL's cluster is started by root (or its owner).
    if (start.includes('postgres'))
      return {
        install,
        start,
        stop: `${start.map((x) => SERVICES[x].name).join(' and ')} not running; start ${start.length > 1 ? 'them' : 'it'}: ${commands.join(' && ')}`,
      };
  }
  return { install, start, stop: null };
}

function hasCommand(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function toolPresent(tool) {
  const t = TOOLS[tool];
  return t.file ? existsSync(t.file) : hasCommand(t.command);
}

/** Whether something accepts a TCP connection on host:port within `ms`. */
function listening(host, port, ms = 1000) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Whether Redis answers PING on 127.0.0.1:6379. */
function redisAnswers(ms = 1000) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: 6379 });
    let text = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      text += d.toString();
      if (text.includes('\r\n')) done(text.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}

async function up(service) {
  if (service === 'redis') return redisAnswers();
  const url = postgresUrl();
  return listening(url.hostname, Number(url.port || 5432));
}

/** The first PostgreSQL cluster version under /etc/postgresql that has a `main` cluster, or null. */
function postgresVersion() {
  if (!existsSync('/etc/postgresql')) return null;
  const versions = readdirSync('/etc/postgresql').filter((v) => existsSync(`/etc/postgresql/${v}/main`));
  return versions.sort((a, b) => Number(b) - Number(a))[0] ?? null;
}

async function waitUntil(check, seconds) {
  for (let i = 0; i < seconds * 4; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

const say = (line) => process.stderr.write(`prepare: ${line}\n`);

function fail(line) {
  say(line);
  process.exit(1);
}

function run(cmd, args, env = {}) {
  say(`${cmd} ${args.map(q).join(' ')}`);
  execFileSync(cmd, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', ...env },
  });
}

/**
 * Checks the test database answers a query with the test's URL. A cluster this script just installed
 * gets trust auth on 127.0.0.1 and the database `test`; any other refusal stops with what to run.
 */
async function checkPostgresLogin(freshlyInstalled, version) {
  let pg;
  try {
    pg = (await import('pg')).default;
  } catch {
    return; // before npm install (the toolchain step): the tests' own check reports it
  }
  const url = postgresUrl();
  const tryLogin = async () => {
    const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 3000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return null;
    } catch (err) {
      return err;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  let err = await tryLogin();
  if (err === null) return;
  const db = url.pathname.slice(1) || 'test';
  if (freshlyInstalled && version) {
    // A cluster installed a moment ago holds nothing yet: let local TCP connections in as the tests
    // expect (trust, as on the project's machines) and create the test database.
    const hba = `/etc/postgresql/${version}/main/pg_hba.conf`;
    writeFileSync(hba, `host all all 127.0.0.1/32 trust\n${readFileSync(hba, 'utf8')}`);
    run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'reload']);
    run('runuser', ['-u', 'postgres', '--', 'psql', '-q', '-c', `CREATE DATABASE ${db}`]);
    err = await tryLogin();
    if (err === null) return;
  }
  fail(
    `PostgreSQL answers but the tests cannot log in as ${url.username || 'postgres'} to database ${db} (${err.message}). ` +
      `The tests expect trust auth for 127.0.0.1 and the database: add "host all all 127.0.0.1/32 trust" at the top of pg_hba.conf, ` +
      `reload, and run: sudo -u postgres psql -c 'CREATE DATABASE ${db}' (or point ISOGATE_TEST_PG at a database they can use)`,
  );
}

async function main(purposes) {
  if (process.env.ISOGATE_SKIP_PREPARE === '1') return;
  const unknown = purposes.filter((p) => !(p in NEEDS));
  if (purposes.length === 0 || unknown.length > 0)
    fail(`usage: node scripts/prepare.mjs ${Object.keys(NEEDS).join('|')} (got ${purposes.join(' ') || 'nothing'})`);
  const tools = [...new Set(purposes.flatMap((p) => NEEDS[p].tools))];
  const services = [...new Set(purposes.flatMap((p) => NEEDS[p].services))];
  const missingTools = tools.filter((t) => !toolPresent(t));
  const down = [];
  for (const service of services) if (!(await up(service))) down.push(service);
  const pgHost = postgresUrl().hostname;
  const state = {
    purpose: purposes[0],
    missingTools,
    down,
    serverInstalled: {
      postgres: postgresVersion() !== null && hasCommand('pg_ctlcluster'),
      redis: hasCommand('redis-server'),
    },
    root: process.getuid?.() === 0,
    apt: hasCommand('apt-get'),
    pgVersion: postgresVersion(),
    localPg: pgHost === '127.0.0.1' || pgHost === 'localhost',
  };
  const decided = plan(state);
  if (decided.stop) fail(decided.stop);

  let freshPostgres = false;
  if (decided.install.length > 0) {
    say(`installing ${decided.install.join(', ')}`);
    run('apt-get', ['update', '-qq']);
    run('apt-get', ['install', '-y', '-qq', ...decided.install]);
    freshPostgres = decided.install.includes('postgresql');
  }
  for (const service of decided.start) {
    if (await up(service)) continue; // a package's install may have started it
    if (service === 'postgres') {
      const version = postgresVersion();
      if (!version)
        fail(
          'PostgreSQL is installed but has no cluster under /etc/postgresql: create one with pg_createcluster <version> main',
        );
      try {
        run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
      } catch {
        // already starting, or a stale pid file: the wait below decides
      }
    } else {
      run(SERVICES[service].start[0], SERVICES[service].start.slice(1));
    }
    if (!(await waitUntil(() => up(service), 30))) fail(`${SERVICES[service].name} did not come up within 30 s`);
  }
  if (services.includes('postgres') && state.localPg) await checkPostgresLogin(freshPostgres, postgresVersion());
  const pg = postgresUrl();
  const ready = [
    ...tools,
    ...services.map((s) =>
      s === 'postgres' ? `PostgreSQL ${pg.hostname}:${pg.port || 5432}` : 'Redis 127.0.0.1:6379',
    ),
  ];
  say(`ready for ${purposes.join(', ')}: ${ready.join(', ')}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err) => fail(err.stack ?? String(err)));
}
