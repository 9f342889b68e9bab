import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** How to start a sandbox host: the entry file and the node flags it needs. */
export interface HostCommand {
  entry: string;
  execArgv: string[];
}

/**
 * Finds the host entry next to this module: the compiled `host.js` in production (`dist/`), else
 * `host.ts` run through tsx (tests and development run the TypeScript sources).
 */
export function resolveHostCommand(): HostCommand {
  const here = fileURLToPath(import.meta.url);
  const dir = dirname(here);
  // isolated-vm needs --no-node-snapshot on Node >= 20.
  const js = join(dir, 'host.js');
  if (here.endsWith('.js') && existsSync(js)) return { entry: js, execArgv: ['--no-node-snapshot'] };
  const ts = join(dir, 'host.ts');
  if (!existsSync(ts)) throw new Error(`sandbox host entry not found next to ${here}`);
  let loader: string;
  try {
    loader = createRequire(import.meta.url).resolve('tsx');
  } catch {
    throw new Error('running the sandbox host from TypeScript sources needs the tsx package (npm install)');
  }
  return { entry: ts, execArgv: ['--no-node-snapshot', '--import', pathToFileURL(loader).href] };
}
