import { HpackError } from './hpack/errors.js';

// HTTP/2 framing (RFC 9113 §4, §6): frame types, flags, settings, error codes, and the frames the
// gateway writes.

/** The client connection preface (§3.4). */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Every frame starts with this many bytes: length (24), type, flags, stream id (31). */
export const FRAME_HEAD_BYTES = 9;

/** Frame types (§6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (§6). */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** SETTINGS parameters (§6.5.2). */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** Error codes of RST_STREAM and GOAWAY (§7). */
export const H2Error = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** An RST_STREAM or GOAWAY error code. */
export type H2ErrorCode = (typeof H2Error)[keyof typeof H2Error];

/** The default and smallest SETTINGS_MAX_FRAME_SIZE (§6.5.2): what the gateway accepts. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** The largest flow-control window (§6.9.1). */
export const MAX_WINDOW = 0x7fffffff;
/** The window every stream and the connection start with (§6.9.2). */
export const DEFAULT_WINDOW = 65_535;

/**
 * A connection error (§5.4.1): the session sends GOAWAY with `h2Code` and closes. `code` is the
 * stable name used in logs.
 */
export class H2ConnectionError extends Error {
  readonly code = 'H2_CONNECTION_ERROR';
  constructor(
    readonly h2Code: H2ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A stream error (§5.4.2): that stream is reset with `h2Code`; the session goes on. */
export class H2StreamError extends Error {
  readonly code = 'H2_STREAM_ERROR';
  constructor(
    readonly streamId: number,
    readonly h2Code: H2ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The GOAWAY code of an error that ends a session: an H2ConnectionError's own, COMPRESSION_ERROR for
 * a header block that cannot be decoded (§4.3); any other error is thrown on.
 */
export function connectionErrorCode(err: unknown): H2ErrorCode {
  if (err instanceof H2ConnectionError) return err.h2Code;
  if (err instanceof HpackError) return H2Error.COMPRESSION_ERROR;
  throw err;
}

/** A frame's 9-byte head written into `out` at `at`. */
export function writeFrameHead(
  out: Buffer,
  at: number,
  length: number,
  type: number,
  flags: number,
  stream: number,
): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(stream, at + 5);
}

/** A whole frame with its payload. */
function frame(type: number, flags: number, stream: number, payload?: Buffer): Buffer {
  const length = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(FRAME_HEAD_BYTES + length);
  writeFrameHead(out, 0, length, type, flags, stream);
  payload?.copy(out, FRAME_HEAD_BYTES);
  return out;
}

/** A SETTINGS frame carrying `settings` as [id, value] pairs. */
export function settingsFrame(settings: readonly (readonly [number, number])[]): Buffer {
  const payload = Buffer.allocUnsafe(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

/** A WINDOW_UPDATE frame granting `increment` bytes on `stream` (0: the connection). */
export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEAD_BYTES + 4);
  writeFrameHead(out, 0, 4, FrameType.WINDOW_UPDATE, 0, stream);
  out.writeUInt32BE(increment, FRAME_HEAD_BYTES);
  return out;
}

/** An RST_STREAM frame. */
export function rstStreamFrame(stream: number, code: H2ErrorCode): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEAD_BYTES + 4);
  writeFrameHead(out, 0, 4, FrameType.RST_STREAM, 0, stream);
  out.writeUInt32BE(code, FRAME_HEAD_BYTES);
  return out;
}

/** A GOAWAY frame: the last stream the gateway processed and why it closes. */
export function goawayFrame(lastStream: number, code: H2ErrorCode): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEAD_BYTES + 8);
  writeFrameHead(out, 0, 8, FrameType.GOAWAY, 0, 0);
  out.writeUInt32BE(lastStream, FRAME_HEAD_BYTES);
  out.writeUInt32BE(code, FRAME_HEAD_BYTES + 4);
  return out;
}
