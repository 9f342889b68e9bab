import { performance } from 'node:perf_hooks';
import { PendingRequest, UpstreamConnection, type ConnectionOwner, type UpstreamTarget } from './connection.js';
import { UPSTREAM_ERRORS, upstreamError } from './errors.js';
import type { UpstreamHandler, UpstreamRequest } from './types.js';

/** How a pool connects and keeps connections. */
export interface UpstreamPoolOptions {
  /** Most connections open at once; further requests wait in order. */
  connections: number;
  /** Idle connections are closed after this long (shortened by the node's own `Keep-Alive: timeout`). */
  keepAliveMs: number;
  /** Longest wait for a new connection. */
  connectMs: number;
}

/** A node's `Keep-Alive: timeout` is cut by this much, so the gateway never reuses a connection the node is closing. */
const KEEP_ALIVE_MARGIN_MS = 1_000;

/**
 * Keep-alive connections to one origin (`http://host:port` or `https://…`): an idle connection is
 * reused (most recently used first), a new one is opened while fewer than `connections` are open,
 * otherwise the request waits its turn. The gateway's own HTTP/1.1 client: undici cost about as much
 * CPU per proxied request as all of the gateway's stages together (README, Benchmark).
 */
export class UpstreamPool implements ConnectionOwner {
  readonly target: UpstreamTarget;
  readonly connectMs: number;
  private readonly idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private readonly queue: PendingRequest[] = [];
  private closing = false;
  private onClosed: (() => void) | null = null;
  private readonly abortRequest = (p: PendingRequest, err: Error): void => {
    if (p.ended) return;
    if (p.conn !== null) p.conn.fail(err);
    else {
      const i = this.queue.indexOf(p);
      if (i >= 0) this.queue.splice(i, 1);
      p.fail(err);
    }
  };

  constructor(
    readonly origin: string,
    private readonly options: UpstreamPoolOptions,
  ) {
    const url = new URL(origin);
    const tls = url.protocol === 'https:';
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.target = { host, port: url.port === '' ? (tls ? 443 : 80) : Number(url.port), tls };
    this.connectMs = options.connectMs;
  }

  /** Connections open now (busy, idle or connecting). */
  get size(): number {
    return this.all.size;
  }

  /** Sends a request; the handler hears of it as `UpstreamHandler` describes. */
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    const p = new PendingRequest(request, handler, this.abortRequest);
    handler.onConnect(p.abort);
    if (p.ended) return;
    if (this.closing) {
      p.fail(upstreamError(UPSTREAM_ERRORS.closed, 'the pool is closed'));
      return;
    }
    this.start(p);
  }

  private start(p: PendingRequest): void {
    const idle = this.idle;
    if (idle.length > 0) {
      const now = performance.now();
      while (idle.length > 0) {
        const conn = idle.pop()!;
        if (conn.expiresAt > now && conn.usable) {
          conn.run(p);
          return;
        }
        conn.destroy();
      }
    }
    if (this.all.size < this.options.connections) {
      const conn = new UpstreamConnection(this, p);
      this.all.add(conn);
      return;
    }
    this.queue.push(p);
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
    if (this.closing) {
      conn.destroy();
      return;
    }
    const keepMs = keepAliveHintMs >= 0 ? Math.min(this.options.keepAliveMs, keepAliveHintMs - KEEP_ALIVE_MARGIN_MS) : this.options.keepAliveMs;
    if (keepMs <= 0) {
      conn.destroy();
      return;
    }
    conn.expiresAt = performance.now() + keepMs;
    this.idle.push(conn);
  }

  forget(conn: UpstreamConnection): void {
    if (conn.forgotten) return;
    conn.forgotten = true;
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    const next = this.all.size < this.options.connections ? this.queue.shift() : undefined;
    if (next !== undefined) this.start(next);
    else if (this.closing && this.all.size === 0) this.onClosed?.();
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
    if (this.all.size === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onClosed = resolve;
    });
  }

  /** Closes every connection now; requests in progress or waiting fail. */
  destroy(): void {
    this.closing = true;
    const err = upstreamError(UPSTREAM_ERRORS.closed, 'the pool was destroyed');
    for (const p of this.queue.splice(0)) p.fail(err);
    for (const conn of [...this.all]) conn.fail(err);
  }
}
