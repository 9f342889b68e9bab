/**
 * A raw HTTP/2 client for conformance tests of the gateway's TLS port (ALPN h2): tests build exact
 * frames (RFC 9113 §4, §6) with the functions below, send them with `send`, and read every frame the
 * server sends back, with response header blocks decoded (RFC 7541). Nothing in between corrects or
 * reorders what either side sends. Every wait is bounded (5 s unless told).
 */
import { connect, type TLSSocket } from 'node:tls';
import { HpackDecoder } from '../../src/gateway/h2/hpack/decoder.js';

/** Frame types (RFC 9113 §6). */
export const T = {
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

/** Frame flags (RFC 9113 §6). */
export const F = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** SETTINGS parameters (RFC 9113 §6.5.2). */
export const S = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 §7). */
export const E = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

/** The client connection preface's fixed bytes (RFC 9113 §3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One header field as sent: name, value. */
export type Field = readonly [string, string];

/** One frame as received. `fields` is set on a HEADERS frame once its whole block (with CONTINUATIONs) is decoded. */
export interface RawFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
  fields?: Record<string, string>;
}

/** A stream's answer: `:status`, the other fields (repeated ones joined with `, `), the body. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const DEFAULT_WAIT_MS = 5_000;

// ---- frame builders ----

/** One whole frame: 9-byte head (length, type, flags, stream id), then `payload`. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an N-bit prefix after the pattern bits `first` (RFC 7541 §5.1). */
function hpackInteger(value: number, prefix: number, first: number): Buffer {
  const max = (1 << prefix) - 1;
  if (value < max) return Buffer.from([first | value]);
  const bytes = [first | max];
  let rest = value - max;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A plain (not Huffman-coded) string literal (RFC 7541 §5.2). */
function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([hpackInteger(bytes.length, 7, 0), bytes]);
}

/**
 * One field as a literal with a new name (RFC 7541 §6.2): without indexing (0x00) unless `indexing`,
 * then with incremental indexing (0x40), which adds it to the decoder's dynamic table.
 */
export function literal(name: string, value: string, indexing = false): Buffer {
  return Buffer.concat([Buffer.from([indexing ? 0x40 : 0x00]), hpackString(name), hpackString(value)]);
}

/** A header block: every field a literal without indexing, plain strings (RFC 7541 §6.2.2). */
export function encodeFields(fields: readonly Field[]): Buffer {
  return Buffer.concat(fields.map(([name, value]) => literal(name, value)));
}

/** Options of a HEADERS frame. `padded` is the number of padding bytes; `priority` adds the §6.2 priority fields. */
export interface HeadersOptions {
  endStream?: boolean;
  endHeaders?: boolean;
  padded?: number;
  priority?: { dependsOn: number; weight: number };
}

/**
 * A HEADERS frame (RFC 9113 §6.2) on `stream`: `fields` encoded by `encodeFields`, or a ready block
 * fragment. END_HEADERS is set unless `endHeaders` is false.
 */
export function headers(stream: number, fields: readonly Field[] | Buffer, options: HeadersOptions = {}): Buffer {
  const { endStream = false, endHeaders = true, padded, priority } = options;
  let payload = Buffer.isBuffer(fields) ? fields : encodeFields(fields);
  let flags = (endStream ? F.END_STREAM : 0) | (endHeaders ? F.END_HEADERS : 0);
  if (priority !== undefined) {
    const fieldsOfPriority = Buffer.alloc(5);
    fieldsOfPriority.writeUInt32BE(priority.dependsOn, 0);
    fieldsOfPriority[4] = priority.weight - 1;
    payload = Buffer.concat([fieldsOfPriority, payload]);
    flags |= F.PRIORITY;
  }
  if (padded !== undefined) {
    payload = pad(payload, padded);
    flags |= F.PADDED;
  }
  return frame(T.HEADERS, flags, stream, payload);
}

/** A CONTINUATION frame (RFC 9113 §6.10) carrying `fragment`; END_HEADERS when `endHeaders`. */
export function continuation(stream: number, fragment: Buffer, { endHeaders = false } = {}): Buffer {
  return frame(T.CONTINUATION, endHeaders ? F.END_HEADERS : 0, stream, fragment);
}

/** A DATA frame (RFC 9113 §6.1); `padded` is the number of padding bytes. */
export function data(
  stream: number,
  body: Buffer | string,
  { endStream = false, padded }: { endStream?: boolean; padded?: number } = {},
): Buffer {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  if (padded === undefined) return frame(T.DATA, endStream ? F.END_STREAM : 0, stream, bytes);
  return frame(T.DATA, (endStream ? F.END_STREAM : 0) | F.PADDED, stream, pad(bytes, padded));
}

