import { resolveEntry, type EntryCommand } from '../paths.js';

/** How to start a sandbox host: the entry file and the node flags it needs. */
export type HostCommand = EntryCommand;

/**
 * Finds the host entry next to this module: the compiled `host.js` in production (`dist/`), else
 * `host.ts` run through tsx (tests and development run the TypeScript sources).
 */
export function resolveHostCommand(): HostCommand {
  return resolveEntry(import.meta.url, 'host');
}
