import type { TLSSocket } from 'node:tls';
import type { Admission, AdmissionTicket } from '../admission.js';
import { answerGatewayError } from '../errors.js';
import type { GatewayRequest, GatewayResponse } from '../exchange.js';
import type { RejectCode } from '../http/error-answer.js';
import { MAX_REQUEST_HEAD_BYTES } from '../http/request-parser.js';
import type { DecodedBlock } from './hpack/decoder.js';
import { readRequestFields } from './request-fields.js';
import { H2Session } from './session.js';
import type { SessionLimits } from './session-options.js';
import type { H2Stream } from './stream.js';
import { StreamRequest } from './stream-exchange.js';

/** The bounds of every HTTP/2 session (RFC 9113 §6.5.2 settings, and flood defences). */
export const H2_LIMITS = {
  /** Streams open at once per session (SETTINGS_MAX_CONCURRENT_STREAMS); a client that opens more after acknowledging it is closed. */
  maxConcurrentStreams: 128,
  /** Largest header list (names, values and 32 bytes each, RFC 9113 §6.5.2) a request may send: the HTTP/1.1 head limit. */
  maxHeaderListSize: MAX_REQUEST_HEAD_BYTES,
  /** Most header fields in one request. */
  maxHeaderListPairs: 256,
  /** Flow-control window per stream (bytes a client may send before the gateway reads them). */
  initialWindowSize: 64 * 1024,
  /** The connection's flow-control window for request bodies. */
  connectionWindowSize: 1024 * 1024,
  /** Largest compressed header block (HEADERS and CONTINUATION); beyond it the session is closed. */
  maxHeaderBlockBytes: 4 * MAX_REQUEST_HEAD_BYTES,
  /** Streams a session may have refused before it is closed as abusive. */
  maxRefusedStreams: 200,
  /** Invalid frames and malformed requests a session may send before it is closed. */
  maxInvalidFrames: 100,
  /** Streams a client may reset before their answer in a burst (rapid reset, CVE-2023-44487)... */
  resetBurst: 200,
  /** ...and then per second; faster, the session is closed with ENHANCE_YOUR_CALM. */
  resetsPerSecond: 100,
} as const satisfies Omit<SessionLimits, 'sendTimeoutMs'>;

/** How the HTTP/2 sessions run. */
export interface H2Options {
  /** A session without an open stream and with no byte either way this long is sent GOAWAY. */
  idleTimeoutMs: number;
  /** A client that reads nothing of what waits for it this long is cut (`--client-send-timeout-ms`). */
  sendTimeoutMs: number;
  /** The connection limits: a session is one client connection, idle while it has no open stream. */
  admission: Admission;
  /** Runs the lifecycle on one stream's request and response. */
  handler(req: GatewayRequest, res: GatewayResponse): void;
  /** A request refused before the lifecycle (its header list too large). */
  rejected?(code: RejectCode): void;
}

/**
 * HTTP/2 from clients (ALPN `h2` on the TLS port): isogate's own sessions (`session.ts`) over the TLS
 * port's sockets, each stream one request through the same lifecycle as HTTP/1.1 ones (proxied to
 * nodes over the HTTP/1.1 pools). Each session is one client connection of the admission limits
 * (admitted when the TLS port accepted its socket): busy while a stream is open, idle otherwise, and
 * then closed first when the process needs room.
 */
export class H2Sessions {
  private readonly sessions = new Set<H2Session>();
  private readonly limits: SessionLimits;

  constructor(private readonly options: H2Options) {
    this.limits = { ...H2_LIMITS, sendTimeoutMs: options.sendTimeoutMs };
  }

  /** Starts an HTTP/2 session on a TLS connection whose ALPN chose `h2`, counted by its admission `ticket`. */
  adopt(socket: TLSSocket, ticket: AdmissionTicket): void {
    const { admission, idleTimeoutMs } = this.options;
    socket.setNoDelay(true);
    const remoteAddress = socket.remoteAddress ?? '';
    const client = new H2Client(ticket, admission);
    const session = new H2Session(socket, this.limits, {
      request: (stream, block) => this.onRequest(session, stream, block, remoteAddress),
      busy: (busy) => client.busy(busy),
      closed: () => {
        this.sessions.delete(session);
        admission.release(ticket);
      },
    });
    client.session = session;
    this.sessions.add(session);
    // A listener of its own: setTimeout's callback would be called once only, and an idle socket
    // with a stream open times out again after its next byte.
    socket.on('timeout', () => session.idle());
    socket.setTimeout(idleTimeoutMs);
  }

  /** Sends GOAWAY to every session: streams in progress finish, then each session closes. */
  closeIdleSessions(): void {
    for (const session of this.sessions) session.close();
  }

  /** Closes every session now. */
  closeAllSessions(): void {
    for (const session of this.sessions) session.destroy();
  }

  private onRequest(session: H2Session, stream: H2Stream, block: DecodedBlock, remoteAddress: string): void {
    if (block.tooLarge) {
      this.options.rejected?.('HEADERS_TOO_LARGE');
      answerGatewayError(stream, 'HEADERS_TOO_LARGE');
      return;
    }
    const fields = readRequestFields(block.fields);
    if (typeof fields === 'string') {
      session.malformed(stream);
      return;
    }
    // END_STREAM on the HEADERS is a body of 0 bytes (RFC 9113 §8.1.1).
    if (stream.body === null && fields.contentLength !== null && fields.contentLength !== 0) {
      session.malformed(stream);
      return;
    }
    stream.expectedLength = fields.contentLength;
    stream.isHead = fields.method === 'HEAD';
    this.options.handler(new StreamRequest(fields, stream.body, remoteAddress), stream);
  }
}

/** How long an idle session closed to make room may take to send its GOAWAY before it is cut. */
const EVICT_GOAWAY_MS = 1_000;

/** One session's place in the admission limits: busy while a stream is open, idle otherwise. */
class H2Client {
  session: H2Session | null = null;

  constructor(
    private readonly ticket: AdmissionTicket,
    private readonly admission: Admission,
  ) {
    ticket.conn = this;
    admission.markIdle(ticket, performance.now());
  }

  busy(busy: boolean): void {
    if (busy) this.admission.markBusy(this.ticket);
    else this.admission.markIdle(this.ticket, performance.now());
  }

  /** Closed to make room (no stream open): GOAWAY, then the socket, which is no longer counted. */
  evict(): void {
    const session = this.session;
    if (session === null) return;
    session.close();
    setTimeout(() => session.destroy(), EVICT_GOAWAY_MS).unref();
  }
}
