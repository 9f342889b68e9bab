import { BadResponseError } from './errors.js';
import { hasBadHeadByte } from '../http/head-bytes.js';
import { decimal, FieldLines, sameName, trimmedSlice } from '../http/header-names.js';

/** Longest response head (status line and headers) accepted from a node. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Longest chunk-size line or trailer section accepted. */
const MAX_LINE_BYTES = 8 * 1024;

/** What the head of one response says about framing and the connection. */
export interface ResponseHead {
  status: number;
  /** Flat `[name, value, …]` in the node's order and case. */
  headers: string[];
  /** The connection may carry another request after this response. */
  keepAlive: boolean;
  /** `Keep-Alive: timeout=N` in ms, or -1. */
  keepAliveHintMs: number;
}

/** Where the parser reports one response. */
export interface ResponseSink {
  onHead(head: ResponseHead): void;
  onBody(chunk: Buffer): void;
  /** The response is complete; `extra` when bytes followed it (the connection must not be reused). */
  onEnd(extra: boolean): void;
}

const HEAD = 0;
const LENGTH = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_END = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;
const DONE = 7;

const CRLFCRLF = Buffer.from('\r\n\r\n');
// Control characters other than HTAB, CR and LF may not appear in a head (CR and LF only as line ends).
const BAD_HEAD_CHAR = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)/;
const HEX = /^[0-9a-fA-F]{1,12}$/;

function bad(message: string): Error {
  return new BadResponseError(message);
}

/**
 * An incremental HTTP/1.1 response parser (RFC 9112): the head, then the body framed by
 * Content-Length, chunked transfer coding (decoded; trailers are read and dropped) or the end of the
 * connection, and none for HEAD, 1xx, 204 and 304. It is strict where leniency would let a node
 * smuggle a second response or bad bytes to the client: obsolete line folding, control characters,
 * a bare CR or LF in the head, conflicting lengths, and Content-Length together with
 * Transfer-Encoding are errors. Body chunks are slices of the input, never copies; nothing of the
 * input is kept once `execute` returns (an unfinished head is copied), so the input may be a read
 * buffer that is reused.
 */
export class ResponseParser {
  private state: number = DONE;
  private readonly fields = new FieldLines(bad);
  private noBody = false;
  private remaining = 0;
  /** Unfinished head, or unfinished chunk-size / trailer line. */
  private partial: Buffer | null = null;
  private line = '';
  private trailerBytes = 0;
  private stopped = false;

  constructor(private readonly sink: ResponseSink) {}

  /** Expects the response to a new request (`head`: the request was HEAD, so no body follows). */
  expect(head: boolean): void {
    this.state = HEAD;
    this.noBody = head;
    this.partial = null;
    this.line = '';
    this.trailerBytes = 0;
    this.stopped = false;
  }

  /** The response just completed (and no callback stopped the parse). */
  private complete(): boolean {
    return this.state === DONE && !this.stopped;
  }

  /** Stops parsing the current buffer (the request was aborted from a callback). */
  stop(): void {
    this.stopped = true;
    this.state = DONE;
  }

  /** The node closed the connection: completes a close-delimited body; false when the response was cut short. */
  finishAtEof(): boolean {
    if (this.state !== UNTIL_CLOSE) return false;
    this.state = DONE;
    this.sink.onEnd(false);
    return true;
  }

  /**
   * Feeds bytes read from the connection; throws an `UPSTREAM_BAD_RESPONSE` error on invalid input.
   * Returns right after the response completes: the sink may hand the connection to a new request.
   */
  execute(input: Buffer): void {
    let buf = input;
    let off = 0;
    this.stopped = false;
    while (off < buf.length && !this.stopped) {
      switch (this.state) {
        case HEAD: {
          let base = off;
          let searchFrom = off;
          if (this.partial !== null) {
            searchFrom = Math.max(0, this.partial.length - 3);
            buf = Buffer.concat([this.partial, buf.subarray(off)]);
            base = 0;
            this.partial = null;
          }
          const end = buf.indexOf(CRLFCRLF, searchFrom);
          if (end < 0) {
            if (buf.length - base > MAX_HEAD_BYTES) throw bad('response head too large');
            // A copy: the input may be a read buffer that is reused once this call returns.
            this.partial = Buffer.from(buf.subarray(base));
            return;
          }
          if (end - base > MAX_HEAD_BYTES) throw bad('response head too large');
          if (hasBadHeadByte(buf, base, end, true)) throw bad('control character or bare line feed in the response head');
          off = end + 4;
          this.head(buf.toString('latin1', base, end));
          if (this.complete()) {
            this.sink.onEnd(off < buf.length);
            return;
          }
          break;
        }
        case LENGTH:
        case CHUNK_DATA: {
          const n = Math.min(this.remaining, buf.length - off);
          const chunk = buf.subarray(off, off + n);
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = this.state === LENGTH ? DONE : CHUNK_END;
          this.sink.onBody(chunk);
          if (this.complete()) {
            this.sink.onEnd(off < buf.length);
            return;
          }
          break;
        }
        case UNTIL_CLOSE: {
          const chunk = off === 0 ? buf : buf.subarray(off);
          off = buf.length;
          this.sink.onBody(chunk);
          break;
        }
        case CHUNK_SIZE:
        case CHUNK_END:
        case TRAILERS: {
          const nl = buf.indexOf(10, off);
          if (nl < 0) {
            this.line += buf.toString('latin1', off, buf.length);
            if (this.line.length > MAX_LINE_BYTES) throw bad('chunk line too long');
            return;
          }
          let line = this.line + buf.toString('latin1', off, nl);
          this.line = '';
          off = nl + 1;
          if (line.endsWith('\r')) line = line.slice(0, -1);
          this.lineDone(line);
          if (this.complete()) {
            this.sink.onEnd(off < buf.length);
            return;
          }
          break;
        }
        default:
          // Bytes while no response is expected: the node is not speaking HTTP/1.1 to us.
          throw bad('unexpected data from the node');
      }
    }
  }

