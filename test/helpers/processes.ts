import { request } from 'node:http';
import { startUpstream } from './upstreams.js';

/** A port that was free a moment ago (for a child process to bind). */
export async function freePort(): Promise<number> {
  const u = await startUpstream('probe');
  await u.close();
  return u.port;
}

/**
 * One GET on its own connection (so requests spread over gateway workers); resolves with the
 * answering node (`x-node`), else the gateway error code, else the status. Bounded to 5 s.
 */
export function requestOnce(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.headers['x-node'] ?? res.headers['x-isogate-error'] ?? res.statusCode)));
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('no answer in 5 s')));
    req.end();
  });
}

/** Calls an admin API on 127.0.0.1 with a bearer token; resolves with the parsed JSON (null for 204). */
export function adminClient(port: () => number, token: string) {
  return async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${port()}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return res.status === 204 ? null : res.json();
  };
}

/** Polls `fn` until `ok` holds (errors count as not yet), at most `tries` times `intervalMs` apart. */
export async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, tries = 200, intervalMs = 50): Promise<T> {
  let last!: T;
  for (let i = 0; i < tries; i++) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`condition not reached; last: ${JSON.stringify(last)}`);
}
