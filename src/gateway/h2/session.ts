import type { TLSSocket } from 'node:tls';
import {
  DEFAULT_MAX_FRAME_SIZE,
  connectionErrorCode,
  Flag,
  FrameType,
  goawayFrame,
  H2ConnectionError,
  H2Error,
  H2StreamError,
  rstStreamFrame,
  windowUpdateFrame,
  type H2ErrorCode,
} from './frames.js';
import { SessionBudget } from './budget.js';
import { FrameReader, type FrameHandler } from './frame-reader.js';
import type { HeaderBlock } from './header-block.js';
import { ClosedStreams } from './closed-streams.js';
import { ConnectionWindow } from './connection-window.js';
import { HpackDecoder } from './hpack/decoder.js';
import { FrameOutput } from './output.js';
import type { SessionEvents, SessionLimits } from './session-options.js';
import { announceSettings, applySettings, type SettingsTarget } from './settings.js';
import { H2Stream, type StreamHost } from './stream.js';
import { dataOnStreamNotOpen, endWithTrailers, headersOnPassedStream } from './stream-states.js';
import { growStreamWindow, shiftStreamWindows } from './stream-windows.js';
import { WindowQueue } from './window-queue.js';

/** How long a session that failed may take to send its GOAWAY before the socket is cut. */
const GOAWAY_LINGER_MS = 1_000;

/**
 * One client connection speaking HTTP/2 (RFC 9113) over a TLS socket whose ALPN chose `h2`: reads
 * frames, keeps the HPACK decoder, the settings and the flow-control windows, and opens an H2Stream
 * per request; what the streams send leaves through FrameOutput. Every peer mistake is a stream
 * error (that stream reset) or a connection error (GOAWAY, then closed); floods end the session
 * through SessionBudget.
 */
export class H2Session implements StreamHost, FrameHandler, SettingsTarget {
  private readonly decoder: HpackDecoder;
  private readonly streams = new Map<number, H2Stream>();
  private readonly reader: FrameReader;
  private settingsAcked = false;
  /** The highest stream id the client has used: ids above are idle (§5.1.1). */
  private lastStreamId = 0;
  /** The highest stream id served (a request begun): what every GOAWAY names, so it never grows (§6.8). */
  private lastServedId = 0;
  /** The GOAWAY sent: streams above its last id are ignored; the socket ends once no stream is open. */
  private goawayLastId = -1;
  private failed = false;
  private ending = false;
  private gone = false;
  private readonly window: ConnectionWindow;
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  readonly sendTimeoutMs: number;
  private readonly output: FrameOutput;
  private readonly budget: SessionBudget;
  private readonly waiting = new WindowQueue();
  private readonly closed = new ClosedStreams();

