import { Server as NetServer, type Socket } from 'node:net';
import { Admission, type AdmissionRefusal, type AdmissionTicket } from '../admission.js';
import { ClientConnection } from './client-connection.js';
import type { ConnectionOwner } from './connection-owner.js';
import { gatewayErrorAnswer, type RejectCode } from './error-answer.js';
import type { ClientRequest } from './client-request.js';
import type { ClientResponse } from './client-response.js';

/** Timeouts of the client side. */
export interface ClientTimeouts {
  /** Longest time from a request's first byte (or a new connection) to the end of its head, ms. */
  headerTimeoutMs: number;
  /** Longest idle time of a keep-alive connection between two requests, ms. */
  keepAliveTimeoutMs: number;
  /** A client that reads nothing of what it was sent for this long is cut, ms (default 30 s). */
  sendTimeoutMs?: number;
  /** How much of an answer a client may leave unread before its node is paused, bytes (default 256 KiB). */
  responseBufferBytes?: number;
}

/** How long a refused connection may take to read its answer before it is closed. */
const REFUSE_LINGER_MS = 1_000;

/** Admission with no limit (for servers built without one). */
const UNLIMITED = {
  maxConnections: Infinity,
  maxConnectionsPerIp: Infinity,
  maxHeadMemoryBytes: Infinity,
  maxBufferedResponses: Infinity,
};

/**
 * The gateway port's HTTP/1.1 server: a net.Server whose connections are ClientConnections (the
 * gateway's own request parser and response writer, in place of node:http's). Timeouts are checked
 * by one sweep over the connections rather than a timer per request; `closeIdleConnections` and
 * `closeAllConnections` serve the graceful drain as node:http's do.
 */
export class GatewayHttpServer extends NetServer implements ConnectionOwner<ClientConnection> {
  readonly headerTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** The keep-alive timeout announced in `Keep-Alive: timeout=N`. */
  readonly keepAliveSeconds: number;
  readonly sendTimeoutMs: number;
  readonly responseBufferBytes: number;
  /** True once `close` was called: every answer from then on ends its connection. */
  closing = false;
  private readonly clients = new Set<ClientConnection>();
  private sweep: NodeJS.Timeout | null = null;

  constructor(
    timeouts: ClientTimeouts,
    readonly handler: (req: ClientRequest, res: ClientResponse) => void,
    /** Hears of every request refused at the HTTP layer (malformed, too large, head timeout, a refused connection). */
    readonly rejected: (code: RejectCode | AdmissionRefusal) => void = () => {},
    /** The connection limits (shared with any other listener of this process). */
    readonly admission: Admission = new Admission(UNLIMITED),
  ) {
    super({ noDelay: true });
    this.headerTimeoutMs = timeouts.headerTimeoutMs;
    this.keepAliveTimeoutMs = timeouts.keepAliveTimeoutMs;
    this.keepAliveSeconds = Math.max(1, Math.floor(timeouts.keepAliveTimeoutMs / 1000));
    this.sendTimeoutMs = timeouts.sendTimeoutMs ?? 30_000;
    this.responseBufferBytes = timeouts.responseBufferBytes ?? 256 * 1024;
    this.on('connection', (socket: Socket) => {
      const ticket = this.admission.admit(socket.remoteAddress ?? '');
      if (typeof ticket === 'string') this.refuse(socket, ticket);
      else this.adopt(socket, ticket);
    });
    this.on('listening', () => this.startSweep());
    this.on('close', () => this.stopSweep());
  }

  /** Stops accepting; connections stay until their answers end them (see closeIdleConnections). */
  override close(callback?: (err?: Error) => void): this {
    this.closing = true;
    return super.close(callback);
  }

  /**
   * Serves HTTP/1.1 on a connection the admission admitted: the plain port's own, and the TLS port's
   * after their handshake (admitted at accept by the TLS port), so both share one connection set,
   * its limits, timeouts and drain.
   */
  adopt(socket: Socket, ticket: AdmissionTicket): void {
    this.clients.add(new ClientConnection(socket, this, ticket));
  }

  /**
   * Answers a connection the admission refused with its gateway error before any request (clients
   * read it as the answer to the request they send) and closes it; under a flood, closes it silently.
   */
  private refuse(socket: Socket, code: AdmissionRefusal): void {
    this.rejected(code);
    socket.on('error', () => {});
    if (!this.admission.startRefusal()) {
      socket.destroy();
      return;
    }
    const linger = setTimeout(() => socket.destroy(), REFUSE_LINGER_MS);
    linger.unref();
    socket.on('close', () => {
      this.admission.endRefusal();
      clearTimeout(linger);
    });
    socket.end(gatewayErrorAnswer(code));
  }

  forget(conn: ClientConnection): void {
    this.clients.delete(conn);
  }

  /** Closes every connection that has no request in progress. */
  closeIdleConnections(): void {
    for (const conn of this.clients) if (conn.idle) conn.destroy();
  }

  /** Closes every connection. */
  closeAllConnections(): void {
    for (const conn of this.clients) conn.destroy();
  }

  private startSweep(): void {
    if (this.sweep !== null) return;
    // A quarter of the shortest timeout, at most a second: deadlines are honoured within that.
    const every = Math.min(
      1_000,
      Math.max(10, Math.floor(Math.min(this.headerTimeoutMs, this.keepAliveTimeoutMs, this.sendTimeoutMs) / 4)),
    );
    this.sweep = setInterval(() => {
      const now = performance.now();
      for (const conn of this.clients) {
        if (now >= conn.deadline) conn.expire();
        else if (now >= conn.send.deadline) conn.send.expire(now);
      }
    }, every);
    this.sweep.unref();
  }

  private stopSweep(): void {
    if (this.sweep !== null) clearInterval(this.sweep);
    this.sweep = null;
  }
}
