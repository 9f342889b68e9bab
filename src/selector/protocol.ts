/**
 * Wire format between the gateway and a sandbox host.
 *
 * Two one-way pipes: the gateway writes requests on the host's fd 3, the host writes replies on
 * its fd 4. Every frame is a 32-bit little-endian byte length followed by UTF-8 text. A request
 * frame carries one or more messages separated by "\n" (one frame per event-loop turn); a reply
 * frame carries exactly one message, written as soon as it is known. Every field is a decimal
 * number or JSON, and JSON never contains a raw newline, so "\n" and "\t" are safe separators.
 *
 * Requests (first character, then tab-separated fields):
 *   C opId datasetId candidates requestJson   call a loaded selector (candidates: "3,0,7")
 *   M opId datasetId candidates requestJson   the same, recording the request reads (memoized selectors)
 *   P opId programId timeoutMs memoryMb consoleLinesPerSecond memo codeJson
 *                                              compile a selector version (memo: off, checked or trusted,
 *                                              see isolate/runner.ts MemoMode)
 *   D opId programId datasetId catalogJson envJson   give a compiled selector one catalog + env
 *   d opId datasetId                           drop a catalog
 *   p opId programId                           drop a selector version
 *   T opId {config,request,env,nodes}          trial run in a fresh isolate (one JSON field)
 *   q opId programId                           the gateway quarantined this version: its calls are
 *                                              answered quarantined without running, from the moment
 *                                              the message arrives (calls queued before it included)
 * Replies (every request gets exactly one of R, E, A, J, in request order):
 *   R opId runUs positions                     call ok: positions into its candidates ("1,0")
 *   R opId runUs positions traceJson           M call ok and cacheable: also the reads it made, a JSON
 *                                              array of [path, valueKey] in first-read order (memo.ts)
 *   E opId runUs failureJson                   call or load failed (a SelectorFailure)
 *   A opId [reasonJson]                        load or drop done (a memoized version that cannot be
 *                                              memoized says why)
 *   J opId trialResultJson                     trial done
 * Notices (not replies): Y pid (ready), L programId dropped linesJson (console output),
 *   S programId reasonJson (a run of a memoized version changed its kept state: memoization ends;
 *   sent before that run's reply).
 */

/** File descriptor of the gateway → host request pipe, as the host sees it. */
export const REQUEST_FD = 3;
/** File descriptor of the host → gateway reply pipe, as the host sees it. */
export const REPLY_FD = 4;

/**
 * Largest request frame (gateway → host). The gateway splits its batches below it and refuses a
 * single message above it (a catalog too large); the host treats a longer frame as a broken stream.
 */
export const MAX_REQUEST_FRAME_BYTES = 16 * 1024 * 1024;
/**
 * Largest reply or notice frame (host → gateway). The host caps everything it writes well below
 * it (console lines, traces, messages); a longer frame is the selector's failure, and the gateway
 * skips it as it arrives without ever holding it whole.
 */
export const MAX_REPLY_FRAME_BYTES = 1024 * 1024;
/** Exit code of a host that received a broken request stream (the gateway's fault, never the script's). */
export const HOST_PROTOCOL_EXIT_CODE = 3;
/** Bytes of an oversized frame's head kept to tell whose frame it was (tag and id). */
export const OVERSIZED_HEAD_BYTES = 32;

/** Request and reply tags (the first character of a message). */
export const Tag = {
  call: 'C',
  tracedCall: 'M',
  program: 'P',
  dataset: 'D',
  dropDataset: 'd',
  dropProgram: 'p',
  trial: 'T',
  quarantine: 'q',
  ok: 'R',
  failed: 'E',
  ack: 'A',
  trialResult: 'J',
  ready: 'Y',
  console: 'L',
  stateful: 'S',
} as const;

/** Char code of the reply tag `R`, to dispatch on the first byte without decoding the frame. */
export const OK_TAG_CODE = 0x52;

/** Encodes one frame holding `text`. */
export function encodeFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32LE(length, 0);
  frame.write(text, 4);
  return frame;
}

