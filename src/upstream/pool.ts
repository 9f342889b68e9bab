import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { UpstreamConnection } from './connection.js';
import { PendingRequest, type ConnectionOwner, type UpstreamTarget } from './connection-owner.js';
import {
  PoolClosedError,
  QueueFullError,
  QueueTimeoutError,
  SocketsExhaustedError,
  type OutOfFilesError,
} from './errors.js';
import type { NodeResolver } from './resolver.js';
import { unlimitedBudget, type BudgetWaiter, type SocketBudget } from './socket-budget.js';
import type { UpstreamHandler, UpstreamRequest } from './types.js';

/** How a pool connects and keeps connections. */
export interface UpstreamPoolOptions {
  /** Most connections open at once; further requests wait in order. */
  connections: number;
  /** Idle connections are closed after this long (shortened by the node's own `Keep-Alive: timeout`). */
  keepAliveMs: number;
  /** Longest wait for a new connection. */
  connectMs: number;
  /** Most requests waiting for a connection; more fail with QueueFullError at once. */
  maxWaiting: number;
  /** Longest wait for a connection, ms; then QueueTimeoutError. */
  waitMs: number;
}

/** A node's `Keep-Alive: timeout` is cut by this much, so the gateway never reuses a connection the node is closing. */
const KEEP_ALIVE_MARGIN_MS = 1_000;

/**
 * Keep-alive connections to one origin (`http://host:port` or `https://…`): an idle connection is
 * reused (most recently used first), a new one is opened while fewer than `connections` are open,
 * otherwise the request waits its turn, at most `maxWaiting` of them and each at most `waitMs` (as
 * Envoy bounds pending requests per cluster: a slow node's latency stays its own answer time plus a
 * bounded wait, and the requests beyond are refused rather than queued without end). Every connection
 * also holds a place in the process's `SocketBudget`, shared by all pools: with none free, the idle
 * socket of any pool unused the longest is closed for a new one, and with none idle the request waits
 * here as for a busy node (then `SocketsExhaustedError`). The gateway's own HTTP/1.1 client: undici
 * cost about as much CPU per proxied request as all of the gateway's stages together (README, Benchmark).
 */
export class UpstreamPool implements ConnectionOwner<UpstreamConnection>, BudgetWaiter {
  readonly target: UpstreamTarget;
  readonly connectMs: number;
  private readonly idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private readonly queue: PendingRequest[] = [];
  private closing = false;
  private onClosed: (() => void) | null = null;
  /** Fires at the oldest waiting request's deadline (one timer for the whole queue, none while it is empty). */
  private waitTimer: NodeJS.Timeout | null = null;
  private readonly expireWaiting = (): void => {
    this.waitTimer = null;
    const queue = this.queue;
    const now = performance.now();
    const waitMs = this.options.waitMs;
    while (queue.length > 0 && queue[0]!.queuedAt + waitMs <= now) {
      // Fewer connections than the pool's own bound: what it waited for is a place in the budget.
      queue
        .shift()!
        .fail(
          this.all.size < this.options.connections
            ? new SocketsExhaustedError(
                `no upstream socket became free within ${waitMs} ms: the process holds ${this.budget.open} of ${this.budget.limit}, all busy`,
              )
            : new QueueTimeoutError(`no connection to ${this.origin} became free within ${waitMs} ms`),
        );
    }
    this.armWait();
    this.closedIfDone();
  };
  private readonly abortRequest = (p: PendingRequest, err: Error): void => {
    if (p.ended) return;
    if (p.conn !== null) p.conn.fail(err);
    else {
      const i = this.queue.indexOf(p);
      if (i >= 0) this.queue.splice(i, 1);
      p.fail(err);
      this.closedIfDone();
    }
  };

  constructor(
    readonly origin: string,
    private readonly options: UpstreamPoolOptions,
    private readonly budget: SocketBudget = unlimitedBudget(),
    /** Resolves the origin's host when it is a name (else the system's lookup, uncached). */
    resolver: NodeResolver | null = null,
  ) {
    const url = new URL(origin);
    const tls = url.protocol === 'https:';
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    // Decided once per pool: an IP literal never goes through the resolver (nor does net call it).
    const lookup = resolver !== null && isIP(host) === 0 ? resolver.lookup : null;
    this.target = { host, port: url.port === '' ? (tls ? 443 : 80) : Number(url.port), tls, lookup };
    this.connectMs = options.connectMs;
  }

  /** Connections open now (busy, idle or connecting). */
  get size(): number {
    return this.all.size;
  }

