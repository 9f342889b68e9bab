import { Flag, H2ConnectionError, H2Error } from './frames.js';

/** A whole header block (HEADERS and its CONTINUATIONs), not yet decoded. */
export interface HeaderBlock {
  id: number;
  /** The HEADERS frame carried END_STREAM. */
  endStream: boolean;
  /** Its priority names the stream itself: a stream error, once the block is decoded (§5.3.1). */
  selfDependent: boolean;
  block: Buffer;
}

/** Most frames one header block may take: a CONTINUATION flood ends the session. */
const MAX_BLOCK_FRAMES = 64;

/**
 * Gathers header blocks from HEADERS and CONTINUATION frames (RFC 9113 §6.2, §6.10): padding and
 * priority stripped, the parts bounded in bytes and in frames. Nothing else may come between a
 * HEADERS without END_HEADERS and its last CONTINUATION.
 */
export class HeaderBlockReader {
  private id = 0;
  private endStream = false;
  private selfDependent = false;
  private parts: Buffer[] = [];
  private bytes = 0;
  /** A block is open: only its CONTINUATION frames may come next. */
  open = false;

  constructor(private readonly maxBytes: number) {}

  /** A HEADERS frame: returns the block when it is whole (END_HEADERS), else null. */
  headers(flags: number, id: number, payload: Buffer): HeaderBlock | null {
    if (id === 0 || id % 2 === 0)
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on a stream id a client may not use');
    let fragment = (flags & Flag.PADDED) !== 0 ? unpad(payload) : payload;
    let selfDependent = false;
    if ((flags & Flag.PRIORITY) !== 0) {
      if (fragment.length < 5)
        throw new H2ConnectionError(H2Error.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
      selfDependent = (fragment.readUInt32BE(0) & 0x7fffffff) === id;
      fragment = fragment.subarray(5);
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) !== 0) return { id, endStream, selfDependent, block: fragment };
    this.id = id;
    this.endStream = endStream;
    this.selfDependent = selfDependent;
    this.parts = [fragment];
    this.bytes = fragment.length;
    this.open = true;
    return null;
  }

  /** A CONTINUATION frame: returns the block when it is whole, else null. */
  continuation(flags: number, id: number, payload: Buffer): HeaderBlock | null {
    if (!this.open || this.id !== id) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'CONTINUATION out of place');
    this.parts.push(payload);
    this.bytes += payload.length;
    if (this.bytes > this.maxBytes || this.parts.length > MAX_BLOCK_FRAMES)
      throw new H2ConnectionError(H2Error.ENHANCE_YOUR_CALM, 'a header block too large');
    if ((flags & Flag.END_HEADERS) === 0) return null;
    const block = Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.open = false;
    return { id, endStream: this.endStream, selfDependent: this.selfDependent, block };
  }
}

/** A padded frame's payload without its pad length byte and padding (§6.1); PROTOCOL_ERROR if the padding does not fit. */
export function unpad(payload: Buffer): Buffer {
  if (payload.length === 0)
    throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'a padded frame without its pad length');
  const pad = payload[0]!;
  if (pad >= payload.length) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'padding longer than the frame');
  return payload.subarray(1, payload.length - pad);
}
