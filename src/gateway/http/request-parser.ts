import { ChunkedDecoder } from '../../http/chunked.js';
import { hasBadHeadByte } from '../../http/head-bytes.js';
import { isValidHost } from '../../http/host.js';
import {
  CONNECTION_CLOSE,
  CONNECTION_KEEP_ALIVE,
  connectionOptions,
  decimal,
  FieldLines,
} from '../../http/header-names.js';
import {
  bad,
  BAD_TARGET_CHAR,
  CHUNKED_RULES,
  knownMethod,
  MAX_REQUEST_HEAD_BYTES,
  MAX_REQUEST_LINE_BYTES,
  RequestParseError,
  validTarget,
  type RequestSink,
} from './request-head.js';

export {
  MAX_REQUEST_HEAD_BYTES,
  MAX_REQUEST_LINE_BYTES,
  RequestParseError,
  type RequestErrorCode,
  type RequestHead,
  type RequestSink,
} from './request-head.js';

const HEAD = 0;
const LENGTH = 1;
const CHUNKED = 2;
const DONE = 3;

const CRLFCRLF = Buffer.from('\r\n\r\n');

/**
 * An incremental HTTP/1.1 request parser (RFC 9112). It is strict wherever leniency would let a
 * client smuggle a second request past the gateway or confuse a node: only CRLF line ends, no
 * obsolete line folding, no control characters, exactly one Host on HTTP/1.1, one Content-Length of
 * digits only, never both Content-Length and Transfer-Encoding, and `chunked` as the only transfer
 * coding; its chunked decoder and field-line reader serve the response side too (src/http/). Nothing
 * it accepts is refused or framed differently by llhttp in strict mode, the parser a node behind the
 * gateway most likely reads with (test/http/differential.test.ts): so it also refuses methods llhttp
 * does not know, and targets llhttp would not take. It parses one message at a time: after `onEnd`
 * it consumes nothing until `next()`, so pipelined requests wait their turn.
 */
export class RequestParser {
  private state = HEAD;
  private readonly fields = new FieldLines(bad);
  private remaining = 0;
  /** An unfinished head: its bytes are `acc[0, accLength)`; `acc` is never larger than the head limit. */
  private acc: Buffer | null = null;
  private accLength = 0;
  private started = false;
  private readonly chunked: ChunkedDecoder;

  constructor(private readonly sink: RequestSink) {
    this.chunked = new ChunkedDecoder(CHUNKED_RULES, sink);
  }

  /** True after `onEnd`, until `next()`. */
  get complete(): boolean {
    return this.state === DONE;
  }

  /** True while no byte of a (next) request has been read. */
  get idle(): boolean {
    return this.state === HEAD && !this.started;
  }

  /** Prepares for the next request on the connection. */
  next(): void {
    this.state = HEAD;
    this.dropHead();
    this.started = false;
  }

  /**
   * Feeds bytes read from the connection and returns how many it consumed: all of them, or fewer
   * when the request completed (the rest belongs to the next one). Throws a RequestParseError.
   */
  execute(input: Buffer): number {
    let off = 0;
    while (off < input.length) {
      switch (this.state) {
        case HEAD: {
          if (this.acc !== null) {
            if (!this.started && input[0] === 10) {
              // The CR kept from the last read and this LF are an empty line before the request line.
              this.dropHead();
              off = 1;
              break;
            }
            this.started = true;
            off = this.joinHead(input);
            if (this.state === HEAD) return input.length;
            break;
          }
          // Empty lines before a request line are ignored (RFC 9112 §2.2).
          while (!this.started && input[off] === 13 && input[off + 1] === 10) off += 2;
          if (off === input.length) return input.length;
          if (!this.started && input[off] === 13 && off + 1 === input.length) {
            this.keep(input, off);
            return input.length;
          }
          this.started = true;
          const end = input.indexOf(CRLFCRLF, off);
          if (end < 0) {
            this.headTooLong(input, off, off);
            this.keep(input, off);
            return input.length;
          }
          if (end + 4 - off > MAX_REQUEST_HEAD_BYTES) this.headTooLong(input, off, input.length);
          if (hasBadHeadByte(input, off, end, true))
            throw bad('control character or bare line end in the request head');
          this.head(input.toString('latin1', off, end));
          off = end + 4;
          break;
        }
        case LENGTH: {
          const n = Math.min(this.remaining, input.length - off);
          const chunk = input.subarray(off, off + n);
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = DONE;
          this.sink.onBody(chunk);
          break;
        }
        case CHUNKED:
          off = this.chunked.execute(input, off);
          if (this.chunked.done) this.state = DONE;
          break;
        default:
          return off; // DONE: the rest is the next request's
      }
      if (this.state === DONE) {
        this.sink.onEnd();
        return off;
      }
    }
    return off;
  }