  private lineDone(line: string): void {
    if (this.state === CHUNK_SIZE) {
      const semi = line.indexOf(';');
      const size = (semi < 0 ? line : line.slice(0, semi)).trim();
      if (!HEX.test(size)) throw bad('invalid chunk size');
      this.remaining = parseInt(size, 16);
      this.state = this.remaining === 0 ? TRAILERS : CHUNK_DATA;
    } else if (this.state === CHUNK_END) {
      if (line !== '') throw bad('chunk not followed by CRLF');
      this.state = CHUNK_SIZE;
    } else {
      // TRAILERS: dropped (the gateway does not forward trailers), but bounded and checked.
      if (line === '') {
        this.state = DONE;
        return;
      }
      this.trailerBytes += line.length;
      if (this.trailerBytes > MAX_LINE_BYTES || BAD_HEAD_CHAR.test(line)) throw bad('invalid trailer section');
    }
  }

  /** Parses a head whose bytes were checked (hasBadHeadByte: no bare CR or LF, no control character). */
  private head(text: string): void {
    let eol = text.indexOf('\r\n');
    if (eol < 0) eol = text.length;
    // HTTP/1.x SSS, then a reason phrase after a space, or nothing.
    if (
      eol < 12 ||
      !text.startsWith('HTTP/1.') ||
      (text.charCodeAt(7) !== 48 && text.charCodeAt(7) !== 49) ||
      text.charCodeAt(8) !== 32 ||
      (eol > 12 && text.charCodeAt(12) !== 32)
    ) {
      throw bad('invalid status line');
    }
    const status = decimal(text.slice(9, 12), 3);
    if (status < 100) throw bad('invalid status line');
    const http10 = text.charCodeAt(7) === 48;
    const headers: string[] = [];
    let contentLength = -1;
    let chunked = false;
    let transferEncoding = false;
    let close = http10;
    let keepAliveHintMs = -1;
    const fields = this.fields;
    fields.reset(text, eol);
    while (fields.next()) {
      const { name, value } = fields;
      headers.push(name, value);
      // sameName compares lengths first, so each test below costs one comparison for other names.
      if (sameName(name, 'content-length')) {
        const n = decimal(value, 15);
        if (n < 0) throw bad('invalid content-length');
        if (contentLength >= 0 && contentLength !== n) throw bad('conflicting content-length');
        contentLength = n;
      } else if (sameName(name, 'transfer-encoding')) {
        transferEncoding = true;
        chunked = sameName(trimmedSlice(value, value.lastIndexOf(',') + 1, value.length), 'chunked');
      } else if (sameName(name, 'connection')) {
        const tokens = value.toLowerCase();
        if (tokens.includes('close')) close = true;
        else if (http10 && tokens.includes('keep-alive')) close = false;
      } else if (sameName(name, 'keep-alive')) {
        const t = /(?:^|[\s,])timeout\s*=\s*(\d+)/i.exec(value);
        if (t) keepAliveHintMs = Number(t[1]) * 1000;
      }
    }
    if (transferEncoding && contentLength >= 0) throw bad('both content-length and transfer-encoding');
    if (status === 101) throw bad('unexpected 101 switching protocols');
    const head: ResponseHead = { status, headers, keepAlive: !close, keepAliveHintMs };
    if (status < 200) {
      this.state = HEAD; // an interim response; the final one follows
      this.sink.onHead(head);
      return;
    }
    if (this.noBody || status === 204 || status === 304) this.state = DONE;
    else if (transferEncoding) {
      if (chunked) this.state = CHUNK_SIZE;
      else {
        this.state = UNTIL_CLOSE;
        head.keepAlive = false;
      }
    } else if (contentLength >= 0) {
      this.remaining = contentLength;
      this.state = contentLength === 0 ? DONE : LENGTH;
    } else {
      this.state = UNTIL_CLOSE;
      head.keepAlive = false;
    }
    this.sink.onHead(head);
  }
}
