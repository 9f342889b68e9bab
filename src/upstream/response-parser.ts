import { BadResponseError } from './errors.js';
import { ChunkedDecoder, type ChunkedRules } from '../http/chunked.js';
import { hasBadHeadByte } from '../http/head-bytes.js';
import {
  CONNECTION_CLOSE,
  CONNECTION_KEEP_ALIVE,
  connectionOptions,
  decimal,
  FieldLines,
  sameName,
} from '../http/header-names.js';

/** Longest response head (status line and headers) accepted from a node. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Interim answers (1xx) a node may send before its final answer to one request (100 Continue, 103 Early Hints). */
export const MAX_INTERIM_ANSWERS = 8;

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
const CHUNKED = 2;
const UNTIL_CLOSE = 3;
const DONE = 4;

const CRLFCRLF = Buffer.from('\r\n\r\n');

function bad(message: string): Error {
  return new BadResponseError(message);
}

/**
 * A node's chunked body: the request side's grammar (one decoder for both), with a chunk line and a
 * trailer section of at most 8 KiB each; anything else is UPSTREAM_BAD_RESPONSE.
 */
const CHUNKED_RULES: ChunkedRules = {
  maxLineBytes: 8 * 1024,
  maxTrailerBytes: 8 * 1024,
  malformed: bad,
  trailersTooLarge: () => bad('trailer section too large'),
};

/**
 * An incremental HTTP/1.1 response parser (RFC 9112): the head, then the body framed by
 * Content-Length, chunked transfer coding (decoded; trailers are read and dropped) or the end of the
 * connection, and none for HEAD, 1xx, 204 and 304; a 101 is accepted only when the request asked for
 * an upgrade, and ends the parse at its head (the proxy of upgrades reads its node's answer with it too). It is strict where leniency would let a node
 * smuggle a second response or bad bytes to the client: obsolete line folding, control characters,
 * a bare CR or LF in the head, a repeated Content-Length (even with the same value), and
 * Content-Length together with Transfer-Encoding are errors, and its chunked decoder and field-line
 * reader are the request side's (src/http/). As on the request side, `chunked` is the only transfer
 * coding accepted (another one could not be passed on: Transfer-Encoding is hop-by-hop, and the
 * client's framing is the gateway's own), and a Transfer-Encoding on HTTP/1.0 closes the connection
 * after the response (RFC 9112 §6.1). What differs from the request side, on purpose: HTTP/1.0 with
 * Transfer-Encoding is read rather than refused, there is no Host, and the head may be 64 KiB.
 * Nothing it accepts is refused or framed differently by llhttp (test/http/differential.test.ts).
 * Body chunks are slices of the input, never copies; nothing of the input is kept once `execute`
 * returns (an unfinished head is copied), so the input may be a read buffer that is reused.
 */
export class ResponseParser {
  private state: number = DONE;
  private readonly fields = new FieldLines(bad);
  private noBody = false;
  private remaining = 0;
  /** Unfinished head, in a buffer that doubles as it fills (a head read a byte at a time costs linear copying). */
  private partial: Buffer | null = null;
  private partialLength = 0;
  /** Interim (1xx) answers read for the current request. */
  private interim = 0;
  /** The request asked for an upgrade: a `101` ends the parse (the bytes after its head are the new protocol's). */
  private upgrade = false;
  private stopped = false;
  private readonly chunked: ChunkedDecoder;

  constructor(private readonly sink: ResponseSink) {
    this.chunked = new ChunkedDecoder(CHUNKED_RULES, sink);
  }

