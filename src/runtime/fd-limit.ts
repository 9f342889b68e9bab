import { readFileSync } from 'node:fs';
import { MAX_REFUSING } from '../gateway/admission.js';

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
  return Math.max(1, limit - filesKeptAside(limit));
}

/**
 * Refused connections a process can answer at once with `limit` open files: a quarter of the files
 * kept aside, at most MAX_REFUSING. Each holds a descriptor for up to a second; with more, a flood of
 * refused connections would use up what the upstream sockets and the store need, and `accept` fail.
 */
export function refusalsWithin(limit: number): number {
  return Math.max(1, Math.min(MAX_REFUSING, Math.floor(filesKeptAside(limit) / 4)));
}

/**
 * Upstream sockets (all nodes together) a process can hold with `limit` open files beside
 * `clientConnections` client connections: half of what those and the refusals leave (96 with
 * `ulimit -n 1024`); the other half stays for the store, the log, the status port and the sandbox's
 * pipes. Past it, idle keep-alive sockets are closed, least recently used first, or requests wait
 * (docs/edge-limits.md): without the bound, keep-alive sockets to many nodes used up the files.
 */
export function upstreamSocketsWithin(limit: number, clientConnections: number): number {
  return Math.max(1, Math.floor((limit - clientConnections - refusalsWithin(limit)) / 2));
}

function filesKeptAside(limit: number): number {
  return Math.max(256, Math.floor(limit / 4));
}