/** A SETTINGS frame (RFC 9113 §6.5) carrying `[id, value]` pairs; with `ack`, the empty acknowledgement. */
export function settings(pairs: readonly (readonly [number, number])[], { ack = false } = {}): Buffer {
  const payload = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(T.SETTINGS, ack ? F.ACK : 0, 0, payload);
}

/** A PING frame (RFC 9113 §6.7) with `payload` (8 bytes unless a test wants otherwise). */
export function ping(payload: Buffer, { ack = false } = {}): Buffer {
  return frame(T.PING, ack ? F.ACK : 0, 0, payload);
}

/** A WINDOW_UPDATE frame (RFC 9113 §6.9) granting `increment` on `stream` (0: the connection). */
export function windowUpdate(stream: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment, 0);
  return frame(T.WINDOW_UPDATE, 0, stream, payload);
}

/** An RST_STREAM frame (RFC 9113 §6.4). */
export function rst(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code, 0);
  return frame(T.RST_STREAM, 0, stream, payload);
}

/** A GOAWAY frame (RFC 9113 §6.8): the last stream the sender processed, and why. */
export function goaway(lastStream: number, code: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(lastStream, 0);
  payload.writeUInt32BE(code, 4);
  return frame(T.GOAWAY, 0, 0, payload);
}

/** `payload` with its pad length byte before and `padding` zero bytes after (RFC 9113 §6.1). */
function pad(payload: Buffer, padding: number): Buffer {
  return Buffer.concat([Buffer.from([padding]), payload, Buffer.alloc(padding)]);
}

// ---- the connection ----

/** Options of `rawH2`: `preface` false sends nothing at all; `settings` false sends the preface bytes without the client's SETTINGS. */
export interface RawH2Options {
  preface?: boolean;
  settings?: boolean;
}

interface Waiter {
  match(f: RawFrame): boolean;
  resolve(f: RawFrame): void;
  reject(err: Error): void;
}

/** One raw HTTP/2 connection: what it sent is up to the test, what it received is in `frames`. */
export interface RawH2 {
  /** Every frame received so far, in order. */
  readonly frames: readonly RawFrame[];
  /** The connection is closed (by the server, unless `destroy` was called). */
  readonly isClosed: boolean;
  /** Resolves once the server has closed the connection; rejects after 5 s. */
  readonly closed: Promise<void>;
  /** Writes the frames (or any bytes) as one write. */
  send(...frames: Buffer[]): void;
  /** Resolves with the first frame received (so far or later) that `match` accepts; rejects on timeout or when the connection closes first. */
  waitFor(match: (f: RawFrame) => boolean, timeoutMs?: number): Promise<RawFrame>;
  /** Resolves with the error code of the server's GOAWAY. */
  goaway(timeoutMs?: number): Promise<number>;
  /** Resolves with the error code of the server's RST_STREAM on `stream`. */
  reset(stream: number, timeoutMs?: number): Promise<number>;
  /** Resolves with the answer on `stream` once its END_STREAM arrived; rejects if the stream is reset instead. */
  response(stream: number, timeoutMs?: number): Promise<RawResponse>;
  /** Closes the connection from this side. */
  destroy(): void;
}

/** Rejects with `what` after `ms` unless `promise` settles first. */
function bounded<V>(promise: Promise<V>, ms: number, what: () => string): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what()} (no answer within ${ms} ms)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A short account of frames, for failure messages. */
function describeFrames(frames: readonly RawFrame[]): string {
  const names = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k]));
  return frames
    .map((f) => {
      const name = names[f.type] ?? `0x${f.type.toString(16)}`;
      const code =
        f.type === T.GOAWAY
          ? ` code=${f.payload.readUInt32BE(4)}`
          : f.type === T.RST_STREAM
            ? ` code=${f.payload.readUInt32BE(0)}`
            : '';
      const status = f.fields?.[':status'] === undefined ? '' : ` :status=${f.fields[':status']}`;
      return `${name}(stream=${f.stream} flags=0x${f.flags.toString(16)}${code}${status})`;
    })
    .join(' ');
}

/**
 * Opens a TLS connection to 127.0.0.1:`port` (SNI `servername`, trusting `ca`) with ALPN h2 and
 * sends the client preface and an empty SETTINGS (RFC 9113 §3.4) unless told not to; the server's
 * SETTINGS are acknowledged when this side sent its own. Resolves once TLS chose h2.
 */
