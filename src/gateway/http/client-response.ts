import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { sameName } from '../../http/header-names.js';
import type { GatewayResponse, UpgradedClient } from '../exchange.js';
import type { SendWatch } from './send-watch.js';

/** What a response needs from its connection. */
export interface ResponseOwner {
  readonly socket: Socket;
  /** Seconds announced in `Keep-Alive: timeout=N`. */
  readonly keepAliveSeconds: number;
  /** Whether the connection can stay open after this response (request body read, not closing). */
  canKeepAlive(): boolean;
  /** The response has been written completely (`keepAlive`: the connection stays open). */
  responseDone(keepAlive: boolean): void;
  /** A 101 went out: the connection stops speaking HTTP; returns the bytes read past the request head. */
  switched(): Buffer;
  /** Its slow-reader policy: told when a write left the client's socket over its own buffer (`backlogged`). */
  readonly send: SendWatch;
}

// Bodies up to this size are copied behind the head so the whole response leaves in one write.
const COALESCE_BYTES = 16 * 1024;
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

let dateSecond = 0;
let dateLine = '';

/** `date: <IMF-fixdate>\r\n`, rebuilt once a second. */
export function dateHeader(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateLine;
}

/** How a response's header list names its own framing. */
function headerKind(name: string): 'length' | 'te' | 'connection' | 'date' | null {
  if (sameName(name, 'date')) return 'date';
  if (sameName(name, 'connection')) return 'connection';
  if (sameName(name, 'content-length')) return 'length';
  if (sameName(name, 'transfer-encoding')) return 'te';
  return null;
}

/**
 * The response to one client request. The head is held until the first `write` or `end`, so that a
 * response ended at once leaves in one write with its Content-Length. Without a length the body is
 * chunked for HTTP/1.1 clients and delimited by closing the connection for HTTP/1.0 ones; HEAD,
 * 1xx, 204 and 304 answers have no body. Every answer gets `Date`, and `Connection` as the
 * connection's fate requires.
 */
export class ClientResponse implements GatewayResponse {
  /** Status sent (0 until `writeHead`). */
  statusCode = 0;
  /** The head has been written to the socket. */
  headersSent = false;
  /** The response was cut (by `destroy`, or the client went away before it was complete). */
  destroyed = false;
  /** The response has been ended. */
  finished = false;
  /** False makes this the connection's last response (`Connection: close`). */
  keepAlive: boolean;
  private headerLines = '';
  private hasLength = false;
  private hasDate = false;
  private chunked = false;
  private noBody: boolean;
  /** A 1xx or 204: no Content-Length may be sent (RFC 9110 §8.6), whatever the headers given say. */
  private noLength = false;
  private onDrainOnce: (() => void) | null = null;
  private onCloseOnce: (() => void) | null = null;

  constructor(
    private readonly owner: ResponseOwner,
    private readonly minor: number,
    head: boolean,
    keepAlive: boolean,
  ) {
    this.noBody = head;
    this.keepAlive = keepAlive;
  }

