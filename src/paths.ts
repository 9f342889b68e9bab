import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The project root (the folder holding package.json), whether running from `src/` or `dist/src/`. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
}

/** How to start a Node entry module in a child process: the file and the node flags it needs. */
export interface EntryCommand {
  entry: string;
  execArgv: string[];
}

/**
 * Resolves a sibling entry module of `fromUrl`: the compiled `.js` in production (`dist/`), else the
 * `.ts` source run through tsx (tests and development run the TypeScript sources). isolated-vm needs
 * `--no-node-snapshot` on Node >= 20 in every process that may load it.
 */
export function resolveEntry(fromUrl: string, name: string): EntryCommand {
  const here = fileURLToPath(fromUrl);
  const dir = dirname(here);
  const js = join(dir, `${name}.js`);
  if (here.endsWith('.js') && existsSync(js)) return { entry: js, execArgv: ['--no-node-snapshot'] };
  const ts = join(dir, `${name}.ts`);
  if (!existsSync(ts)) throw new Error(`entry ${name} not found next to ${here}`);
  let loader: string;
  try {
    loader = createRequire(fromUrl).resolve('tsx');
  } catch {
    throw new Error(`running ${name} from TypeScript sources needs the tsx package (npm install)`);
  }
  return { entry: ts, execArgv: ['--no-node-snapshot', '--import', pathToFileURL(loader).href] };
}

/** How to start a sibling module as a worker thread: a file, or (from TypeScript sources) code to eval. */
export interface ThreadEntry {
  filename: string;
  eval: boolean;
}

/**
 * Resolves a sibling module of `fromUrl` to run in a worker thread: the compiled `.js` in production;
 * from the `.ts` sources (tests, development), code that registers tsx's loader in the thread first
 * (a worker's `execArgv` does not take `--import` loaders).
 */
export function resolveThreadEntry(fromUrl: string, name: string): ThreadEntry {
  const command = resolveEntry(fromUrl, name);
  if (command.entry.endsWith('.js')) return { filename: command.entry, eval: false };
  const api = createRequire(fromUrl)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  if (!existsSync(api)) throw new Error(`running ${name} from TypeScript sources needs tsx's ESM API (${api})`);
  const code =
    `import(${JSON.stringify(pathToFileURL(api).href)})` +
    `.then(({ register }) => { register(); return import(${JSON.stringify(pathToFileURL(command.entry).href)}); });`;
  return { filename: code, eval: true };
}