  /**
   * Adds the start of `input` to the unfinished head kept from earlier reads, taking no more than a
   * head may still hold (the buffer never grows past the head limit). Returns how many bytes of
   * `input` it used: all of them while the head is unfinished, else up to the end of the head, which
   * it parses.
   */
  private joinHead(input: Buffer): number {
    const had = this.accLength;
    const take = Math.min(input.length, MAX_REQUEST_HEAD_BYTES - had);
    const acc = this.acc!.length >= had + take ? this.acc! : this.grow(had + take);
    input.copy(acc, had, 0, take);
    const joined = acc.subarray(0, had + take);
    const end = joined.indexOf(CRLFCRLF, Math.max(0, had - 3));
    if (end < 0) {
      this.headTooLong(joined, 0, Math.max(0, had - 1));
      this.accLength = joined.length;
      return input.length;
    }
    if (hasBadHeadByte(joined, 0, end, true)) throw bad('control character or bare line end in the request head');
    const text = joined.toString('latin1', 0, end);
    this.dropHead();
    this.head(text);
    return end + 4 - had;
  }

  /** Keeps `buf[off..]`, the start of an unfinished head, for the next read. */
  private keep(buf: Buffer, off: number): void {
    const length = buf.length - off;
    let size = 1024;
    while (size < length * 2 && size < MAX_REQUEST_HEAD_BYTES) size *= 2;
    this.hold(size);
    const acc = Buffer.allocUnsafe(size);
    buf.copy(acc, 0, off);
    this.acc = acc;
    this.accLength = length;
  }

  /**
   * A larger buffer for the unfinished head, at most the head limit: doubling, so a head that
   * arrives a byte at a time costs linear copying, not quadratic.
   */
  private grow(needed: number): Buffer {
    const size = Math.min(MAX_REQUEST_HEAD_BYTES, Math.max(this.acc!.length * 2, needed));
    this.hold(size);
    const grown = Buffer.allocUnsafe(size);
    this.acc!.copy(grown, 0, 0, this.accLength);
    this.acc = grown;
    return grown;
  }

  /** Reports the head buffer's new size to the sink; throws HEAD_MEMORY_FULL when it is refused. */
  private hold(bytes: number): void {
    if (this.sink.holdHead !== undefined && !this.sink.holdHead(bytes)) {
      throw new RequestParseError(
        'HEAD_MEMORY_FULL',
        'unfinished request heads hold all the memory the gateway gives them',
      );
    }
  }

  /** Lets go of the unfinished head's buffer. */
  private dropHead(): void {
    if (this.acc === null) return;
    this.acc = null;
    this.accLength = 0;
    this.sink.holdHead?.(0);
  }

  /** An unfinished head (from `off`) that is already too long, or that cannot become valid (new bytes from `from`). */
  private headTooLong(buf: Buffer, off: number, from: number): void {
    if (from > off && buf[from] === 10) from--; // start at the CR of a CRLF, not between them
    const lineEnd = buf.indexOf(10, off);
    const lineLength = (lineEnd < 0 ? buf.length : lineEnd - 1) - off;
    if (lineLength > MAX_REQUEST_LINE_BYTES) throw new RequestParseError('URI_TOO_LONG', 'request line too long');
    // Without its end, a head that already fills the limit cannot end within it.
    if (buf.length - off >= MAX_REQUEST_HEAD_BYTES)
      throw new RequestParseError('HEADERS_TOO_LARGE', 'request head too large');
    // A bare LF would never end the head: fail now rather than at the headers timeout.
    if (from < buf.length && hasBadHeadByte(buf, from, buf.length - (buf[buf.length - 1] === 13 ? 1 : 0), true)) {
      throw bad('control character or bare line feed in the request head');
    }
  }

