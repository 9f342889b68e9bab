import type { HttpMethod } from '../../model/method.js';
import type { CompiledNode } from '../../snapshot/snapshot.js';
import { BodyTimeoutError, RequestBodyTooLargeError, TlsHandshakeError } from '../../upstream/errors.js';
import type { UpstreamHandler } from '../../upstream/types.js';
import type { RequestContext, RetryReason } from '../context.js';
import { ClientClosedError } from '../exchange.js';
import { RequestParseError } from '../http/request-parser.js';
import { hasBody, withAccessHeaders } from './access.js';
import { nextPick } from '../../balance/decision.js';
import { answerHeaders } from './answer-headers.js';
import { forwardHeaders, upstreamPath } from './forward.js';
import {
  ClientGoneError,
  DroppedForRetryError,
  errorCode,
  failureKind,
  refusalCode,
  RetryDeadlineError,
} from './try-failure.js';

/**
 * Stage 4 — proxy: forwards the request to the picked node through its keep-alive pool, streaming
 * both bodies. A failed try moves to another node not tried yet, at most `retries` times and within
 * `retry.deadlineMs`: after a connect failure or a refusal by the node's wait queue (full, or no
 * connection free in time) for any method (the node never saw the request); after a timeout, a reset
 * or a status in `retry.statuses` only for `retry.methods`. A body that is being streamed is never
 * resent. Every try's outcome but a queue refusal goes to the node's passive health check.
 */
export function proxyStage(ctx: RequestContext): Promise<boolean> {
  const deadlineMs = ctx.api!.api.retry.deadlineMs;
  const budget = ctx.api!.retryBudget;
  budget.active++;
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const exchange: Exchange = {
      done: (ok) => {
        if (exchange.ended) return;
        exchange.ended = true;
        budget.active--;
        if (exchange.retrying) budget.retrying--;
        if (timer !== undefined) clearTimeout(timer);
        resolve(ok);
      },
      deadlineAt: Infinity,
      expired: false,
      current: null,
      retrying: false,
      ended: false,
    };
    if (deadlineMs !== null) {
      exchange.deadlineAt = performance.now() + deadlineMs;
      // A timer of the request's own: the pool's timeouts are per phase, the deadline spans every try.
      timer = setTimeout(() => {
        exchange.expired = true;
        exchange.current?.expire();
      }, deadlineMs);
    }
    attempt(ctx, exchange);
  });
}

/** One request's tries: how it ends, its deadline, the try in progress, and its place in the retry budget. */
interface Exchange {
  done: (ok: boolean) => void;
  deadlineAt: number;
  expired: boolean;
  current: ProxyHandler | null;
  /** It holds a place in its API's retry budget (taken at its first retry after a failure the node saw, given back when it ends). */
  retrying: boolean;
  ended: boolean;
}

function attempt(ctx: RequestContext, exchange: Exchange): void {
  const node = ctx.node!;
  const api = ctx.api!.api;
  const handler = new ProxyHandler(ctx, node, exchange);
  exchange.current = handler;
  node.health.inFlight++;
  node.pool.dispatch(
    {
      method: ctx.method,
      path: upstreamPath(ctx),
      headers: forwardHeaders(ctx, node),
      body: ctx.body ?? (handler.streamed ? ctx.req.body : null),
      headersTimeout: api.timeouts.headersMs,
      bodyTimeout: api.timeouts.bodyMs,
      maxBodyBytes: api.maxBodyBytes,
      replayable: !handler.streamed && api.retry.methods.includes(ctx.method as HttpMethod),
    },
    handler,
  );
}

/** The next node for a retry after `reason`, or null when this request may not be retried (any more). */
function retryNode(
  ctx: RequestContext,
  exchange: Exchange,
  streamed: boolean,
  reason: RetryReason,
): CompiledNode | null {
  const api = ctx.api!.api;
  if (streamed || ctx.tried.length > api.retries || ctx.res.destroyed || exchange.expired) return null;
  // The node never saw the request after a connect failure or a queue refusal: any method may go to another.
  const unseen = reason === 'connect' || reason === 'queue';
  if (!unseen && !api.retry.methods.includes(ctx.method as HttpMethod)) return null;
  if (performance.now() >= exchange.deadlineAt) return null;
  const next = nextPick(ctx.api!.algorithm, ctx.candidates, ctx.tried, ctx);
  if (next === null) return null;
  // A retry the failed node never saw adds no load to it (the request is moved, not repeated): only
  // the others take a place.
  if (!unseen && !exchange.retrying) {
    if (!ctx.api!.retryBudget.admit(api.retry.budgetPercent, api.retry.budgetMinConcurrent)) {
      ctx.retryRefused = true;
      return null;
    }
    exchange.retrying = true;
  }
  ctx.tried.push(next.index);
  ctx.retryReasons.push(reason);
  return next;
}

/**
 * The upstream pool's handler for one try: streams the node's response into the client's, with
 * backpressure, reports the outcome to the node's passive check, and starts the retry when there is one.
 * (Methods rather than per-try closures: this runs for every request.)
 */
class ProxyHandler implements UpstreamHandler {
  /** The request body streams from the client (not buffered), so it cannot be sent twice. */
  readonly streamed: boolean;
  private abort: ((err: Error) => void) | null = null;
  private resume: (() => void) | null = null;
  private started = false;
  private finished = false;
  /** The response is being dropped for a retry: nothing more of it reaches the client. */
  private dropped = false;
  private settled = false;

  constructor(
    private readonly ctx: RequestContext,
    private readonly node: CompiledNode,
    private readonly exchange: Exchange,
  ) {
    this.streamed = ctx.body === null && hasBody(ctx);
  }