  /** Sets the status and headers (`[name, value, …]` or an object); sent with the first write. */
  writeHead(status: number, headers: readonly string[] | Record<string, string | number>): void {
    this.statusCode = status;
    if (status < 200 || status === 204 || status === 304) this.noBody = true;
    this.noLength = status < 200 || status === 204;
    let lines = '';
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) lines += this.headerLine(headers[i]!, headers[i + 1]!);
    } else {
      for (const name of Object.keys(headers))
        lines += this.headerLine(name, String((headers as Record<string, string | number>)[name]));
    }
    this.headerLines = lines;
  }

  private headerLine(name: string, value: string): string {
    const kind = headerKind(name);
    if (kind === 'length') {
      if (this.noLength) return ''; // a node's length on a 204 (304 and HEAD keep theirs)
      this.hasLength = true;
    } else if (kind === 'te' || kind === 'connection')
      return ''; // framing and connection are this server's to set
    else if (kind === 'date') this.hasDate = true;
    return `${name}: ${value}\r\n`;
  }

  /** The head as it goes out; `endLength` is the whole body's length when the response is ended at once. */
  private head(endLength: number): string {
    this.headersSent = true;
    let framing = '';
    if (!this.hasLength && !this.noBody) {
      if (endLength >= 0) framing = `content-length: ${endLength}\r\n`;
      else if (this.minor === 1) {
        framing = 'transfer-encoding: chunked\r\n';
        this.chunked = true;
      } else this.keepAlive = false; // HTTP/1.0: the end of the body is the end of the connection
    }
    const owner = this.owner;
    if (this.keepAlive && !owner.canKeepAlive()) this.keepAlive = false;
    const connection = this.keepAlive
      ? `connection: keep-alive\r\nkeep-alive: timeout=${owner.keepAliveSeconds}\r\n`
      : 'connection: close\r\n';
    return `HTTP/1.1 ${this.statusCode} ${STATUS_CODES[this.statusCode] ?? 'Unknown'}\r\n${this.headerLines}${this.hasDate ? '' : dateHeader()}${connection}${framing}\r\n`;
  }

  /**
   * Writes a body chunk; false when the client has more unread than its answer may buffer (wait for
   * `onDrain`).
   */
  write(chunk: Buffer): boolean {
    const socket = this.owner.socket;
    if (this.destroyed || this.finished || socket.destroyed) return true;
    if (!this.headersSent) socket.write(this.head(-1), 'latin1');
    if (this.noBody || chunk.length === 0) return !socket.writableNeedDrain || this.owner.send.backlogged();
    if (!this.chunked) return socket.write(chunk) || this.owner.send.backlogged();
    socket.cork();
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const ok = socket.write(CRLF, 'latin1');
    socket.uncork();
    return ok || this.owner.send.backlogged();
  }

  /** Ends the response, with its last body chunk if given. */
  end(last?: Buffer): void {
    if (this.destroyed || this.finished) return;
    this.finished = true;
    const socket = this.owner.socket;
    if (socket.destroyed) return;
    const body = this.noBody || last === undefined || last.length === 0 ? null : last;
    if (!this.headersSent) {
      const head = this.head(body === null ? 0 : body.length);
      if (body === null) socket.write(head, 'latin1');
      else if (body.length <= COALESCE_BYTES) {
        // One buffer, one write: head and body together.
        const out = Buffer.allocUnsafe(head.length + body.length);
        out.write(head, 0, 'latin1');
        body.copy(out, head.length);
        socket.write(out);
      } else {
        socket.cork();
        socket.write(head, 'latin1');
        socket.write(body);
        socket.uncork();
      }
    } else if (this.chunked) {
      if (body === null) socket.write(LAST_CHUNK, 'latin1');
      else {
        socket.cork();
        socket.write(`${body.length.toString(16)}\r\n`, 'latin1');
        socket.write(body);
        socket.write(`\r\n${LAST_CHUNK}`, 'latin1');
        socket.uncork();
      }
    } else if (body !== null) socket.write(body);
    if (socket.writableNeedDrain) this.owner.send.backlogged();
    this.onDrainOnce = null;
    this.onCloseOnce = null;
    this.owner.responseDone(this.keepAlive);
  }

  /** Sends the node's 101 head as is and hands over the socket (see GatewayResponse). */
  switchProtocols(headers: readonly string[]): UpgradedClient | null {
    const socket = this.owner.socket;
    if (this.headersSent || this.destroyed || this.finished || socket.destroyed) return null;
    this.statusCode = 101;
    this.headersSent = true;
    this.finished = true;
    this.onDrainOnce = null;
    this.onCloseOnce = null;
    let lines = '';
    for (let i = 0; i < headers.length; i += 2) lines += `${headers[i]}: ${headers[i + 1]}\r\n`;
    socket.write(`HTTP/1.1 101 Switching Protocols\r\n${lines}\r\n`, 'latin1');
    return { socket, head: this.owner.switched() };
  }

  /**
   * Cuts the response and the client's connection (the only signal left once the head is out) with
   * a TCP reset: a plain close (FIN) is how a close-delimited body (an HTTP/1.0 client's) ends when it
   * is complete, so only a reset tells such a client it got part of an answer. Over TLS (no TCP
   * handle to reset) the socket is destroyed without a close_notify, which says the same.
   */
  destroy(_err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const socket = this.owner.socket;
    if (socket.destroyed) return;
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy(); // ERR_INVALID_HANDLE_TYPE: a TLS socket
    }
  }

  /** Calls `fn` once, when the client's socket has room again. */
  onDrain(fn: () => void): void {
    this.onDrainOnce = fn;
  }

  /** Calls `fn` once if the client goes away before the response is complete. */
  onClose(fn: () => void): void {
    this.onCloseOnce = fn;
  }

  /** Sends `100 Continue` (a client that asked for it waits before it sends its body), unless the answer has begun. */
  writeContinue(): void {
    const socket = this.owner.socket;
    if (!this.headersSent && !socket.destroyed) socket.write(CONTINUE, 'latin1');
  }

  /** The connection's socket drained (from the connection). */
  drained(): void {
    const fn = this.onDrainOnce;
    this.onDrainOnce = null;
    fn?.();
  }

  /** The connection closed before the response was complete (from the connection). */
  closed(): void {
    if (this.finished) return;
    this.destroyed = true;
    this.onDrainOnce = null;
    const fn = this.onCloseOnce;
    this.onCloseOnce = null;
    fn?.();
  }
}
