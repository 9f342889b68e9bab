import { performance } from 'node:perf_hooks';
import type { SelectorConfig } from '../model/selector.js';
import type { HostProcess } from './host-process.js';
import { wallTimeoutMs } from './limits.js';
import { TOO_LARGE, unavailable, type SandboxOp } from './program.js';
import type { SelectorNode, SelectorRequest, TrialResult } from './types.js';

/** Allowance for building a locked-down realm and compiling a script, on top of its own time limits. */
export const COMPILE_ALLOWANCE_MS = 3000;

/**
 * Admin trials (`PUT …/selector` checks and `POST …/selector/test`): compiled fresh in the trial
 * host, its own process, run once, never registered, memoized or quarantined. The realm is the same
 * as a served selector's, memoized or not.
 */
export function runTrial(
  host: HostProcess<SandboxOp> | null,
  id: number,
  config: SelectorConfig,
  request: SelectorRequest,
  env: Record<string, string>,
  nodes: SelectorNode[],
): Promise<TrialResult> {
  const startedAt = performance.now();
  if (host === null) {
    return Promise.resolve({
      ok: false,
      picked: [],
      error: unavailable('no sandbox process is available'),
      durationUs: 0,
      console: [],
    });
  }
  const payload = {
    config: { code: config.code, timeoutMs: config.timeoutMs, memoryMb: config.memoryMb },
    request,
    env,
    nodes: nodes.map((n) => ({ id: n.id, name: n.name, url: n.url, weight: n.weight, tags: n.tags })),
  };
  return new Promise((resolve) => {
    const sent = host.send({
      kind: 'trial',
      id,
      msg: `T${id}\t${JSON.stringify(payload)}`,
      timeoutMs: wallTimeoutMs(config.timeoutMs) * 3 + COMPILE_ALLOWANCE_MS,
      resends: 0,
      startedAt,
      resolve,
    });
    if (!sent) resolve({ ok: false, picked: [], error: unavailable(TOO_LARGE), durationUs: 0, console: [] });
  });
}
