import type { TLSSocket } from 'node:tls';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  Flag,
  FRAME_HEAD_BYTES,
  FrameType,
  goawayFrame,
  H2ConnectionError,
  H2Error,
  H2StreamError,
  MAX_WINDOW,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHead,
  type H2ErrorCode,
} from './frames.js';
import { HpackDecoder, type DecodedBlock } from './hpack/decoder.js';
import { HpackError } from './hpack/errors.js';
import { H2Stream, type StreamHost } from './stream.js';

/** The bounds of one session; see H2_LIMITS in `sessions.ts` for each. */
export interface SessionLimits {
  maxConcurrentStreams: number;
  maxHeaderListSize: number;
  maxHeaderListPairs: number;
  initialWindowSize: number;
  connectionWindowSize: number;
  maxHeaderBlockBytes: number;
  maxRefusedStreams: number;
  maxInvalidFrames: number;
  resetBurst: number;
  resetsPerSecond: number;
}

/** What a session tells its owner. */
export interface SessionEvents {
  /** A request's header list arrived on a new stream (`fields` decoded, or null when over the limits). */
  request(stream: H2Stream, block: DecodedBlock): void;
  /** The number of open streams went from 0 to 1 (true) or from 1 to 0 (false). */
  busy(busy: boolean): void;
  /** The connection is gone. */
  closed(): void;
}

/** A header block being gathered from HEADERS and CONTINUATION frames. */
interface PendingBlock {
  id: number;
  endStream: boolean;
  parts: Buffer[];
  bytes: number;
}

/** How long a session that failed may take to send its GOAWAY before the socket is cut. */
const GOAWAY_LINGER_MS = 1_000;

/**
 * One client connection speaking HTTP/2 (RFC 9113) over a TLS socket whose ALPN chose `h2`: reads
 * frames, keeps the HPACK decoder and the flow-control windows, opens an H2Stream per request and
 * writes what the streams send, batched into one socket write per event-loop turn. Every peer
 * mistake is a stream error (that stream reset) or a connection error (GOAWAY, then closed); floods
 * of refused streams, resets or invalid frames end the session with ENHANCE_YOUR_CALM.
 */
export class H2Session implements StreamHost {
  private readonly decoder: HpackDecoder;
  private readonly streams = new Map<number, H2Stream>();
  private pending: Buffer | null = null;
  private prefaceLeft = CLIENT_PREFACE.length;
  private sawSettings = false;
  private settingsAcked = false;
  private lastStreamId = 0;
  private block: PendingBlock | null = null;
  /** The GOAWAY sent: streams above its last id are ignored; the socket ends once no stream is open. */
  private goawayLastId = -1;
  private failed = false;
  private ending = false;
  private gone = false;
  private peerInitialWindow = DEFAULT_WINDOW;
  private recvWindow: number;
  private recvOwed = 0;
  sendWindow = DEFAULT_WINDOW;
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  blocked = false;
  private readonly waiting = new Set<H2Stream>();
  /** The last streams we reset while the client was still sending on them. */
  private readonly resetByUs: number[] = [];
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushing = false;
  private refused = 0;
  private invalid = 0;
  private resetTokens: number;
  private resetClock = performance.now();

