import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  Flag,
  FRAME_HEAD_BYTES,
  FrameType,
  H2ConnectionError,
  H2Error,
  H2StreamError,
} from './frames.js';
import { HeaderBlockReader, unpad, type HeaderBlock } from './header-block.js';

/** What the frames a client sends mean, once their shape was checked. */
export interface FrameHandler {
  /** DATA: `data` without padding; `flowBytes` is what it takes of the windows (padding included). */
  data(id: number, data: Buffer, flowBytes: number, endStream: boolean): void;
  /** A whole header block (a request, or trailers). */
  block(whole: HeaderBlock): void;
  /** RST_STREAM from the client. */
  rstStream(id: number): void;
  /** SETTINGS (not an ack): `payload` holds whole 6-byte entries. */
  settings(payload: Buffer): void;
  /** The client acknowledged our SETTINGS. */
  settingsAck(): void;
  /** PING (not an ack), to be answered with its 8 bytes. */
  ping(payload: Buffer): void;
  /** GOAWAY from the client: it opens no more streams. */
  goaway(): void;
  /** WINDOW_UPDATE (`increment` may be 0, which the handler refuses). */
  windowUpdate(id: number, increment: number): void;
  /** A frame broke its stream's rules: that stream is reset, the session goes on. */
  streamError(err: H2StreamError): void;
}

/**
 * Reads a client's bytes as HTTP/2 frames (RFC 9113 §3.4, §4, §6): the preface, then frames of at
 * most 16 KiB, the first of them SETTINGS. Each frame's shape (its stream id, length and flags) is
 * checked here and its meaning passed to the handler. A connection error is thrown; after one, the
 * caller stops the reader.
 */
export class FrameReader {
  /** The bytes of a partial frame, as they came: joined once the frame is whole, not once per piece. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** How many bytes `pending` must hold before it is worth joining: the frame's head, then the whole frame. */
  private needed = 0;
  private prefaceLeft = CLIENT_PREFACE.length;
  private sawSettings = false;
  private stopped = false;
  private readonly blocks: HeaderBlockReader;

  constructor(
    maxHeaderBlockBytes: number,
    private readonly handler: FrameHandler,
  ) {
    this.blocks = new HeaderBlockReader(maxHeaderBlockBytes);
  }

  /** No more frames are read (the session failed or is gone). */
  stop(): void {
    this.stopped = true;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Reads what arrived; keeps a partial frame for the next call. Throws H2ConnectionError. */
  read(chunk: Buffer): void {
    if (this.stopped) return;
    let buf = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < this.needed) return;
      buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let at = 0;
    if (this.prefaceLeft > 0) {
      const offset = CLIENT_PREFACE.length - this.prefaceLeft;
      const n = Math.min(this.prefaceLeft, buf.length);
      if (buf.compare(CLIENT_PREFACE, offset, offset + n, 0, n) !== 0)
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'not the HTTP/2 client preface');
      this.prefaceLeft -= n;
      at = n;
    }
    while (!this.stopped && buf.length - at >= FRAME_HEAD_BYTES) {
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
        this.frame(type, flags, id, payload);
      } catch (err) {
        if (!(err instanceof H2StreamError)) throw err;
        this.handler.streamError(err);
      }
    }
    if (at < buf.length && !this.stopped) this.keep(at === 0 ? buf : Buffer.from(buf.subarray(at)));
  }

  /** Keeps the start of a frame (never of the preface, which is read as it comes). */
  private keep(rest: Buffer): void {
    this.pending = [rest];
    this.pendingBytes = rest.length;
    this.needed =
      rest.length < FRAME_HEAD_BYTES
        ? FRAME_HEAD_BYTES
        : FRAME_HEAD_BYTES + ((rest[0]! << 16) | (rest[1]! << 8) | rest[2]!);
  }

  private frame(type: number, flags: number, id: number, payload: Buffer): void {
    const handler = this.handler;
    if (!this.sawSettings) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0)
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'the first frame is not SETTINGS');
      this.sawSettings = true;
    }
    if (this.blocks.open && type !== FrameType.CONTINUATION)
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'a header block was interrupted');
    switch (type) {
      case FrameType.DATA: {
        if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
        const data = (flags & Flag.PADDED) !== 0 ? unpad(payload) : payload;
        return handler.data(id, data, payload.length, (flags & Flag.END_STREAM) !== 0);
      }
      case FrameType.HEADERS:
      case FrameType.CONTINUATION: {
        const whole =
          type === FrameType.HEADERS
            ? this.blocks.headers(flags, id, payload)
            : this.blocks.continuation(flags, id, payload);
        if (whole !== null) handler.block(whole);
        return;
      }
      case FrameType.PRIORITY:
        if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) throw new H2StreamError(id, H2Error.FRAME_SIZE_ERROR, 'PRIORITY of a wrong size');
        if ((payload.readUInt32BE(0) & 0x7fffffff) === id)
          throw new H2StreamError(id, H2Error.PROTOCOL_ERROR, 'a stream depends on itself');
        return; // priorities are not followed
      case FrameType.RST_STREAM:
        if (id === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (payload.length !== 4) throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM of a wrong size');
        return handler.rstStream(id);
      case FrameType.SETTINGS:
        if (id !== 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
        if ((flags & Flag.ACK) !== 0) {
          if (payload.length !== 0)
            throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'a SETTINGS ack with a payload');
          return handler.settingsAck();
        }
        if (payload.length % 6 !== 0) throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS of a wrong size');
        return handler.settings(payload);
      case FrameType.PUSH_PROMISE:
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'a client sent PUSH_PROMISE');
      case FrameType.PING:
        if (id !== 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PING of a wrong size');
        if ((flags & Flag.ACK) === 0) handler.ping(payload);
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY too short');
        return handler.goaway();
      case FrameType.WINDOW_UPDATE:
        if (payload.length !== 4)
          throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of a wrong size');
        return handler.windowUpdate(id, payload.readUInt32BE(0) & 0x7fffffff);
      default:
        return; // unknown frame types are ignored (§4.1)
    }
  }
}