  /**
   * Expects the response to a new request (`head`: the request was HEAD, so no body follows;
   * `upgrade`: the request asked to switch protocols, so a `101` may answer it).
   */
  expect(head: boolean, upgrade = false): void {
    this.state = HEAD;
    this.noBody = head;
    this.upgrade = upgrade;
    this.partial = null;
    this.interim = 0;
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
   * Returns right after the response completes (the sink may hand the connection to a new request),
   * or right after the head of a `101` to an upgrade request (what follows is the new protocol's),
   * with the number of bytes of `input` it used.
   */
  execute(input: Buffer): number {
    let buf = input;
    let off = 0;
    let shift = 0; // bytes of an earlier read in front of `buf`
    this.stopped = false;
    while (off < buf.length && !this.stopped) {
      switch (this.state) {
        case HEAD: {
          let base = off;
          let searchFrom = off;
          const kept = this.partial;
          let joined: Buffer | null = null;
          if (kept !== null) {
            const had = this.partialLength;
            const length = had + buf.length - off;
            joined = kept.length >= length ? kept : Buffer.allocUnsafe(Math.max(kept.length * 2, length));
            if (joined !== kept) kept.copy(joined, 0, 0, had);
            buf.copy(joined, had, off);
            searchFrom = Math.max(0, had - 3);
            shift = had;
            buf = joined.subarray(0, length);
            base = 0;
            this.partial = null;
          }
          const end = buf.indexOf(CRLFCRLF, searchFrom);
          if (end < 0) {
            if (buf.length - base > MAX_HEAD_BYTES) throw bad('response head too large');
            const length = buf.length - base;
            if (joined !== null) this.partial = joined;
            else {
              // A copy: the input may be a read buffer that is reused once this call returns.
              this.partial = Buffer.allocUnsafe(Math.max(1024, length * 2));
              buf.copy(this.partial, 0, base);
            }
            this.partialLength = length;
            return input.length;
          }
          if (end - base > MAX_HEAD_BYTES) throw bad('response head too large');
          if (hasBadHeadByte(buf, base, end, true))
            throw bad('control character or bare line feed in the response head');
          off = end + 4;
          this.head(buf.toString('latin1', base, end));
          if (this.complete()) {
            this.sink.onEnd(off < buf.length);
            return off - shift;
          }
          break;
        }
        case LENGTH: {
          const n = Math.min(this.remaining, buf.length - off);
          const chunk = buf.subarray(off, off + n);
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = DONE;
          this.sink.onBody(chunk);
          if (this.complete()) {
            this.sink.onEnd(off < buf.length);
            return off - shift;
          }
          break;
        }
        case CHUNKED:
          off = this.chunked.execute(buf, off);
          if (this.chunked.done && !this.stopped) {
            this.state = DONE;
            this.sink.onEnd(off < buf.length);
            return off - shift;
          }
          break;
        case UNTIL_CLOSE: {
          const chunk = off === 0 ? buf : buf.subarray(off);
          off = buf.length;
          this.sink.onBody(chunk);
          break;
        }
        default:
          // Bytes while no response is expected: the node is not speaking HTTP/1.1 to us.
          throw bad('unexpected data from the node');
      }
    }
    return off - shift;
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
    let transferEncoding: string | null = null;
    let close = http10;
    let keepAliveHintMs = -1;
    const fields = this.fields;
    fields.reset(text, eol);
    while (fields.next()) {
      const { name, value } = fields;
      headers.push(name, value);
      // sameName compares lengths first, so each test below costs one comparison for other names.
      if (sameName(name, 'content-length')) {
        // A repeated Content-Length is refused, even with the same value: llhttp refuses it too,
        // and passing both on would tell the client twice.
        if (contentLength >= 0) throw bad('repeated content-length');
        if (fields.tabAfter) throw bad('a tab after content-length');
        contentLength = decimal(value, 15);
        if (contentLength < 0) throw bad('invalid content-length');
      } else if (sameName(name, 'transfer-encoding')) {
        if (fields.tabAfter) throw bad('a tab after transfer-encoding');
        transferEncoding = transferEncoding === null ? value : `${transferEncoding}, ${value}`;
      } else if (sameName(name, 'connection')) {
        const options = connectionOptions(value);
        if (options & CONNECTION_CLOSE) close = true;
        else if (http10 && options & CONNECTION_KEEP_ALIVE) close = false;
      } else if (sameName(name, 'keep-alive')) {
        const t = /(?:^|[\s,])timeout\s*=\s*(\d+)/i.exec(value);
        if (t) keepAliveHintMs = Number(t[1]) * 1000;
      }
    }
    if (transferEncoding !== null) {
      if (contentLength >= 0) throw bad('both content-length and transfer-encoding');
      // Only chunked is decoded: another coding's bytes would reach the client with no coding named.
      if (!sameName(transferEncoding, 'chunked')) throw bad('a transfer coding other than chunked');
      // HTTP/1.0 has no transfer coding: its framing is suspect, and the connection ends with it (RFC 9112 §6.1).
      if (http10) close = true;
    }
    const head: ResponseHead = { status, headers, keepAlive: !close, keepAliveHintMs };
    if (status === 101) {
      // Only an upgrade request may be answered so, and HTTP/1.0 has no upgrade.
      if (!this.upgrade || http10) throw bad('unexpected 101 switching protocols');
      this.stop(); // the connection is the new protocol's from the end of this head
      this.sink.onHead(head);
      return;
    }
    if (status < 200) {
      // An interim response that closes the connection (HTTP/1.0 has none) leaves no room for the final one.
      if (close) throw bad('an interim response that closes the connection');
      if (++this.interim > MAX_INTERIM_ANSWERS) throw bad('too many interim responses');
      this.state = HEAD; // an interim response; the final one follows
      this.sink.onHead(head);
      return;
    }
    if (this.noBody || status === 204 || status === 304) this.state = DONE;
    else if (transferEncoding !== null) {
      this.chunked.reset();
      this.state = CHUNKED;
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
