import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StartupError } from '../runtime/listen.js';

/** How deep a data dir may be below its first existing ancestor (a bound on the walk up). */
const MAX_NEW_LEVELS = 32;

/**
 * Makes the data dir usable or fails at once with a StartupError naming `--data-dir`: creates the
 * missing folders one level at a time and proves a file can be written there. Node's recursive
 * mkdir loops forever on some paths (`/proc/x` answers ENOENT for ever), and `access(W_OK)` says
 * yes to root on file systems that take no files, so both are done by hand. Returns the absolute path.
 */
export function prepareDataDir(path: string): string {
  const dir = resolve(path);
  const fail = (what: string, err: unknown): never => {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new StartupError('--data-dir', `${dir} cannot be used as the data directory: ${what} (${code})`);
  };
  const missing: string[] = [];
  let at = dir;
  while (!existsSync(at)) {
    if (missing.length === MAX_NEW_LEVELS || dirname(at) === at)
      fail('too many folders to create', new Error(`more than ${MAX_NEW_LEVELS} levels`));
    missing.unshift(at);
    at = dirname(at);
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder);
    } catch (err) {
      fail(`cannot create ${folder}`, err);
    }
  }
  try {
    if (!statSync(dir).isDirectory()) fail('it is not a directory', new Error('ENOTDIR'));
  } catch (err) {
    if (err instanceof StartupError) throw err;
    fail('cannot read it', err);
  }
  const probe = join(dir, `.isogate-write-check-${process.pid}`);
  try {
    writeFileSync(probe, 'ok');
  } catch (err) {
    fail('cannot create files in it', err);
  } finally {
    rmSync(probe, { force: true });
  }
  return dir;
}