  constructor(
    private readonly socket: TLSSocket,
    private readonly limits: SessionLimits,
    private readonly events: SessionEvents,
  ) {
    this.decoder = new HpackDecoder(4096, limits.maxHeaderListSize, limits.maxHeaderListPairs);
    this.resetTokens = limits.resetBurst;
    this.recvWindow = limits.connectionWindowSize;
    this.queue(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, limits.initialWindowSize],
        [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
      ]),
    );
    if (limits.connectionWindowSize > DEFAULT_WINDOW)
      this.queue(windowUpdateFrame(0, limits.connectionWindowSize - DEFAULT_WINDOW));
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => this.onSocketClose());
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** Sends GOAWAY (NO_ERROR): streams in progress finish, new ones are ignored, then the connection ends. */
  close(): void {
    if (this.goawayLastId >= 0 || this.gone) return;
    this.goawayLastId = this.lastStreamId;
    this.queue(goawayFrame(this.lastStreamId, H2Error.NO_ERROR));
    if (this.streams.size === 0) this.endSocket();
  }

  /** Closes the connection now. */
  destroy(): void {
    this.socket.destroy();
  }

  // ---- reading ----

  private onBytes(chunk: Buffer): void {
    if (this.failed) return;
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let at = 0;
    try {
      if (this.prefaceLeft > 0) {
        const offset = CLIENT_PREFACE.length - this.prefaceLeft;
        const n = Math.min(this.prefaceLeft, buf.length);
        if (buf.compare(CLIENT_PREFACE, offset, offset + n, 0, n) !== 0)
          throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'not the HTTP/2 client preface');
        this.prefaceLeft -= n;
        at = n;
      }
      while (!this.failed && buf.length - at >= FRAME_HEAD_BYTES) {
        const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
        if (length > DEFAULT_MAX_FRAME_SIZE)
          throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'a frame larger than SETTINGS_MAX_FRAME_SIZE');
        if (buf.length - at < FRAME_HEAD_BYTES + length) break;
        const type = buf[at + 3]!;
        const flags = buf[at + 4]!;
        const id = buf.readUInt32BE(at + 5) & 0x7fffffff;
        const payload = buf.subarray(at + FRAME_HEAD_BYTES, at + FRAME_HEAD_BYTES + length);
        at += FRAME_HEAD_BYTES + length;
        try {
          this.onFrame(type, flags, id, payload);
        } catch (err) {
          if (!(err instanceof H2StreamError)) throw err;
          this.streamError(err);
        }
      }
    } catch (err) {
      if (err instanceof H2ConnectionError) this.fail(err.h2Code);
      else if (err instanceof HpackError) this.fail(H2Error.COMPRESSION_ERROR);
      else throw err;
      return;
    }
    if (at < buf.length && !this.failed) this.pending = at === 0 ? buf : Buffer.from(buf.subarray(at));
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (!this.sawSettings) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0)
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'the first frame is not SETTINGS');
      this.sawSettings = true;
    }
    if (this.block !== null && type !== FrameType.CONTINUATION)
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'a header block was interrupted');
    switch (type) {
      case FrameType.DATA:
        return this.onData(flags, id, payload);
      case FrameType.HEADERS:
        return this.onHeaders(flags, id, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, id, payload);
      case FrameType.PRIORITY:
        if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) throw new H2StreamError(id, H2Error.FRAME_SIZE_ERROR, 'PRIORITY of a wrong size');
        return;
      case FrameType.RST_STREAM:
        return this.onReset(id, payload);
      case FrameType.SETTINGS:
        return this.onSettings(flags, id, payload);
      case FrameType.PUSH_PROMISE:
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'a client sent PUSH_PROMISE');
      case FrameType.PING:
        if (id !== 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PING of a wrong size');
        if ((flags & Flag.ACK) === 0) this.queueFrame(FrameType.PING, Flag.ACK, 0, payload);
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
        // The client opens no more streams; those open finish.
        if (this.goawayLastId < 0) this.goawayLastId = this.lastStreamId;
        if (this.streams.size === 0) this.endSocket();
        return;
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      default:
        return; // unknown frame types are ignored (§4.1)
    }
  }

  private onData(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
    const flowBytes = payload.length;
    if (flowBytes > this.recvWindow)
      throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'DATA past the connection window');
    this.recvWindow -= flowBytes;
    this.recvOwed += flowBytes;
    // The connection's window is granted back at once: each stream's own window bounds what waits.
    if (this.recvOwed >= this.limits.connectionWindowSize / 2) {
      this.queue(windowUpdateFrame(0, this.recvOwed));
      this.recvWindow += this.recvOwed;
      this.recvOwed = 0;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on an idle stream');
      return; // a stream closed since: its frames in flight are dropped
    }
    if (stream.remoteClosed) throw new H2StreamError(id, H2Error.STREAM_CLOSED, 'DATA after END_STREAM');
    let data = payload;
    if ((flags & Flag.PADDED) !== 0) data = unpad(payload);
    if (data.length === 0 && !endStream) this.countInvalid();
    stream.onData(data, flowBytes, endStream);
  }

  private onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0 || id % 2 === 0)
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on a stream id a client may not use');
    let fragment = (flags & Flag.PADDED) !== 0 ? unpad(payload) : payload;
    if ((flags & Flag.PRIORITY) !== 0) {
      if (fragment.length < 5)
        throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
      if ((fragment.readUInt32BE(0) & 0x7fffffff) === id)
        throw new H2StreamError(id, H2Error.PROTOCOL_ERROR, 'a stream depends on itself');
      fragment = fragment.subarray(5);
    }
    this.block = { id, endStream: (flags & Flag.END_STREAM) !== 0, parts: [fragment], bytes: fragment.length };
    if ((flags & Flag.END_HEADERS) !== 0) this.endBlock();
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const block = this.block;
    if (block === null || block.id !== id)
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'CONTINUATION out of place');
    block.parts.push(payload);
    block.bytes += payload.length;
    if (block.bytes > this.limits.maxHeaderBlockBytes || block.parts.length > MAX_BLOCK_FRAMES)
      throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'a header block too large');
    if ((flags & Flag.END_HEADERS) !== 0) this.endBlock();
  }

  /** A whole header block: a new request, or trailers on an open stream. */
  private endBlock(): void {
    const { id, endStream, parts, bytes } = this.block!;
    this.block = null;
    if (bytes > this.limits.maxHeaderBlockBytes)
      throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'a header block too large');
    // Decoded whatever becomes of it, so that the table stays in step with the client's.
    const decoded = this.decoder.decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes));
    const open = this.streams.get(id);
    if (open !== undefined) {
      // Trailers: the request's end; their fields are not passed on.
      if (open.remoteClosed) throw new H2StreamError(id, H2Error.STREAM_CLOSED, 'HEADERS after END_STREAM');
      if (!endStream) throw new H2StreamError(id, H2Error.PROTOCOL_ERROR, 'trailers without END_STREAM');
      if (decoded.fields.some((name, i) => i % 2 === 0 && name.charCodeAt(0) === 58 /* : */))
        throw new H2StreamError(id, H2Error.PROTOCOL_ERROR, 'a pseudo-header field in trailers');
      open.endRemote();
      return;
    }
    if (id <= this.lastStreamId) {
      // A stream we reset may still have the client's frames in flight: they are ignored (§5.1).
      if (this.resetByUs.includes(id)) return;
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on a stream id already passed');
    }
    this.lastStreamId = id;
    if (this.goawayLastId >= 0) return; // after our GOAWAY: ignored
    if (this.streams.size >= this.limits.maxConcurrentStreams) {
      if (this.settingsAcked)
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'more streams than SETTINGS_MAX_CONCURRENT_STREAMS');
      this.refuse(id);
      return;
    }
    const stream = new H2Stream(this, id, endStream, this.limits.initialWindowSize, this.peerInitialWindow);
    this.streams.set(id, stream);
    if (this.streams.size === 1) this.events.busy(true);
    this.events.request(stream, decoded);
  }

  private onReset(id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM of a wrong size');
    if (id > this.lastStreamId) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    this.closeStream(stream);
    // A stream reset before its answer: a flood of them is the rapid-reset attack (CVE-2023-44487).
    if (!stream.ended) this.spendReset();
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'a SETTINGS ack with a payload');
      this.settingsAcked = true;
      return;
    }
    if (payload.length % 6 !== 0) throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS of a wrong size');
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (key === Setting.ENABLE_PUSH && value > 1)
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH out of range');
      if (key === Setting.INITIAL_WINDOW_SIZE) this.setPeerWindow(value);
      if (key === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff)
          throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
        this.maxFrameSize = value;
      }
      // HEADER_TABLE_SIZE: responses use no dynamic table. MAX_CONCURRENT_STREAMS: no push. The rest: advisory or unknown.
    }
    this.queueFrame(FrameType.SETTINGS, Flag.ACK, 0, EMPTY);
    for (const stream of this.streams.values()) stream.resume();
  }

  /** SETTINGS_INITIAL_WINDOW_SIZE changes every open stream's send window by the difference (§6.9.2). */
  private setPeerWindow(value: number): void {
    if (value > MAX_WINDOW)
      throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE too large');
    const delta = value - this.peerInitialWindow;
    this.peerInitialWindow = value;
    for (const stream of this.streams.values()) {
      stream.sendWindow += delta;
      if (stream.sendWindow > MAX_WINDOW)
        throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'a stream window too large');
    }
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of a wrong size');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'a WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW)
        throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'the connection window too large');
      const waiting = [...this.waiting];
      this.waiting.clear();
      for (const stream of waiting) stream.resume();
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId)
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
      return;
    }
    if (increment === 0) throw new H2StreamError(id, H2Error.PROTOCOL_ERROR, 'a WINDOW_UPDATE of 0');
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW)
      throw new H2StreamError(id, H2Error.FLOW_CONTROL_ERROR, 'a stream window too large');
    stream.resume();
  }

  // ---- StreamHost ----

  sendHeaders(id: number, block: Buffer, endStream: boolean): void {
    const size = this.maxFrameSize;
    if (block.length <= size) {
      this.queueFrame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), id, block);
      return;
    }
    this.queueFrame(FrameType.HEADERS, endStream ? Flag.END_STREAM : 0, id, block.subarray(0, size));
    for (let at = size; at < block.length; at += size) {
      const end = Math.min(at + size, block.length);
      this.queueFrame(FrameType.CONTINUATION, end === block.length ? Flag.END_HEADERS : 0, id, block.subarray(at, end));
    }
  }

  sendData(id: number, chunk: Buffer, endStream: boolean): void {
    this.sendWindow -= chunk.length;
    this.queueFrame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, id, chunk);
  }

  grantStream(id: number, bytes: number): void {
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    stream.recvWindow += bytes;
    this.queue(windowUpdateFrame(id, bytes));
  }

  awaitWindow(stream: H2Stream): void {
    this.waiting.add(stream);
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
    this.queue(rstStreamFrame(stream.id, code));
    if (stream.remoteClosed) return;
    if (this.resetByUs.length === RESET_MEMORY) this.resetByUs.shift();
    this.resetByUs.push(stream.id);
  }

  private closeStream(stream: H2Stream): void {
    if (!this.streams.delete(stream.id)) return;
    this.waiting.delete(stream);
    stream.onClosed();
    if (this.streams.size === 0) {
      this.events.busy(false);
      if (this.goawayLastId >= 0) this.endSocket();
    }
  }

  private streamError(err: H2StreamError): void {
    this.countInvalid();
    const stream = this.streams.get(err.streamId);
    if (stream !== undefined) this.reset(stream, err.h2Code);
    else this.queue(rstStreamFrame(err.streamId, err.h2Code));
  }

  /** Resets a stream whose request is malformed (§8.1.1); too many such end the session. */
  malformed(stream: H2Stream): void {
    this.reset(stream, H2Error.PROTOCOL_ERROR);
    this.countInvalid();
  }

  /** Refuses a new stream (REFUSED_STREAM: the client may retry it); too many end the session. */
  private refuse(id: number): void {
    this.queue(rstStreamFrame(id, H2Error.REFUSED_STREAM));
    if (++this.refused > this.limits.maxRefusedStreams)
      throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'too many refused streams');
  }

  private countInvalid(): void {
    if (++this.invalid > this.limits.maxInvalidFrames)
      throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'too many invalid frames');
  }

  /** Takes one token of the client-reset bucket (resetBurst, refilled at resetsPerSecond). */
  private spendReset(): void {
    const now = performance.now();
    const limits = this.limits;
    this.resetTokens = Math.min(
      limits.resetBurst,
      this.resetTokens + ((now - this.resetClock) / 1000) * limits.resetsPerSecond,
    );
    this.resetClock = now;
    if (--this.resetTokens < 0) throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'streams reset too fast');
  }

  /** A connection error: GOAWAY with `code`, every stream closed, the socket ended and then cut. */
  private fail(code: H2ErrorCode): void {
    if (this.failed) return;
    this.failed = true;
    this.pending = null;
    this.queue(goawayFrame(this.lastStreamId, code));
    this.flush();
    for (const stream of [...this.streams.values()]) this.closeStream(stream);
    this.endSocket();
  }

  private endSocket(): void {
    if (this.gone || this.ending) return;
    this.ending = true;
    this.flush();
    this.socket.end();
    const socket = this.socket;
    setTimeout(() => socket.destroy(), GOAWAY_LINGER_MS).unref();
  }

  private onSocketClose(): void {
    this.gone = true;
    this.failed = true;
    this.out = [];
    for (const stream of [...this.streams.values()]) this.closeStream(stream);
    this.events.closed();
  }

  // ---- writing ----

  private queueFrame(type: number, flags: number, id: number, payload: Buffer): void {
    const head = Buffer.allocUnsafe(FRAME_HEAD_BYTES);
    writeFrameHead(head, 0, payload.length, type, flags, id);
    this.queue(head);
    if (payload.length > 0) this.queue(payload);
  }

  private queue(bytes: Buffer): void {
    if (this.gone) return;
    this.out.push(bytes);
    this.outBytes += bytes.length;
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes what was queued this turn as one buffer. */
  private flush(): void {
    this.flushing = false;
    if (this.out.length === 0 || this.gone) return;
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    if (!this.socket.write(data) && !this.blocked) {
      // The client reads slower than we write: stop reading it too until it catches up.
      this.blocked = true;
      this.socket.pause();
    }
  }

  private onDrain(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.socket.resume();
    for (const stream of [...this.streams.values()]) {
      if (this.blocked) break;
      stream.resume();
    }
  }
}

/** Most frames one header block may take (HEADERS and its CONTINUATIONs): a CONTINUATION flood ends the session. */
const MAX_BLOCK_FRAMES = 64;
/** How many streams reset by us are remembered, so that frames still in flight on them are ignored. */
const RESET_MEMORY = 64;
const EMPTY = Buffer.alloc(0);

/** A padded frame's payload without its pad length byte and padding (§6.1); PROTOCOL_ERROR if the padding does not fit. */
function unpad(payload: Buffer): Buffer {
  if (payload.length === 0)
    throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'a padded frame without its pad length');
  const pad = payload[0]!;
  if (pad >= payload.length) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'padding longer than the frame');
  return payload.subarray(1, payload.length - pad);
}
