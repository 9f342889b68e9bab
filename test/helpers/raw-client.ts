/**
 * A raw HTTP/1.1 client for end-to-end tests of the gateway port: a `node:net` socket on which tests
 * write exact bytes and parse the exact answers themselves (status line, headers, Content-Length /
 * chunked / close-delimited body), so nothing in between normalises what the server sends; plus
 * request builders and the gateway-error assertions. Every wait is bounded.
 */
import { connect, type Socket } from 'node:net';
import { expect } from 'vitest';
import { ERROR_HEADER, GATEWAY_ERRORS, type GatewayErrorCode } from '../../src/gateway/errors.js';

// ---------------------------------------------------------------------------------------------
// Raw HTTP client
// ---------------------------------------------------------------------------------------------

/** One response as it came off the wire. */
export interface WireResponse {
  /** e.g. `HTTP/1.1 200 OK`. */
  statusLine: string;
  status: number;
  /** Lower-cased names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** Flat [name, value, ...] in order and case as sent. */
  rawHeaders: string[];
  /** The body with any chunked coding removed. */
  body: Buffer;
  /** The body as latin1 text. */
  text: string;
  /** How the body was framed. */
  framing: 'none' | 'length' | 'chunked' | 'close';
}

export class IncompleteResponse extends Error {}

/**
 * Parses one response starting at `start`; null when more bytes are needed. `bodiless` is for the
 * answer to a HEAD; `closed` says the peer has closed (so a close-delimited body is complete, and a
 * partial response is an error).
 */
