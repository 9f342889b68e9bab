import { Readable } from 'node:stream';
import { headerNameSet } from '../../http/header-names.js';
import { ClientClosedError, type GatewayResponse, type UpgradedClient } from '../exchange.js';
import { H2Error, H2StreamError, type H2ErrorCode } from './frames.js';
import { encodeResponseHead } from './hpack/encoder.js';
import { CONNECTION_SPECIFIC_FIELDS } from './request-fields.js';

/** What a stream needs of its session. */
export interface StreamHost {
  /** The socket cannot take more now: streams wait for `onDrain`. */
  readonly blocked: boolean;
  /** Bytes the connection's send window allows now (RFC 9113 §6.9). */
  readonly sendWindow: number;
  /** The client's SETTINGS_MAX_FRAME_SIZE. */
  readonly maxFrameSize: number;
  /** How long a stream may wait for the client's window to open before it is reset, ms. */
  readonly sendTimeoutMs: number;
  /** Queues a header block as HEADERS (and CONTINUATION) frames. */
  sendHeaders(id: number, block: Buffer, endStream: boolean): void;
  /** Queues one DATA frame (within the windows, which it takes from the connection's). */
  sendData(id: number, chunk: Buffer, endStream: boolean): void;
  /** Grants the client `bytes` more of this stream's window. */
  grantStream(id: number, bytes: number): void;
  /** The stream waits for a WINDOW_UPDATE (`sent`: it sent DATA before its windows ran out). */
  awaitWindow(stream: H2Stream, sent: boolean): void;
  /** The stream is done on our side: closes it, resetting it with NO_ERROR if the client is still sending. */
  finished(stream: H2Stream): void;
  /** Resets the stream with `code` and closes it. */
  reset(stream: H2Stream, code: H2ErrorCode): void;
}

// Connection-specific fields may not appear in HTTP/2 (RFC 9113 §8.2.2): a node's are dropped, with
// its `te` and `host` (the client named the host in `:authority`).
const NOT_SENT = headerNameSet([...CONNECTION_SPECIFIC_FIELDS, 'te', 'host']);

/** Response bytes a stream holds beyond its window before `write` says wait. */
const STREAM_HIGH_WATER = 64 * 1024;
/** Request-body bytes read before the stream's window is granted back (a WINDOW_UPDATE per this much). */
const GRANT_STEP = 16 * 1024;

/**
 * A stream's request body (DATA frames) as a Readable. The client's window is granted back only as
 * the reader takes the bytes, so a node that reads slowly holds the client, not gateway memory.
 */
export class StreamBody extends Readable {
  /** Bytes taken but not yet granted back to the client. */
  private owed = 0;
  private full = false;

  constructor(private readonly stream: H2Stream) {
    super({ highWaterMark: 64 * 1024 });
    this.on('error', () => {}); // its readers listen themselves
  }

  /** One DATA frame's data; `flowBytes` is what it took of the window (with padding). */
  arrive(data: Buffer, flowBytes: number): void {
    this.owed += flowBytes;
    if (data.length > 0 && !this.push(data)) this.full = true;
    if (!this.full) this.grant();
  }

  override _read(): void {
    this.full = false;
    this.grant();
  }

  private grant(): void {
    if (this.owed < GRANT_STEP || this.stream.remoteClosed) return;
    this.stream.host.grantStream(this.stream.id, this.owed);
    this.owed = 0;
  }
}

/**
 * One HTTP/2 stream (RFC 9113 §5.1): its flow-control windows, its request body, and the response
 * to it, as a GatewayResponse. The head is held until the first write or the end, so an answer ended
 * at once leaves as one HEADERS (and DATA) with END_STREAM. Body bytes past the windows wait in the
 * stream; `write` says wait when they pass STREAM_HIGH_WATER or the socket is full.
 */
