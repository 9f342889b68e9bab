import { hasBadHeadByte } from './head-bytes.js';
import { FieldLines, isTokenByte } from './header-names.js';

/**
 * What one direction allows of a chunked body beyond the grammar, and how it fails. The grammar is
 * the same for requests and responses (see ChunkedDecoder); only the bounds and errors differ.
 */
export interface ChunkedRules {
  /** Longest chunk line (size and extensions, without its CRLF), bytes. */
  maxLineBytes: number;
  /** Longest trailer section (its field lines with their CRLFs), bytes. */
  maxTrailerBytes: number;
  /** The direction's error for a malformed chunked body. */
  malformed(message: string): Error;
  /** The direction's error for a trailer section past `maxTrailerBytes`. */
  trailersTooLarge(): Error;
}

/** Where decoded body bytes go. */
export interface ChunkedSink {
  /** Body bytes: a slice of the input, never empty. */
  onBody(chunk: Buffer): void;
}

const SIZE_START = 0; // the first hex digit of a chunk size
const SIZE = 1; // more hex digits, `;` or CR
const EXT_NAME_START = 2; // after `;`: a token
const EXT_NAME = 3;
const EXT_VALUE_START = 4; // after `=`: a token or a quoted string
const EXT_TOKEN = 5;
const EXT_QUOTED = 6;
const EXT_QUOTED_PAIR = 7; // after `\` in a quoted string
const EXT_QUOTED_END = 8; // after the closing quote: `;` or CR
const LINE_LF = 9; // the LF of a chunk line
const DATA = 10;
const DATA_CR = 11;
const DATA_LF = 12;
const TRAILER_START = 13; // a trailer field line, or the CR of the empty line that ends the body
const TRAILER_LINE = 14;
const TRAILER_LF = 15;
const END_LF = 16;
const DONE = 17;

/** Most hex digits of a chunk size, leading zeros included: at most 2^48 - 1, an exact integer. */
const MAX_SIZE_DIGITS = 12;

/** The value of a hex digit byte, or -1. */
export function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/**
 * The one chunked-coding decoder (RFC 9112 §7.1) of the request parser and the response parser. Its
 * grammar is llhttp's strict one, in both directions: `chunk-size [ chunk-ext ] CRLF`, with no
 * whitespace anywhere in a chunk line, extensions validated (RFC 9112 §7.1.1: `;` token, optionally
 * `=` token or quoted-string; an empty name or value, an unbalanced quote or a bare `;` is refused,
 * a little stricter than llhttp), CRLF after the data, and the trailer section read as field lines by
 * the same reader as a head's, then dropped (the gateway forwards no trailers). Nothing is lenient
 * on the response side either: a node whose chunk framing the gateway read differently from the
 * node's own meaning would desynchronise the pooled connection, and the body is re-framed for the
 * client anyway. Per chunk line it is a byte loop with no string made; data is handed out as slices.
 */
export class ChunkedDecoder {
  private state = SIZE_START;
  private size = 0;
  private digits = 0;
  private lineBytes = 0;
  private remaining = 0;
  /** The trailer section so far (allocated for the first trailer field line). */
  private trailers: Buffer | null = null;
  private trailerBytes = 0;
  private readonly fields: FieldLines;

  constructor(
    private readonly rules: ChunkedRules,
    private readonly sink: ChunkedSink,
  ) {
    this.fields = new FieldLines((message) => rules.malformed(`trailer section: ${message}`));
  }

  /** True once the whole chunked body (its last chunk and trailer section) was read. */
  get done(): boolean {
    return this.state === DONE;
  }

  /** Starts on a new body. */
  reset(): void {
    this.state = SIZE_START;
    this.size = 0;
    this.digits = 0;
    this.lineBytes = 0;
    this.trailers = null;
    this.trailerBytes = 0;
  }

