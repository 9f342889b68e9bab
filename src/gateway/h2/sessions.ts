import {
  createServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Admission, AdmissionTicket } from '../admission.js';
import { MAX_REQUEST_HEAD_BYTES } from '../http/request-parser.js';
import { StreamRequest, StreamResponse } from './stream-exchange.js';
import type { GatewayRequest, GatewayResponse } from '../exchange.js';

/** The bounds of every HTTP/2 session (RFC 9113 §6.5.2 settings and node's own limits). */
export const H2_LIMITS = {
  /** Streams open at once per session; more are refused with REFUSED_STREAM. */
  maxConcurrentStreams: 128,
  /** Largest header list (names, values and 32 bytes each, RFC 9113 §6.5.2) a request may send: the HTTP/1.1 head limit. */
  maxHeaderListSize: MAX_REQUEST_HEAD_BYTES,
  /** Most header fields in one request. */
  maxHeaderListPairs: 256,
  /** Flow-control window per stream (bytes a client may send before the gateway reads them). */
  initialWindowSize: 64 * 1024,
  /** Memory one session may hold (node's nghttp2 accounting, MB); beyond it new streams are refused. */
  maxSessionMemoryMb: 16,
  /** Streams a session may have refused before it is closed as abusive (rapid resets among them). */
  maxSessionRejectedStreams: 200,
  /** Invalid frames a session may send before it is closed. */
  maxSessionInvalidFrames: 100,
} as const;

/** How the HTTP/2 sessions run. */
export interface H2Options {
  /** An idle session (no frame either way) is closed with GOAWAY after this long. */
  idleTimeoutMs: number;
  /** The connection limits: a session is one client connection, idle while it has no open stream. */
  admission: Admission;
  /** Runs the lifecycle on one stream's request and response. */
  handler(req: GatewayRequest, res: GatewayResponse): void;
}

/**
 * HTTP/2 from clients (ALPN `h2` on the TLS port): node:http2 sessions over the TLS port's sockets,
 * each stream one request through the same lifecycle as HTTP/1.1 ones (proxied to nodes over the
 * HTTP/1.1 pools). Streams, header lists, windows and session memory are bounded (H2_LIMITS); a
 * session that breaks a bound is refused or closed alone, other sessions go on. Each session is one
 * client connection of the admission limits (admitted when the TLS port accepted its socket): busy
 * while a stream is open, idle otherwise, and then closed first when the process needs room.
 */
export class H2Sessions {
  private readonly server: Http2Server;
  private readonly sessions = new Map<Http2Session, H2Client>();
  /** The ticket of the socket being adopted: node makes its session synchronously, in `adopt`. */
  private adopting: AdmissionTicket | null = null;

  constructor(private readonly options: H2Options) {
    // A plain Http2Server used only as the session factory: the TLS port did the handshake.
    this.server = createServer({
      settings: {
        maxConcurrentStreams: H2_LIMITS.maxConcurrentStreams,
        maxHeaderListSize: H2_LIMITS.maxHeaderListSize,
        initialWindowSize: H2_LIMITS.initialWindowSize,
        enablePush: false,
      },
      maxHeaderListPairs: H2_LIMITS.maxHeaderListPairs,
      maxSessionMemory: H2_LIMITS.maxSessionMemoryMb,
      maxSessionRejectedStreams: H2_LIMITS.maxSessionRejectedStreams,
      maxSessionInvalidFrames: H2_LIMITS.maxSessionInvalidFrames,
    });
    this.server.on('session', (session: ServerHttp2Session) => this.track(session));
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) =>
      this.onStream(stream, headers, raw),
    );
  }

  /** Starts an HTTP/2 session on a TLS connection whose ALPN chose `h2`, counted by its admission `ticket`. */
  adopt(socket: TLSSocket, ticket: AdmissionTicket): void {
    this.adopting = ticket;
    this.server.emit('connection', socket);
    if (this.adopting === null) return;
    // No session came of it (node refused the socket): its place is given back.
    this.adopting = null;
    this.options.admission.release(ticket);
    socket.destroy();
  }

  /** Sessions open now. */
  get size(): number {
    return this.sessions.size;
  }

  /** Sends GOAWAY to every session: streams in progress finish, then each session closes. */
  closeIdleSessions(): void {
    for (const session of this.sessions.keys()) if (!session.closed) session.close();
  }

  /** Closes every session now. */
  closeAllSessions(): void {
    for (const session of this.sessions.keys()) session.destroy();
  }

  private track(session: ServerHttp2Session): void {
    const ticket = this.adopting;
    const admission = this.options.admission;
    this.adopting = null;
    if (ticket === null) {
      session.destroy(); // not through `adopt`: nothing counts it
      return;
    }
    const client = new H2Client(session, ticket, admission);
    this.sessions.set(session, client);
    session.setTimeout(this.options.idleTimeoutMs, () => session.close());
    session.on('error', () => undefined); // a broken session only ends itself; 'close' follows
    session.on('close', () => {
      this.sessions.delete(session);
      admission.release(ticket);
    });
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, raw: readonly string[]): void {
    stream.on('error', () => undefined); // a reset stream ends its request; the response sees 'close'
    const client = this.sessions.get(stream.session!);
    if (client !== undefined) {
      client.opened();
      stream.once('close', () => client.closed());
    }
    const req = new StreamRequest(stream, headers, raw, client?.remoteAddress ?? '');
    const res = new StreamResponse(stream, req.method === 'HEAD');
    this.options.handler(req, res);
  }
}

/** How long an idle session closed to make room may take to send its GOAWAY before it is cut. */
const EVICT_GOAWAY_MS = 1_000;

/** One session's place in the admission limits: busy while a stream is open, idle otherwise. */
class H2Client {
  private streams = 0;
  /** The client's address, read once: `session.socket` is a Proxy, costly to reach through on every stream. */
  readonly remoteAddress: string;

  constructor(
    private readonly session: ServerHttp2Session,
    private readonly ticket: AdmissionTicket,
    private readonly admission: Admission,
  ) {
    this.remoteAddress = session.socket.remoteAddress ?? '';
    ticket.conn = this;
    admission.markIdle(ticket, performance.now());
  }

  opened(): void {
    if (this.streams++ === 0) this.admission.markBusy(this.ticket);
  }

  closed(): void {
    if (--this.streams === 0) this.admission.markIdle(this.ticket, performance.now());
  }

  /** Closed to make room (no stream open): GOAWAY, then the socket, which is no longer counted. */
  evict(): void {
    const session = this.session;
    session.close();
    setTimeout(() => session.destroy(), EVICT_GOAWAY_MS).unref();
  }
}