  /** Parses a head whose bytes were checked (hasBadHeadByte: no bare CR or LF, no control character). */
  private head(text: string): void {
    let eol = text.indexOf('\r\n');
    if (eol < 0) eol = text.length;
    if (eol > MAX_REQUEST_LINE_BYTES) throw new RequestParseError('URI_TOO_LONG', 'request line too long');
    // method SP request-target SP HTTP-version, with exactly these two spaces.
    const sp1 = text.indexOf(' ');
    const sp2 = sp1 < 0 ? -1 : text.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 < 0 || sp2 >= eol || sp2 === sp1 + 1 || text.lastIndexOf(' ', eol - 1) !== sp2)
      throw bad('invalid request line');
    const method = text.slice(0, sp1);
    const url = text.slice(sp1 + 1, sp2);
    if (!knownMethod(method)) throw bad('invalid method');
    if (BAD_TARGET_CHAR.test(url) || !validTarget(method, url)) throw bad('invalid request target');
    // HTTP/d.d
    const v = sp2 + 1;
    const major = text.charCodeAt(v + 5) - 48;
    const minor = text.charCodeAt(v + 7) - 48;
    if (
      eol - v !== 8 ||
      !text.startsWith('HTTP/', v) ||
      text.charCodeAt(v + 6) !== 46 ||
      !(major >= 0 && major <= 9) ||
      !(minor >= 0 && minor <= 9)
    ) {
      throw bad('invalid HTTP version');
    }
    if (major !== 1 || minor > 1)
      throw new RequestParseError('HTTP_VERSION_UNSUPPORTED', `HTTP/${major}.${minor} is not supported`);

    const rawHeaders: string[] = [];
    // A plain object (a prototype-less one would be a slow dictionary); `__proto__` stays in rawHeaders only.
    const headers: Record<string, string> = {};
    let hosts = 0;
    let contentLength = -1;
    let transferEncoding: string | null = null;
    let connection = '';
    let expect: string | null = null;
    const fields = this.fields;
    fields.reset(text, eol);
    while (fields.next()) {
      const { name, value } = fields;
      rawHeaders.push(name, value);
      const lower = name.toLowerCase();
      if (lower === '__proto__') continue;
      const prior = Object.hasOwn(headers, lower) ? headers[lower] : undefined;
      headers[lower] = prior === undefined ? value : `${prior}${lower === 'cookie' ? '; ' : ', '}${value}`;
      switch (lower) {
        case 'host':
          if (!isValidHost(value)) throw bad('a host that is not a host name, address or port');
          hosts++;
          break;
        case 'content-length':
          if (contentLength >= 0) throw bad('repeated content-length');
          if (fields.tabAfter) throw bad('a tab after content-length');
          contentLength = decimal(value, 15);
          if (contentLength < 0) throw bad('invalid content-length');
          break;
        case 'transfer-encoding':
          if (fields.tabAfter) throw bad('a tab after transfer-encoding');
          transferEncoding = transferEncoding === null ? value : `${transferEncoding}, ${value}`;
          break;
        case 'connection':
          connection = connection === '' ? value : `${connection}, ${value}`;
          break;
        case 'expect':
          expect = expect === null ? value : `${expect}, ${value}`;
          break;
      }
    }
    if (hosts > 1 || (hosts === 0 && minor === 1)) throw bad(hosts > 1 ? 'repeated host' : 'missing host');
    let chunked = false;
    if (transferEncoding !== null) {
      if (contentLength >= 0) throw bad('both content-length and transfer-encoding');
      if (minor === 0) throw bad('transfer-encoding on HTTP/1.0');
      if (transferEncoding.toLowerCase() !== 'chunked') {
        throw new RequestParseError('TRANSFER_CODING_UNSUPPORTED', 'chunked is the only transfer coding supported');
      }
      chunked = true;
    }
    const hasBody = chunked || contentLength > 0;
    let expectContinue = false;
    if (expect !== null) {
      if (expect.toLowerCase() !== '100-continue')
        throw new RequestParseError('EXPECTATION_FAILED', 'unsupported expectation');
      expectContinue = hasBody && minor === 1;
    }
    let keepAlive = minor === 1;
    if (connection !== '') {
      // `close` wins over `keep-alive` (RFC 9112 §9.6), also on HTTP/1.0.
      const options = connectionOptions(connection);
      if (options & CONNECTION_CLOSE) keepAlive = false;
      else if (options & CONNECTION_KEEP_ALIVE) keepAlive = true;
    }
    if (chunked) {
      this.chunked.reset();
      this.state = CHUNKED;
    } else if (contentLength > 0) {
      this.remaining = contentLength;
      this.state = LENGTH;
    } else this.state = DONE;
    this.sink.onHead({
      method,
      url,
      minor,
      rawHeaders,
      headers,
      keepAlive,
      contentLength: chunked ? -1 : Math.max(contentLength, 0),
      chunked,
      expectContinue,
    });
  }
}