  /** Requests waiting for a connection now. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Sends a request; the handler hears of it as `UpstreamHandler` describes. */
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    const p = new PendingRequest(request, handler, this.abortRequest);
    handler.onConnect(p.abort);
    if (p.ended) return;
    if (this.closing) {
      p.fail(new PoolClosedError('the pool is closed'));
      return;
    }
    this.start(p);
  }

  private armWait(): void {
    if (this.waitTimer !== null || this.queue.length === 0) return;
    const due = this.queue[0]!.queuedAt + this.options.waitMs - performance.now();
    this.waitTimer = setTimeout(this.expireWaiting, Math.max(1, Math.ceil(due)));
    this.waitTimer.unref();
  }

  private start(p: PendingRequest): void {
    const idle = this.idle;
    if (idle.length > 0) {
      const now = performance.now();
      while (idle.length > 0) {
        const conn = idle.pop()!;
        this.budget.unlistIdle(conn);
        if (conn.expiresAt > now && conn.usable) {
          conn.run(p);
          return;
        }
        conn.destroy();
      }
    }
    if (this.all.size < this.options.connections && this.open(p)) return;
    if (this.queue.length >= this.options.maxWaiting) {
      p.fail(new QueueFullError(`${this.queue.length} requests already wait for a connection to ${this.origin}`));
      return;
    }
    this.enqueue(p);
  }

  /** Opens a connection for `p` when the budget has a place; false when it has none (nothing is done). */
  private open(p: PendingRequest): boolean {
    if (!this.budget.take()) return false;
    this.all.add(new UpstreamConnection(this, p));
    return true;
  }

  /** `p` waits for a connection: one of the pool's to come free, or (below its own bound) a place in the budget. */
  private enqueue(p: PendingRequest): void {
    p.queuedAt = performance.now();
    this.queue.push(p);
    this.armWait();
    if (this.all.size < this.options.connections) this.budget.wait(this);
  }

  /** A place in the budget is free: the first waiting request takes it, if it still waits for one. */
  placeFree(): void {
    if (this.queue.length === 0 || this.all.size >= this.options.connections) return;
    if (!this.open(this.queue[0]!)) return;
    this.queue.shift();
    if (this.queue.length > 0 && this.all.size < this.options.connections) this.budget.wait(this);
  }

  release(conn: UpstreamConnection, reusable: boolean, keepAliveHintMs: number): void {
    if (!reusable || conn.forgotten) {
      conn.destroy();
      return;
    }
    const next = this.queue.shift();
    if (next !== undefined) {
      conn.run(next);
      return;
    }
    // Requests of other pools wait for a place: this socket's goes to them rather than idling.
    if (this.closing || this.budget.contended) {
      conn.destroy();
      return;
    }
    const keepMs =
      keepAliveHintMs >= 0
        ? Math.min(this.options.keepAliveMs, keepAliveHintMs - KEEP_ALIVE_MARGIN_MS)
        : this.options.keepAliveMs;
    if (keepMs <= 0) {
      conn.destroy();
      return;
    }
    conn.expiresAt = performance.now() + keepMs;
    this.idle.push(conn);
    this.budget.listIdle(conn);
  }

  forget(conn: UpstreamConnection): void {
    if (conn.forgotten) return;
    conn.forgotten = true;
    this.all.delete(conn);
    if (conn.idleListed) {
      this.budget.unlistIdle(conn);
      const i = this.idle.indexOf(conn);
      if (i >= 0) this.idle.splice(i, 1);
    }
    this.budget.give();
    // The place goes to this pool's own first waiting request, else to another pool's.
    const next = this.all.size < this.options.connections ? this.queue.shift() : undefined;
    if (next !== undefined) this.start(next);
    else this.budget.handOn();
    this.closedIfDone();
  }

  replay(p: PendingRequest): void {
    if (this.closing) {
      p.fail(new PoolClosedError('the pool is closed'));
      return;
    }
    // On a new connection: the other idle ones may be closing too (a node that restarted closes them all).
    if (this.all.size < this.options.connections && this.open(p)) return;
    this.enqueue(p);
  }

  noFiles(err: OutOfFilesError): void {
    this.budget.noFiles(err);
  }

  /** A closing pool with nothing left open or waiting is closed. */
  private closedIfDone(): void {
    if (this.closing && this.all.size === 0 && this.queue.length === 0) this.onClosed?.();
  }

  /** Closes idle connections past their keep-alive time. */
  sweep(now = performance.now()): void {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const conn = this.idle[i]!;
      if (conn.expiresAt <= now) conn.destroy();
    }
  }

  /** Closes the pool: new requests fail, waiting and running ones finish, then every connection closes. */
  close(): Promise<void> {
    this.closing = true;
    for (const conn of [...this.idle]) conn.destroy();
    if (this.queue.length === 0) this.budget.leave(this);
    if (this.all.size === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onClosed = resolve;
    });
  }

  /** Closes every connection now; requests in progress or waiting fail. */
  destroy(): void {
    this.closing = true;
    this.budget.leave(this);
    const err = new PoolClosedError('the pool was destroyed');
    for (const p of this.queue.splice(0)) p.fail(err);
    for (const conn of [...this.all]) conn.fail(err);
  }
}