export async function rawH2(port: number, servername: string, ca: string, options: RawH2Options = {}): Promise<RawH2> {
  const { preface = true, settings: sendSettings = true } = options;
  const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['h2'] });
  await bounded(
    new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    }),
    DEFAULT_WAIT_MS,
    () => 'TLS handshake',
  ).catch((err: unknown) => {
    socket.destroy();
    throw err;
  });
  if (socket.alpnProtocol !== 'h2') {
    socket.destroy();
    throw new Error(`ALPN chose ${String(socket.alpnProtocol)}, not h2`);
  }

  const frames: RawFrame[] = [];
  const waiters = new Set<Waiter>();
  const decoder = new HpackDecoder(4096, 1 << 20, 10_000);
  let block: { head: RawFrame; parts: Buffer[] } | null = null;
  let buf = Buffer.alloc(0);
  let isClosed = false;
  let markClosed!: () => void;
  const closedOnce = new Promise<void>((resolve) => (markClosed = resolve));

  const notify = (f: RawFrame): void => {
    for (const w of [...waiters]) {
      if (!w.match(f)) continue;
      waiters.delete(w);
      w.resolve(f);
    }
  };
  // A response header block may span HEADERS and CONTINUATION frames: decoded once whole, onto the HEADERS frame.
  const onHeaderFragment = (f: RawFrame): void => {
    if (f.type === T.HEADERS) block = { head: f, parts: [] };
    if (block === null) return;
    block.parts.push(f.payload);
    if ((f.flags & F.END_HEADERS) === 0) return;
    const { head, parts } = block;
    block = null;
    const fields: Record<string, string> = {};
    try {
      const flat = decoder.decode(Buffer.concat(parts)).fields;
      for (let i = 0; i < flat.length; i += 2) {
        const name = flat[i]!;
        fields[name] = fields[name] === undefined ? flat[i + 1]! : `${fields[name]}, ${flat[i + 1]!}`;
      }
    } catch (err) {
      fields[':hpack-error'] = (err as Error).message;
    }
    head.fields = fields;
    notify(head);
  };

  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 9) {
      const length = buf.readUIntBE(0, 3);
      if (buf.length < 9 + length) break;
      const f: RawFrame = {
        type: buf[3]!,
        flags: buf[4]!,
        stream: buf.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(buf.subarray(9, 9 + length)),
      };
      buf = buf.subarray(9 + length);
      frames.push(f);
      if (f.type === T.SETTINGS && (f.flags & F.ACK) === 0 && sendSettings) socket.write(settings([], { ack: true }));
      if (f.type === T.HEADERS || f.type === T.CONTINUATION) onHeaderFragment(f);
      else notify(f);
    }
  });
  socket.on('error', () => undefined); // 'close' follows
  socket.on('close', () => {
    isClosed = true;
    markClosed();
    for (const w of waiters) w.reject(new Error(`the connection closed; frames received: ${describeFrames(frames)}`));
    waiters.clear();
  });

  if (preface) socket.write(sendSettings ? Buffer.concat([PREFACE, settings([])]) : PREFACE);

  const waitFor = (match: (f: RawFrame) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<RawFrame> => {
    const seen = frames.find((f) => (f.type !== T.HEADERS || f.fields !== undefined) && match(f));
    if (seen !== undefined) return Promise.resolve(seen);
    if (isClosed)
      return Promise.reject(new Error(`the connection is closed; frames received: ${describeFrames(frames)}`));
    let waiter!: Waiter;
    const found = new Promise<RawFrame>((resolve, reject) => {
      waiter = { match, resolve, reject };
      waiters.add(waiter);
    });
    return bounded(found, timeoutMs, () => `no matching frame; frames received: ${describeFrames(frames)}`).finally(
      () => waiters.delete(waiter),
    );
  };

  const response = async (stream: number, timeoutMs = DEFAULT_WAIT_MS): Promise<RawResponse> => {
    const end = await waitFor(
      (f) =>
        f.stream === stream &&
        (f.type === T.RST_STREAM || ((f.type === T.HEADERS || f.type === T.DATA) && (f.flags & F.END_STREAM) !== 0)),
      timeoutMs,
    );
    if (end.type === T.RST_STREAM)
      throw new Error(`stream ${stream} was reset with code ${end.payload.readUInt32BE(0)}`);
    const own = frames.filter((f) => f.stream === stream);
    const head = own.find((f) => f.type === T.HEADERS)!;
    const { ':status': status, ...rest } = head.fields!;
    const body = Buffer.concat(own.filter((f) => f.type === T.DATA).map((f) => f.payload));
    return { status: Number(status), headers: rest, body };
  };

  return {
    frames,
    get isClosed() {
      return isClosed;
    },
    get closed() {
      return bounded(
        closedOnce,
        DEFAULT_WAIT_MS,
        () => `the server did not close the connection; frames received: ${describeFrames(frames)}`,
      );
    },
    send: (...out: Buffer[]) => void socket.write(Buffer.concat(out)),
    waitFor,
    goaway: async (timeoutMs) => (await waitFor((f) => f.type === T.GOAWAY, timeoutMs)).payload.readUInt32BE(4),
    reset: async (stream, timeoutMs) =>
      (await waitFor((f) => f.type === T.RST_STREAM && f.stream === stream, timeoutMs)).payload.readUInt32BE(0),
    response,
    destroy: () => socket.destroy(),
  };
}
