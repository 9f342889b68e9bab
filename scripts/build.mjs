#!/usr/bin/env node
// Builds only when needed: `node scripts/build.mjs` compiles (`npm run build:compile`) unless the
// sources hash the same as at the last successful build and its outputs are still there; `--force`
// always builds. The stamp is `dist/.build-stamp`, the hash of every input's path and contents
// (contents, not mtimes: a checkout, a copy or a touch does not count as a change).
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Folders whose files are build inputs (web/dist is an output and is skipped). */
const INPUT_DIRS = ['src', 'web'];
/** Single files that are build inputs. */
const INPUT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];
/** What a build leaves behind; a missing one means the build must run again. */
export const OUTPUTS = ['dist/src/cli.js', 'web/dist/index.html'];
const SKIP = new Set(['node_modules', 'dist']);

function walk(dir, out) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (entry.isFile()) out.push(path);
  }
}

/** The hash of every build input under `root`: relative path and contents, in a stable order. */
export function inputsHash(root) {
  const files = [];
  for (const d of INPUT_DIRS) walk(join(root, d), files);
  for (const f of INPUT_FILES) if (existsSync(join(root, f))) files.push(join(root, f));
  const hash = createHash('sha256');
  for (const file of files.map((f) => relative(root, f)).sort()) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(root, file)))
      .update('\0');
  }
  return hash.digest('hex');
}

/** Where the hash of the last successful build is kept. */
export function stampFile(root) {
  return join(root, 'dist', '.build-stamp');
}

/** Whether the last build is current: same inputs hash, every output present. */
export function upToDate(root, hash = inputsHash(root)) {
  if (!OUTPUTS.every((f) => existsSync(join(root, f)))) return false;
  return existsSync(stampFile(root)) && readFileSync(stampFile(root), 'utf8').trim() === hash;
}

/** Records `hash` as the inputs of a successful build. */
export function writeStamp(root, hash) {
  mkdirSync(dirname(stampFile(root)), { recursive: true });
  writeFileSync(stampFile(root), hash + '\n');
}

function main(args) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  // The hash of what is compiled, taken before compiling: an edit made during the build counts as a change.
  const hash = inputsHash(root);
  if (!args.includes('--force') && upToDate(root, hash)) {
    process.stderr.write('build: up to date (no source changed since the last build)\n');
    return 0;
  }
  // A failed build may still have written some outputs (tsc emits despite type errors): the stamp
  // goes first, so those outputs never pass for the last successful build's.
  rmSync(stampFile(root), { force: true });
  const npm = process.env.npm_execpath;
  const r = npm
    ? spawnSync(process.execPath, [npm, 'run', '--silent', 'build:compile'], { cwd: root, stdio: 'inherit' })
    : spawnSync('npm', ['run', '--silent', 'build:compile'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) return r.status ?? 1;
  writeStamp(root, hash);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exit(main(process.argv.slice(2)));