  constructor(
    private readonly socket: TLSSocket,
    private readonly limits: SessionLimits,
    private readonly events: SessionEvents,
  ) {
    this.decoder = new HpackDecoder(4096, limits.maxHeaderListSize, limits.maxHeaderListPairs);
    this.reader = new FrameReader(limits.maxHeaderBlockBytes, this);
    this.budget = new SessionBudget(limits);
    this.sendTimeoutMs = limits.sendTimeoutMs;
    this.output = new FrameOutput(socket, limits.sendTimeoutMs, () => this.onUnblocked());
    this.window = new ConnectionWindow(limits.connectionWindowSize);
    announceSettings(this.output, limits);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => this.onSocketClose());
    // A socket that closed before it was handed over gets no 'close' any more.
    if (socket.destroyed) process.nextTick(() => this.onSocketClose());
  }

  /** What the session may still send on the connection (the client's connection window). */
  get sendWindow(): number {
    return this.window.send;
  }

  /** The socket is full: streams wait. */
  get blocked(): boolean {
    return this.output.blocked;
  }

  /** Sends GOAWAY (NO_ERROR): streams in progress finish, new ones are ignored, then the connection ends. */
  close(): void {
    if (this.goawayLastId >= 0 || this.gone) return;
    this.goawayLastId = this.lastStreamId;
    this.output.push(goawayFrame(this.lastServedId, H2Error.NO_ERROR));
    if (this.streams.size === 0) this.endSocket();
  }

  /** No byte went either way for the idle timeout: GOAWAY unless a stream is open (its node may just be slow). */
  idle(): void {
    if (this.streams.size === 0) this.close();
  }

  /** Closes the connection now. */
  destroy(): void {
    this.socket.destroy();
  }

  // ---- reading (FrameHandler) ----

  private onBytes(chunk: Buffer): void {
    try {
      this.reader.read(chunk);
    } catch (err) {
      this.fail(connectionErrorCode(err));
    }
  }

  ping(payload: Buffer): void {
    this.output.frame(FrameType.PING, Flag.ACK, 0, payload);
  }

  goaway(): void {
    // The client opens no more streams; those open finish.
    if (this.goawayLastId < 0) this.goawayLastId = this.lastStreamId;
    if (this.streams.size === 0) this.endSocket();
  }

  settingsAck(): void {
    this.settingsAcked = true;
  }

  data(id: number, data: Buffer, flowBytes: number, endStream: boolean): void {
    const grant = this.window.received(flowBytes);
    if (grant > 0) this.output.push(windowUpdateFrame(0, grant));
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (dataOnStreamNotOpen(id, this.lastStreamId, this.goawayLastId, this.closed))
        this.resetUnopened(id, H2Error.STREAM_CLOSED);
      return;
    }
    if (stream.remoteClosed) throw new H2StreamError(id, H2Error.STREAM_CLOSED, 'DATA after END_STREAM');
    // An empty DATA frame without END_STREAM does nothing; one with padding only costs window.
    if (flowBytes === 0 && !endStream) this.budget.invalid();
    stream.onData(data, flowBytes, endStream);
  }

  /** A whole header block: a new request, or trailers on an open stream. */
  block(whole: HeaderBlock): void {
    const { id, endStream, block } = whole;
    // Decoded whatever becomes of it, so that the table stays in step with the client's.
    const decoded = this.decoder.decode(block);
    if (whole.selfDependent) {
      if (id > this.lastStreamId) this.lastStreamId = id;
      throw new H2StreamError(id, H2Error.PROTOCOL_ERROR, 'a stream depends on itself');
    }
    const open = this.streams.get(id);
    // Trailers: the request's end; their fields are not passed on.
    if (open !== undefined) return endWithTrailers(open, endStream, decoded.fields);
    if (id <= this.lastStreamId) return headersOnPassedStream(id, this.goawayLastId, this.closed, decoded.fields);
    this.lastStreamId = id;
    if (this.goawayLastId >= 0) return; // after our GOAWAY: ignored
    if (this.streams.size >= this.limits.maxConcurrentStreams) {
      this.refuse(id);
      return;
    }
    this.lastServedId = id;
    const stream = new H2Stream(this, id, endStream, this.limits.initialWindowSize, this.window.peerInitial);
    this.streams.set(id, stream);
    if (this.streams.size === 1) this.events.busy(true);
    this.events.request(stream, decoded);
  }

  rstStream(id: number): void {
    if (id > this.lastStreamId) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    this.closeStream(stream);
    // A stream reset before its answer: a flood of them is the rapid-reset attack (CVE-2023-44487).
    if (!stream.ended) this.budget.clientReset();
  }

  settings(payload: Buffer): void {
    const grown = applySettings(payload, this, this.output);
    // Only after the ACK: the client counts its larger windows from it, and DATA sent before would pass the old ones.
    if (grown) for (const stream of this.streams.values()) stream.resume();
  }

  /** SETTINGS_INITIAL_WINDOW_SIZE changes every open stream's send window by the difference (§6.9.2); true when it grew. */
  setPeerWindow(value: number): boolean {
    const delta = this.window.setPeerInitial(value);
    shiftStreamWindows(this.streams, delta);
    return delta > 0;
  }

  windowUpdate(id: number, increment: number): void {
    if (id === 0) {
      this.window.grow(increment);
      this.waiting.connectionWindowGrew();
      return;
    }
    const stream = this.streams.get(id);
    if (stream !== undefined) growStreamWindow(stream, increment);
    else if (id > this.lastStreamId)
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
  }

  // ---- StreamHost ----

  sendHeaders(id: number, block: Buffer, endStream: boolean): void {
    this.output.headers(id, block, endStream, this.maxFrameSize);
  }

  sendData(id: number, chunk: Buffer, endStream: boolean): void {
    this.window.send -= chunk.length;
    this.output.frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, id, chunk);
  }

  grantStream(id: number, bytes: number): void {
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    stream.recvWindow += bytes;
    this.output.push(windowUpdateFrame(id, bytes));
  }

  awaitWindow(stream: H2Stream, sent: boolean): void {
    this.waiting.add(stream, sent);
  }

  finished(stream: H2Stream): void {
    if (stream.closed) return;
    // The answer is complete while the client still sends its request: it may stop (§8.1).
    if (!stream.remoteClosed) this.sendReset(stream, H2Error.NO_ERROR);
    this.closeStream(stream);
  }

  reset(stream: H2Stream, code: H2ErrorCode): void {
    if (stream.closed) return;
    this.sendReset(stream, code);
    this.closeStream(stream);
  }

  // ---- streams and failures ----

  /** Sends RST_STREAM and remembers the id a while, for the client's frames still in flight. */
  private sendReset(stream: H2Stream, code: H2ErrorCode): void {
    this.output.push(rstStreamFrame(stream.id, code));
    if (!stream.remoteClosed) this.closed.remember(stream.id, true);
  }

  private closeStream(stream: H2Stream): void {
    if (!this.streams.delete(stream.id)) return;
    this.closed.remember(stream.id, false);
    this.waiting.delete(stream);
    stream.onClosed();
    if (this.streams.size === 0) {
      this.events.busy(false);
      if (this.goawayLastId >= 0) this.endSocket();
    }
  }

  streamError(err: H2StreamError): void {
    // No RST_STREAM may name an idle stream (§6.4): a fault on one (a PRIORITY frame) ends the session.
    if (err.streamId > this.lastStreamId) throw new H2ConnectionError(err.h2Code, err.message);
    this.budget.invalid();
    const stream = this.streams.get(err.streamId);
    if (stream !== undefined) this.reset(stream, err.h2Code);
    // A stream refused as it opened (its block was faulty): its client may still be sending on it.
    else this.resetUnopened(err.streamId, err.h2Code);
  }

  /** Resets a stream whose request is malformed (§8.1.1); too many such end the session. */
  malformed(stream: H2Stream): void {
    this.reset(stream, H2Error.PROTOCOL_ERROR);
    this.budget.invalid();
  }

  /**
   * Refuses a new stream past SETTINGS_MAX_CONCURRENT_STREAMS (REFUSED_STREAM: the client may retry
   * it); too many end the session, and so does one the client opens after acknowledging the setting.
   */
  private refuse(id: number): void {
    if (this.settingsAcked)
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'more streams than SETTINGS_MAX_CONCURRENT_STREAMS');
    this.resetUnopened(id, H2Error.REFUSED_STREAM);
    this.budget.refused();
  }

  /** Resets a stream that has no H2Stream, remembering it a while: the client may still be sending on it. */
  private resetUnopened(id: number, code: H2ErrorCode): void {
    this.output.push(rstStreamFrame(id, code));
    this.closed.remember(id, true);
  }

  /** A connection error: GOAWAY with `code`, every stream closed, the socket ended and then cut. */
  private fail(code: H2ErrorCode): void {
    if (this.failed) return;
    this.failed = true;
    this.reader.stop();
    this.output.push(goawayFrame(this.lastServedId, code));
    this.output.flush();
    for (const stream of [...this.streams.values()]) this.closeStream(stream);
    this.endSocket();
  }

  private endSocket(): void {
    if (this.gone || this.ending) return;
    this.ending = true;
    this.output.end(GOAWAY_LINGER_MS);
  }

  private onSocketClose(): void {
    if (this.gone) return;
    this.gone = true;
    this.failed = true;
    this.reader.stop();
    this.output.close();
    for (const stream of [...this.streams.values()]) this.closeStream(stream);
    this.events.closed();
  }

  // ---- writing ----

  /** The socket took what waited: streams send on, until it is full again. */
  private onUnblocked(): void {
    for (const stream of [...this.streams.values()]) {
      if (this.output.blocked) break;
      stream.resume();
    }
  }
}