export class H2Stream implements GatewayResponse {
  statusCode = 0;
  headersSent = false;
  destroyed = false;
  /** Without meaning here: a draining gateway sends GOAWAY to the session. */
  keepAlive = true;
  /** The response is complete (END_STREAM queued). */
  ended = false;
  /** The client sent END_STREAM. */
  remoteClosed: boolean;
  /** Closed: no more frames either way. */
  closed = false;
  /** Bytes the client may still send (our window for it). */
  recvWindow: number;
  /** Bytes we may still send (the client's window for us). */
  sendWindow: number;
  body: StreamBody | null = null;
  /** `content-length` of the request, checked against its DATA. */
  expectedLength: number | null = null;
  private received = 0;
  private fields: string[] = [];
  private noBody = false;
  private queue: Buffer[] = [];
  private queued = 0;
  private endQueued = false;
  private onDrainFn: (() => void) | null = null;
  private onCloseFn: (() => void) | null = null;
  /** Runs while the answer waits for the client's window (RFC 9113 §6.9): a client that never opens it is cut. */
  private windowStall: NodeJS.Timeout | null = null;

  constructor(
    readonly host: StreamHost,
    readonly id: number,
    endStream: boolean,
    recvWindow: number,
    sendWindow: number,
  ) {
    this.remoteClosed = endStream;
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
    if (!endStream) this.body = new StreamBody(this);
  }

  /** The request is a HEAD: the response carries no body. */
  set isHead(head: boolean) {
    this.noBody = head;
  }

  /** A DATA frame for this stream: checks the window and `content-length`, then hands the data on. */
  onData(data: Buffer, flowBytes: number, endStream: boolean): void {
    if (flowBytes > this.recvWindow)
      throw new H2StreamError(this.id, H2Error.FLOW_CONTROL_ERROR, 'DATA past the stream window');
    this.recvWindow -= flowBytes;
    this.received += data.length;
    const expected = this.expectedLength;
    if (expected !== null && this.received > expected)
      throw new H2StreamError(this.id, H2Error.PROTOCOL_ERROR, 'DATA past content-length');
    this.body?.arrive(data, flowBytes);
    if (endStream) this.endRemote();
  }

  /** The client's END_STREAM (on DATA or trailers). */
  endRemote(): void {
    if (this.remoteClosed) return;
    if (this.expectedLength !== null && this.received !== this.expectedLength)
      throw new H2StreamError(this.id, H2Error.PROTOCOL_ERROR, 'DATA does not add up to content-length');
    this.remoteClosed = true;
    this.body?.push(null);
  }

  /** The stream closed (reset by either side, the session gone, or both sides done). */
  onClosed(): void {
    this.closed = true;
    this.clearStall();
    this.queue = [];
    this.queued = 0;
    if (this.body !== null && !this.remoteClosed)
      this.body.destroy(new ClientClosedError('the client reset the stream before its request body was complete'));
    if (this.ended) return;
    this.destroyed = true;
    const fn = this.onCloseFn;
    this.onCloseFn = null;
    this.onDrainFn = null;
    fn?.();
  }

  writeHead(status: number, headers: readonly string[] | Record<string, string | number>): void {
    this.statusCode = status;
    if (status === 204 || status === 304) this.noBody = true;
    // A 204 has no Content-Length (RFC 9110 §8.6), even when a node's answer gave one; a 304 keeps it.
    const noLength = status === 204;
    const fields: string[] = [];
    const add = (rawName: string, value: string | number) => {
      const name = rawName.toLowerCase();
      if (!NOT_SENT(name) && !(noLength && name === 'content-length')) fields.push(name, String(value));
    };
    if (Array.isArray(headers)) for (let i = 0; i < headers.length; i += 2) add(headers[i]!, headers[i + 1]!);
    else for (const name of Object.keys(headers)) add(name, (headers as Record<string, string | number>)[name]!);
    this.fields = fields;
  }

  write(chunk: Buffer): boolean {
    if (this.destroyed || this.ended || this.closed) return true;
    if (!this.headersSent) this.sendHead(false);
    if (!this.noBody && chunk.length > 0) this.sendBody(chunk);
    return this.queued < STREAM_HIGH_WATER && !this.host.blocked;
  }

