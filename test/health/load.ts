import type { TestGateway } from '../helpers/isogate.js';

/** What a load run saw. */
export interface LoadResult {
  sent: number;
  /** Answers per node (the upstreams' `x-node`). */
  byNode: Record<string, number>;
  /** Every answer that was not a 200, as `status code` (code: the gateway error, if any). */
  failures: string[];
}

/** A running load: stop it to get the tally. */
export interface Load {
  readonly result: LoadResult;
  stop(): Promise<LoadResult>;
}

/**
 * Sends GETs with `concurrency` loops until stopped, bounded by `maxRequests` and `maxMs` whatever
 * happens (a test that forgets to stop it still ends).
 */
export function startLoad(
  t: TestGateway,
  path: string,
  options: { concurrency?: number; maxRequests?: number; maxMs?: number; init?: RequestInit } = {},
): Load {
  const { concurrency = 4, maxRequests = 20_000, maxMs = 30_000 } = options;
  const result: LoadResult = { sent: 0, byNode: {}, failures: [] };
  const endAt = Date.now() + maxMs;
  let stopped = false;
  const loop = async () => {
    while (!stopped && result.sent < maxRequests && Date.now() < endAt) {
      result.sent++;
      try {
        const res = await t.get(path, options.init);
        await res.arrayBuffer();
        const node = res.headers.get('x-node');
        if (res.status === 200 && node) result.byNode[node] = (result.byNode[node] ?? 0) + 1;
        else result.failures.push(`${res.status} ${res.headers.get('x-isogate-error') ?? ''}`.trim());
      } catch (err) {
        result.failures.push(`client ${(err as Error).message}`);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    result,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return result;
    },
  };
}

/** Polls `fn` until `ok` holds, every `intervalMs`, at most `maxMs`; returns the last value or throws. */
export async function waitFor<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  maxMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const endAt = Date.now() + maxMs;
  let last: T | undefined;
  while (Date.now() < endAt) {
    last = await fn();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`condition not reached within ${maxMs} ms; last: ${JSON.stringify(last)}`);
}