/** Receives each complete frame as a view into a buffer (valid only during the call). */
export type FrameSink = (buf: Buffer, start: number, end: number) => void;

/** Told about a frame over the cap: its first bytes (at most OVERSIZED_HEAD_BYTES) and its length. */
export type OversizedSink = (head: Buffer, bytes: number) => void;

/**
 * Splits a byte stream into frames. Work is linear in the bytes received: a frame within one chunk
 * is handed over as a view of it; a frame spread over chunks is kept as the list of its chunks and
 * copied once, into a buffer sized from its length prefix, when its last byte arrives. A frame over
 * `maxFrameBytes` is never assembled: its head goes to `oversized` and the rest is discarded as it
 * arrives, after which the stream goes on with the next frame.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** Read position in chunks[0]. */
  private offset = 0;
  /** Bytes held in chunks past the offset. */
  private held = 0;
  /** Bytes of an oversized frame still to discard. */
  private skip = 0;
  /** Bytes copied to assemble frames so far (each byte at most once), for tests and diagnostics. */
  copiedBytes = 0;

  constructor(
    private readonly sink: FrameSink,
    private readonly maxFrameBytes: number,
    private readonly oversized: OversizedSink,
  ) {}

  /** Feeds one chunk. */
  push(chunk: Buffer): void {
    if (this.skip > 0) {
      if (chunk.length <= this.skip) {
        this.skip -= chunk.length;
        return;
      }
      chunk = chunk.subarray(this.skip);
      this.skip = 0;
    }
    this.chunks.push(chunk);
    this.held += chunk.length;
    // Bounded by the bytes held: every turn consumes a whole frame or returns.
    while (this.held >= 4) {
      const size = this.peekLength();
      if (size > this.maxFrameBytes) {
        const headBytes = Math.min(size, OVERSIZED_HEAD_BYTES);
        if (this.held < 4 + headBytes) return;
        const head = this.take(4 + headBytes).subarray(4);
        const rest = size - headBytes;
        const dropped = Math.min(rest, this.held);
        this.discard(dropped);
        this.skip = rest - dropped;
        this.oversized(head, size);
        continue;
      }
      if (this.held < 4 + size) return;
      const first = this.chunks[0]!;
      if (first.length - this.offset >= 4 + size) {
        const start = this.offset + 4;
        this.discard(4 + size);
        this.sink(first, start, start + size);
      } else {
        this.sink(this.take(4 + size), 4, 4 + size);
      }
    }
  }

  /** The 32-bit little-endian length at the read position (it may span chunks). */
  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length - this.offset >= 4) return first.readUInt32LE(this.offset);
    let value = 0;
    let i = 0;
    for (let c = 0, at = this.offset; i < 4; c++, at = 0) {
      const chunk = this.chunks[c]!;
      for (; at < chunk.length && i < 4; at++, i++) value += chunk[at]! * 2 ** (8 * i);
    }
    return value;
  }

  /** Copies the next `n` bytes (all held) into one new buffer and consumes them. */
  private take(n: number): Buffer {
    this.copiedBytes += n;
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const count = Math.min(n - filled, chunk.length - this.offset);
      chunk.copy(out, filled, this.offset, this.offset + count);
      filled += count;
      this.discard(count);
    }
    return out;
  }

  /** Consumes the next `n` held bytes. */
  private discard(n: number): void {
    this.held -= n;
    while (n > 0) {
      const chunk = this.chunks[0]!;
      const left = chunk.length - this.offset;
      if (n < left) {
        this.offset += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.offset = 0;
    }
    if (this.chunks.length > 0 && this.offset === this.chunks[0]!.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }
}

/**
 * Reads a "1,0,4" list of non-negative integers from bytes [start, end); returns null when the
 * text is not such a list. Avoids decoding the reply to a string on the hot path.
 */
export function parseIndexList(buf: Buffer, start: number, end: number): number[] | null {
  const out: number[] = [];
  if (start === end) return out;
  let value = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
      digits++;
    } else if (c === 0x2c && digits > 0) {
      out.push(value);
      value = 0;
      digits = 0;
    } else return null;
  }
  if (digits === 0) return null;
  out.push(value);
  return out;
}