  end(last?: Buffer): void {
    if (this.destroyed || this.ended || this.closed) return;
    this.ended = true;
    this.onCloseFn = null;
    const body = this.noBody || last === undefined || last.length === 0 ? null : last;
    if (!this.headersSent) {
      if (body === null) {
        this.sendHead(true);
        this.host.finished(this);
        return;
      }
      if (!hasField(this.fields, 'content-length')) this.fields.push('content-length', String(body.length));
      this.sendHead(false);
    }
    this.endQueued = true;
    this.sendBody(body);
  }

  destroy(_err?: Error): void {
    if (this.destroyed || this.closed) return;
    this.destroyed = true;
    this.host.reset(this, H2Error.INTERNAL_ERROR);
  }

  onDrain(fn: () => void): void {
    this.onDrainFn = fn;
  }

  onClose(fn: () => void): void {
    this.onCloseFn = fn;
  }

  /** HTTP/2 has no Upgrade (RFC 9113 §8.6). */
  switchProtocols(): UpgradedClient | null {
    return null;
  }

  /** Called when the connection's window or the socket opened up: sends what waits, then wakes the writer. */
  resume(): void {
    if (this.closed) return;
    if (this.queued > 0 || this.endQueued) this.flushQueue();
    if (this.onDrainFn !== null && this.queued < STREAM_HIGH_WATER && !this.host.blocked) {
      const fn = this.onDrainFn;
      this.onDrainFn = null;
      fn();
    }
  }

  /**
   * The connection's window grew. A stream held back by it alone (its own window is open) is waiting
   * its turn, not stalled by the client: its stall restarts.
   */
  connectionWindowGrew(): void {
    if (this.sendWindow > 0) this.clearStall();
    this.resume();
  }

  /** Resets the stream (CANCEL) if the client's window stays shut for the send timeout; progress restarts it. */
  private watchStall(): void {
    if (this.windowStall !== null) return;
    this.windowStall = setTimeout(() => {
      this.windowStall = null;
      this.destroyed = true;
      this.host.reset(this, H2Error.CANCEL);
    }, this.host.sendTimeoutMs);
    this.windowStall.unref();
  }

  private clearStall(): void {
    if (this.windowStall === null) return;
    clearTimeout(this.windowStall);
    this.windowStall = null;
  }

  private sendHead(endStream: boolean): void {
    this.headersSent = true;
    this.host.sendHeaders(this.id, encodeResponseHead(this.statusCode, this.fields), endStream);
  }

  /** Queues `chunk` (null: only the end) and sends what the windows allow. */
  private sendBody(chunk: Buffer | null): void {
    if (chunk !== null && chunk.length > 0) {
      this.queue.push(chunk);
      this.queued += chunk.length;
    }
    this.flushQueue();
  }

  private flushQueue(): void {
    const host = this.host;
    let sent = false;
    while (this.queued > 0) {
      const room = Math.min(this.sendWindow, host.sendWindow, host.maxFrameSize);
      if (room <= 0) {
        host.awaitWindow(this, sent);
        this.watchStall();
        return;
      }
      let piece = this.queue[0]!;
      if (piece.length > room) {
        this.queue[0] = piece.subarray(room);
        piece = piece.subarray(0, room);
      } else this.queue.shift();
      this.queued -= piece.length;
      this.sendWindow -= piece.length;
      this.clearStall();
      sent = true;
      const last = this.endQueued && this.queued === 0;
      host.sendData(this.id, piece, last);
      if (last) {
        this.endQueued = false;
        host.finished(this);
        return;
      }
    }
    if (!this.endQueued) return;
    // Nothing is left to carry END_STREAM: an empty DATA frame, which needs no window.
    this.endQueued = false;
    host.sendData(this.id, EMPTY, true);
    host.finished(this);
  }
}

const EMPTY = Buffer.alloc(0);

/** True when the flat `[name, value, …]` list has a field `name`. */
function hasField(fields: readonly string[], name: string): boolean {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return true;
  return false;
}
