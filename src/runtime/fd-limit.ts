import { readFileSync } from 'node:fs';

/** This process's soft limit of open files (Linux `/proc/self/limits`), or null where it cannot be read. */
export function openFileLimit(): number | null {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    if (line === null || line[1] === 'unlimited') return null;
    return Number(line[1]);
  } catch {
    return null;
  }
}

/**
 * The client connections a process can hold with `limit` open files: a quarter of them (at least 256)
 * stay for upstream sockets, the store, log and sandbox pipes. Past the limit `accept` fails for
 * every client alike, so the admission limit must be reached first.
 */
export function connectionsWithin(limit: number): number {
  return Math.max(1, limit - Math.max(256, Math.floor(limit / 4)));
}
