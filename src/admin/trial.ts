import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SelectorConfig } from '../model/selector.js';
import type { SelectorRequest, TrialResult } from '../selector/types.js';
import { AdminError, type ErrorDetail } from './errors.js';
import type { AdminRuntime } from './runtime.js';

/**
 * Trial-runs a selector in the sandbox on one sample request; throws SELECTOR_INVALID (with the
 * script's line and column when known) unless it compiled and returned a valid result.
 */
export async function requireSelectorTrial(
  runtime: AdminRuntime,
  apiId: string,
  config: SelectorConfig,
  request: SelectorRequest,
): Promise<TrialResult> {
  const result = await runtime.trialSelector(apiId, config, request);
  if (result.ok) return result;
  const failure = result.error;
  const detail: ErrorDetail = { path: 'code', message: failure?.message ?? 'the selector failed without a message' };
  if (failure?.line !== undefined) detail.line = failure.line;
  if (failure?.column !== undefined) detail.column = failure.column;
  const kind = failure?.kind ?? 'unknown';
  throw new AdminError('SELECTOR_INVALID', `the selector failed its trial run (${kind}); nothing was saved`, [detail]);
}

/** Selector runs (trials and explanations that run a selector) one admin process makes at once… */
export const MAX_TRIALS_RUNNING = 4;
/** …and of those, how many one admin token may have running. */
export const MAX_TRIALS_PER_TOKEN = 2;

/**
 * Admits the admin routes' selector runs. The sandbox's trial host runs them one after another, each
 * up to its time limit (a second of CPU, two of wall clock), so without a bound one token sending
 * trials of an endless loop in parallel queued every later trial, an editor's selector save included,
 * for minutes. Past MAX_TRIALS_PER_TOKEN of one token or MAX_TRIALS_RUNNING in all, a run is refused
 * at once with 429 SELECTOR_TRIALS_BUSY and `Retry-After: 1`; nothing waits.
 */
export class TrialGate {
  private running = 0;
  private readonly perToken = new Map<string, number>();

  /** Runs `work` as one of the calling token's selector runs, or refuses it when a bound is reached. */
  async run<T>(request: FastifyRequest, reply: FastifyReply, work: () => Promise<T>): Promise<T> {
    const token = request.actor.id;
    const mine = this.perToken.get(token) ?? 0;
    if (mine >= MAX_TRIALS_PER_TOKEN || this.running >= MAX_TRIALS_RUNNING) {
      reply.header('retry-after', '1');
      throw new AdminError(
        'SELECTOR_TRIALS_BUSY',
        mine >= MAX_TRIALS_PER_TOKEN
          ? `this token has ${mine} selector runs going (at most ${MAX_TRIALS_PER_TOKEN} at once); try again when one ends`
          : `${this.running} selector runs are going (at most ${MAX_TRIALS_RUNNING} at once); try again shortly`,
      );
    }
    this.running++;
    this.perToken.set(token, mine + 1);
    try {
      return await work();
    } finally {
      this.running--;
      const left = (this.perToken.get(token) ?? 1) - 1;
      if (left > 0) this.perToken.set(token, left);
      else this.perToken.delete(token);
    }
  }
}