  /** The try failed before response headers (the client has seen nothing yet): retry or fail. */
  private failed(err: Error): void {
    const ctx = this.ctx;
    const api = ctx.api!.api;
    const passive = api.health.passive;
    const done = this.exchange.done;
    const code = errorCode(err);
    ctx.upstreamError = code;
    const kind = failureKind(err, ctx);
    if (kind === 'client') {
      ctx.upstreamError = 'CLIENT_ABORTED';
      done(false);
      return;
    }
    if (kind === 'bad-body' || kind === 'too-large') {
      // The client's streamed body turned out malformed or too large: its fault, not the node's.
      ctx.upstreamError = null;
      ctx.fail(err instanceof RequestParseError ? err.code : 'BODY_TOO_LARGE');
      done(false);
      return;
    }
    if (kind === 'deadline') {
      ctx.fail('UPSTREAM_TIMEOUT');
      done(false);
      return;
    }
    // A queue refusal (the pool's or the process's bounds, or no file left: busy or not at fault, not
    // failing) says nothing of the node's health.
    if (passive !== null && kind !== 'queue' && (kind !== 'timeout' || passive.timeouts))
      this.node.health.failed(kind, code, passive);
    const next = kind === 'timeout' && !api.retry.timeouts ? null : retryNode(ctx, this.exchange, this.streamed, kind);
    if (next !== null) {
      ctx.node = next;
      attempt(ctx, this.exchange);
      return;
    }
    if (kind === 'queue') {
      // No other node left to try (or retries spent): the refusal as it is.
      ctx.fail(refusalCode(err));
    } else if (kind === 'connect') {
      const allTried = ctx.tried.length > 1 && ctx.candidates.every((n) => ctx.tried.includes(n.index));
      // A failed TLS handshake is retried as a connect failure is, but alone it stays what it is: a misconfigured node.
      ctx.fail(
        allTried ? 'ALL_NODES_TRIED' : err instanceof TlsHandshakeError ? 'UPSTREAM_ERROR' : 'UPSTREAM_CONNECT_FAILED',
      );
    } else ctx.fail(kind === 'timeout' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_ERROR');
    done(false);
  }

  /** Response headers arrived: the passive check hears of it; true when this answer is dropped for a retry on `ctx.node`. */
  private answered(status: number): boolean {
    const ctx = this.ctx;
    const api = ctx.api!.api;
    const passive = api.health.passive;
    if (passive !== null) {
      if (passive.statuses.includes(status)) this.node.health.failed('status', `HTTP ${status}`, passive);
      else this.node.health.passed();
    }
    if (!api.retry.statuses.includes(status)) return false;
    const next = retryNode(ctx, this.exchange, this.streamed, 'status');
    if (next === null) return false;
    ctx.node = next;
    return true;
  }

  /** The response broke after its headers were sent on: only the passive check can still learn from it. */
  private broken(err: Error): void {
    const passive = this.ctx.api!.api.health.passive;
    if (passive === null || this.ctx.res.destroyed) return;
    // A body the client's own limit cut, or a client that left, says nothing about the node.
    if (err instanceof RequestBodyTooLargeError || err instanceof ClientClosedError) return;
    const timeout = err instanceof BodyTimeoutError;
    if (!timeout || passive.timeouts) this.node.health.failed(timeout ? 'timeout' : 'reset', errorCode(err), passive);
  }

  /** The total deadline passed: a try still waiting for its answer ends now (one already answering goes on). */
  expire(): void {
    if (!this.started && !this.finished) this.abort?.(new RetryDeadlineError('the request deadline passed'));
  }

  /** Ends the try's in-flight count, once. */
  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.node.health.inFlight--;
  }

  onConnect(abort: (err: Error) => void): void {
    this.abort = abort;
    const ctx = this.ctx;
    const res = ctx.res;
    if (res.destroyed) {
      abort(new ClientGoneError('the client went away'));
      return;
    }
    if (this.exchange.expired) {
      abort(new RetryDeadlineError('the request deadline passed'));
      return;
    }
    // One close listener per request, always aborting the current try (a retry replaces the aborter).
    if (!ctx.aborter) res.onClose(() => ctx.aborter?.());
    ctx.aborter = () => {
      if (!this.finished) this.abort?.(new ClientGoneError('the client went away'));
    };
  }

  onHeaders(statusCode: number, headers: string[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: wait for the final response
    const ctx = this.ctx;
    if (this.answered(statusCode)) {
      // Drop this answer (closing its connection: reading a 5xx body to keep it alive is not worth the wait).
      this.dropped = true;
      this.finished = true;
      this.abort?.(new DroppedForRetryError('dropped for a retry'));
      this.settle();
      attempt(ctx, this.exchange);
      return false;
    }
    ctx.upstreamMs = performance.now() - ctx.startedAt;
    ctx.node = this.node;
    this.started = true;
    const res = ctx.res;
    ctx.status = statusCode;
    res.writeHead(statusCode, withAccessHeaders(ctx, answerHeaders(headers)));
    this.resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.dropped) return true;
    const res = this.ctx.res;
    if (res.write(chunk)) return true;
    // Backpressure: the pool pauses the upstream until the client's socket drains.
    res.onDrain(this.resume!);
    return false;
  }

  onComplete(last: Buffer | null): void {
    if (this.dropped) return;
    this.finished = true;
    this.settle();
    if (last === null) this.ctx.res.end();
    else this.ctx.res.end(last);
    this.exchange.done(true);
  }

  onError(err: Error): void {
    if (this.dropped) return;
    this.finished = true;
    this.settle();
    if (!this.started) {
      this.failed(err);
      return;
    }
    // Headers are out: the only honest signal left is to cut the client's connection.
    this.ctx.upstreamError = errorCode(err);
    this.broken(err);
    this.ctx.res.destroy(err);
    this.exchange.done(false);
  }
}