  /**
   * Decodes from `input[off]` and returns the offset after what it used: it returns right after it
   * handed out a piece of data (so the caller can stop between two), at the end of the body (`done`),
   * or at the end of the input. Throws the direction's error on malformed input.
   */
  execute(input: Buffer, off: number): number {
    const rules = this.rules;
    const end = input.length;
    while (off < end) {
      const state = this.state;
      if (state === DATA) {
        const n = Math.min(this.remaining, end - off);
        this.remaining -= n;
        if (this.remaining === 0) this.state = DATA_CR;
        this.sink.onBody(input.subarray(off, off + n));
        return off + n;
      }
      const c = input[off++]!;
      if (state < LINE_LF && ++this.lineBytes > rules.maxLineBytes) throw rules.malformed('chunk line too long');
      switch (state) {
        case SIZE_START:
        case SIZE: {
          const v = hexValue(c);
          if (v >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) throw rules.malformed('chunk size too long');
            this.size = this.size * 16 + v;
            this.state = SIZE;
          } else if (state === SIZE && c === 59 /* ; */) this.state = EXT_NAME_START;
          else if (state === SIZE && c === 13) this.state = LINE_LF;
          else throw rules.malformed('invalid chunk size');
          break;
        }
        case EXT_NAME_START:
          if (!isTokenByte(c)) throw rules.malformed('invalid chunk extension name');
          this.state = EXT_NAME;
          break;
        case EXT_NAME:
          if (c === 61 /* = */) this.state = EXT_VALUE_START;
          else this.afterExtension(c, isTokenByte(c), 'invalid chunk extension name');
          break;
        case EXT_VALUE_START:
          if (c === 34 /* " */) this.state = EXT_QUOTED;
          else if (isTokenByte(c)) this.state = EXT_TOKEN;
          else throw rules.malformed('invalid chunk extension value');
          break;
        case EXT_TOKEN:
          this.afterExtension(c, isTokenByte(c), 'invalid chunk extension value');
          break;
        case EXT_QUOTED:
          // qdtext: HTAB, SP, and visible characters but `"` and `\` (no obs-text, no control).
          if (c === 34) this.state = EXT_QUOTED_END;
          else if (c === 92 /* \ */) this.state = EXT_QUOTED_PAIR;
          else if (!(c === 9 || (c >= 32 && c <= 126)))
            throw rules.malformed('invalid character in a quoted chunk extension');
          break;
        case EXT_QUOTED_PAIR:
          if (!(c === 9 || (c >= 32 && c <= 126))) throw rules.malformed('invalid quoted pair in a chunk extension');
          this.state = EXT_QUOTED;
          break;
        case EXT_QUOTED_END:
          this.afterExtension(c, false, 'invalid character after a quoted chunk extension');
          break;
        case LINE_LF:
          if (c !== 10) throw rules.malformed('chunk line not ended by CRLF');
          this.lineBytes = 0;
          this.digits = 0;
          if (this.size === 0) this.state = TRAILER_START;
          else {
            this.remaining = this.size;
            this.size = 0;
            this.state = DATA;
          }
          break;
        case DATA_CR:
          if (c !== 13) throw rules.malformed('chunk data not followed by CRLF');
          this.state = DATA_LF;
          break;
        case DATA_LF:
          if (c !== 10) throw rules.malformed('chunk data not followed by CRLF');
          this.state = SIZE_START;
          break;
        case TRAILER_START:
          if (c === 13) {
            this.state = END_LF;
            break;
          }
          this.state = TRAILER_LINE;
        // falls through: the line's first byte
        case TRAILER_LINE:
          if (c === 10) throw rules.malformed('bare LF in the trailer section');
          this.keepTrailer(c);
          if (c === 13) this.state = TRAILER_LF;
          break;
        case TRAILER_LF:
          if (c !== 10) throw rules.malformed('trailer field line not ended by CRLF');
          this.keepTrailer(c);
          this.state = TRAILER_START;
          break;
        case END_LF:
          if (c !== 10) throw rules.malformed('trailer section not ended by CRLF');
          this.endTrailers();
          this.state = DONE;
          return off;
      }
    }
    return off;
  }

  /** After an extension's name or value: more of it, `;` for the next one, or CR for the end of the line. */
  private afterExtension(c: number, more: boolean, message: string): void {
    if (more) return;
    if (c === 59) this.state = EXT_NAME_START;
    else if (c === 13) this.state = LINE_LF;
    else throw this.rules.malformed(message);
  }

  private keepTrailer(c: number): void {
    if (this.trailerBytes >= this.rules.maxTrailerBytes) throw this.rules.trailersTooLarge();
    this.trailers ??= Buffer.allocUnsafe(this.rules.maxTrailerBytes);
    this.trailers[this.trailerBytes++] = c;
  }

  /** Checks the trailer section as field lines (then drops it). */
  private endTrailers(): void {
    const n = this.trailerBytes;
    if (n === 0) return;
    const buf = this.trailers!;
    // Without its last CRLF: the field-line reader walks lines separated by CRLF.
    if (hasBadHeadByte(buf, 0, n - 2, true))
      throw this.rules.malformed('control character or bare line end in the trailer section');
    const fields = this.fields;
    fields.reset(buf.toString('latin1', 0, n - 2), -2);
    while (fields.next());
    this.trailers = null;
    this.trailerBytes = 0;
  }
}
