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
 *   P opId programId timeoutMs memoryMb quarantineFailures quarantineWindowMs consoleLinesPerSecond memo codeJson
 *                                              compile a selector version (memo: off, checked or trusted,
 *                                              see isolate/runner.ts MemoMode)
 *   D opId programId datasetId catalogJson envJson   give a compiled selector one catalog + env
 *   d opId datasetId                           drop a catalog
 *   p opId programId                           drop a selector version
 *   T opId {config,request,env,nodes}          trial run in a fresh isolate (one JSON field)
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

/** Largest frame either side accepts; a longer length prefix means the stream is corrupt. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** Request and reply tags (the first character of a message). */
export const Tag = {
  call: 'C',
  tracedCall: 'M',
  program: 'P',
  dataset: 'D',
  dropDataset: 'd',
  dropProgram: 'p',
  trial: 'T',
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

/** Receives each complete frame as a view into the chunk it arrived in (valid only during the call). */
export type FrameSink = (buf: Buffer, start: number, end: number) => void;

/** Splits a byte stream into frames; keeps a partial frame until the rest arrives. */
export class FrameReader {
  private rest: Buffer | null = null;

  constructor(private readonly sink: FrameSink) {}

  /** Feeds one chunk; throws when a length prefix is out of range (a corrupt stream). */
  push(chunk: Buffer): void {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    let off = 0;
    const len = buf.length;
    while (off + 4 <= len) {
      const size = buf.readUInt32LE(off);
      if (size > MAX_FRAME_BYTES) throw new Error(`sandbox frame of ${size} bytes exceeds the limit`);
      const end = off + 4 + size;
      if (end > len) break;
      this.sink(buf, off + 4, end);
      off = end;
    }
    // Copy the tail so a large chunk is not kept alive by a few bytes of the next frame.
    if (off < len) this.rest = Buffer.from(buf.subarray(off));
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
