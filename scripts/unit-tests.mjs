#!/usr/bin/env node
// `npm run test:unit`: the test files that need no PostgreSQL, Redis, nginx, browser or build, run
// with vitest (arguments are passed on). A file is picked by what its source uses, so a new test
// is a unit test unless it reaches for one of these; slow files are listed by hand below.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** What makes a test file need more than Node: the reason, and how its source shows it. */
export const NEEDS = [
  ['PostgreSQL', /pg-fixtures\.js'|from 'pg'/],
  ['Redis', /from '(io)?redis'|redis-fixtures|127\.0\.0\.1:6379/],
  ['nginx', /\/usr\/sbin\/nginx|spawn\('nginx'/],
  ['a browser', /helpers\/browser\.js'|from 'playwright-core'/],
  ['the built CLI', /'dist', 'src'|helpers\/cluster\.js'/],
];

/** Files that need nothing outside Node but take many seconds each: kept for `npm test`. */
export const SLOW = [
  // Every hostile selector against two APIs in shared and separate sandbox hosts (~45 s).
  'test/selector/hostile.test.ts',
];

/** Why a test file is not a unit test, or null when it is one. */
export function whyNotUnit(path, source) {
  // End-to-end files run whole gateways against real upstreams, many seconds each.
  if (path.endsWith('.e2e.test.ts')) return 'end to end';
  if (SLOW.includes(path)) return 'slow';
  for (const [what, pattern] of NEEDS) if (pattern.test(source)) return `needs ${what}`;
  return null;
}

function testFiles(dir, root, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) testFiles(path, root, out);
    else if (entry.name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

/** The unit test files under `root`, sorted. */
export function unitTestFiles(root) {
  return testFiles(join(root, 'test'), root)
    .filter((f) => whyNotUnit(f, readFileSync(join(root, f), 'utf8')) === null)
    .sort();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const args = process.argv.slice(2);
  if (args.includes('--list')) {
    for (const f of testFiles(join(root, 'test'), root).sort()) {
      console.log(`${f}  ${whyNotUnit(f, readFileSync(join(root, f), 'utf8')) ?? 'unit'}`);
    }
    process.exit(0);
  }
  // Unit test files mostly wait (sandbox processes, timers, sockets), so twice as many forks as
  // cores finish sooner (on 2 cores: 44 s against 75 s with vitest's default); flags given win.
  const workers = String(Math.max(2, availableParallelism() * 2));
  const pool = args.some((a) => a.startsWith('--maxWorkers') || a.startsWith('--minWorkers'))
    ? []
    : [`--maxWorkers=${workers}`, `--minWorkers=${workers}`];
  const r = spawnSync(process.execPath, [join(root, 'test', 'run.mjs'), ...unitTestFiles(root), ...pool, ...args], {
    cwd: root,
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}