export function parseResponse(
  buf: Buffer,
  start: number,
  bodiless: boolean,
  closed: boolean,
): { response: WireResponse; end: number } | null {
  const more = (): null => {
    if (closed)
      throw new IncompleteResponse(`connection closed in the middle of a response: ${show(buf.subarray(start))}`);
    return null;
  };
  const headEnd = buf.indexOf('\r\n\r\n', start, 'latin1');
  if (headEnd < 0) return more();
  const lines = buf.toString('latin1', start, headEnd).split('\r\n');
  const statusLine = lines[0]!;
  const m = /^HTTP\/\d\.\d (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const status = Number(m[1]);
  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`bad header line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
  }
  let pos = headEnd + 4;
  const done = (body: Buffer, end: number, framing: WireResponse['framing']) => ({
    response: { statusLine, status, headers, rawHeaders, body, text: body.toString('latin1'), framing },
    end,
  });
  if (bodiless || (status >= 100 && status < 200) || status === 204 || status === 304)
    return done(Buffer.alloc(0), pos, 'none');

  const te = headers['transfer-encoding'];
  if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) {
    const chunks: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos, 'latin1');
      if (lineEnd < 0) return more();
      const sizeText = buf.toString('latin1', pos, lineEnd).split(';')[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw new Error(`bad chunk size ${JSON.stringify(sizeText)}`);
      const size = parseInt(sizeText, 16);
      pos = lineEnd + 2;
      if (size === 0) {
        for (;;) {
          const trailerEnd = buf.indexOf('\r\n', pos, 'latin1');
          if (trailerEnd < 0) return more();
          const empty = trailerEnd === pos;
          pos = trailerEnd + 2;
          if (empty) return done(Buffer.concat(chunks), pos, 'chunked');
        }
      }
      if (buf.length < pos + size + 2) return more();
      chunks.push(buf.subarray(pos, pos + size));
      if (buf.toString('latin1', pos + size, pos + size + 2) !== '\r\n')
        throw new Error('chunk data not followed by CRLF');
      pos += size + 2;
    }
  }
  const cl = headers['content-length'];
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) throw new Error(`bad content-length ${JSON.stringify(cl)}`);
    const end = pos + Number(cl);
    if (buf.length < end) return more();
    return done(buf.subarray(pos, end), end, 'length');
  }
  if (!closed) return null;
  return done(buf.subarray(pos), buf.length, 'close');
}

/** A short printable view of some bytes for failure messages. */
export function show(bytes: Buffer): string {
  const s = bytes.toString('latin1');
  return JSON.stringify(s.length > 600 ? `${s.slice(0, 600)}…(${s.length} bytes)` : s);
}

/** Every client not yet destroyed (tests destroy them after each test). */
export const openClients = new Set<RawClient>();

/**
 * A raw TCP connection to the gateway: write exact bytes, read parsed responses, see when the server
 * closes. Responses are parsed lazily in `read()`, which is told whether they answer a HEAD.
 */
export class RawClient {
  private buf = Buffer.alloc(0);
  /** Offset of the first byte not yet parsed into a response. */
  private pos = 0;
  private readonly wakers = new Set<() => void>();
  /** Set once the server closed (FIN, reset or error). */
  closed = false;
  /** `Date.now()` when the connection closed. */
  closedAt = 0;

  private constructor(private readonly socket: Socket) {
    openClients.add(this);
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.wake();
    });
    const onClose = () => {
      if (this.closed) return;
      this.closed = true;
      this.closedAt = Date.now();
      this.wake();
    };
    socket.on('end', onClose);
    socket.on('close', onClose);
    socket.on('error', onClose); // ECONNRESET / EPIPE after the server closed: counts as closed
  }

  /** Connects to 127.0.0.1:port. */
  static connect(port: number, timeoutMs = 3000): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      const client = new RawClient(socket);
      const timer = setTimeout(() => reject(new Error(`connect to ${port} timed out`)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(client);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Writes exact bytes (strings as latin1, so every char is one byte). */
  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /**
   * The next `n` responses (1xx interim answers count as responses). `head` marks them as answers
   * to HEAD requests. Rejects on timeout, on a malformed response and when the connection closes first.
   */
  read(n = 1, opts: { head?: boolean; timeoutMs?: number } = {}): Promise<WireResponse[]> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const out: WireResponse[] = [];
    return new Promise((resolve, reject) => {
      const finish = (err: Error | null) => {
        clearTimeout(timer);
        this.wakers.delete(attempt);
        if (err) reject(err);
        else resolve(out);
      };
      const attempt = () => {
        try {
          while (out.length < n) {
            const parsed = parseResponse(this.buf, this.pos, opts.head === true, this.closed);
            if (parsed === null) {
              if (this.closed) throw new Error(`connection closed after ${out.length} of ${n} responses`);
              return;
            }
            out.push(parsed.response);
            this.pos = parsed.end;
          }
          finish(null);
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
        }
      };
      const timer = setTimeout(
        () =>
          finish(
            new Error(
              `timed out after ${timeoutMs} ms waiting for response ${out.length + 1} of ${n}; unparsed: ${this.leftover()}`,
            ),
          ),
        timeoutMs,
      );
      this.wakers.add(attempt);
      attempt();
    });
  }

  /** True once the server has closed the connection, false if it is still open after `timeoutMs`. */
  waitClosed(timeoutMs = 3000): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!this.closed) return;
        clearTimeout(timer);
        this.wakers.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.wakers.delete(check);
        resolve(false);
      }, timeoutMs);
      this.wakers.add(check);
    });
  }

  /** The bytes received but not (yet) parsed into a response, for assertions and messages. */
  leftover(): string {
    return show(this.buf.subarray(this.pos));
  }

  /** How many bytes arrived after the last parsed response. */
  get unreadBytes(): number {
    return this.buf.length - this.pos;
  }

  /** Everything received so far, as latin1. */
  get received(): string {
    return this.buf.toString('latin1');
  }

  destroy(): void {
    openClients.delete(this);
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }
}

// ---------------------------------------------------------------------------------------------
// Request builders and assertions
// ---------------------------------------------------------------------------------------------

export const HOST = 'Host: isogate.test';

/** A request's bytes: the request line, each header line, the empty line, the body. */
export function msg(requestLine: string, headers: readonly string[] = [], body = ''): string {
  return `${requestLine}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
}

/** A plain HTTP/1.1 GET with a Host header (and any extra headers). */
export function get(path: string, ...headers: string[]): string {
  return msg(`GET ${path} HTTP/1.1`, [HOST, ...headers]);
}

/** An HTTP/1.1 POST with a Content-Length body. */
export function post(path: string, body: string, ...headers: string[]): string {
  return msg(`POST ${path} HTTP/1.1`, [HOST, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`, ...headers], body);
}

/** Chunked coding of some pieces, with the last chunk (and optional trailer lines). */
export function chunked(pieces: readonly string[], trailers: readonly string[] = []): string {
  return (
    pieces.map((p) => `${p.length.toString(16)}\r\n${p}\r\n`).join('') +
    `0\r\n${trailers.map((t) => `${t}\r\n`).join('')}\r\n`
  );
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `promise`, or a rejection naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Writes `bytes` cut at the given offsets (ascending), 20 ms apart, so each piece is its own TCP segment. */
export async function writeInPieces(c: RawClient, bytes: string, cuts: readonly number[]): Promise<void> {
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    c.write(bytes.slice(from, cut));
    from = cut;
    await sleep(20);
  }
}

/** The tokens of the Connection header, lower-cased. */
export function connectionTokens(res: WireResponse): string[] {
  return (res.headers.connection ?? '')
    .toLowerCase()
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A `Date` header in IMF-fixdate form, close to now. */
export function expectDate(res: WireResponse): void {
  const date = res.headers.date;
  expect(date, 'Date header').toMatch(
    /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/,
  );
  expect(Math.abs(Date.parse(date!) - Date.now())).toBeLessThan(10_000);
}

/** The gateway's JSON error answer for `code`: status, x-isogate-error, JSON body (not the Date). */
export function expectErrorBody(res: WireResponse, code: GatewayErrorCode): void {
  expect(res.status, `status of ${code}; body ${res.text}`).toBe(GATEWAY_ERRORS[code].status);
  expect(res.headers[ERROR_HEADER]).toBe(code);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(JSON.parse(res.text)).toEqual({ error: { code, message: GATEWAY_ERRORS[code].message } });
}

/** The gateway's JSON error answer for `code`, with its Date. */
export function expectGatewayError(res: WireResponse, code: GatewayErrorCode): void {
  expectErrorBody(res, code);
  expectDate(res);
}
