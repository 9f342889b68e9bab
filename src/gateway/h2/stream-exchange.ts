import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { Readable } from 'node:stream';
import { headerNameSet } from '../../http/header-names.js';
import { ClientClosedError, type GatewayRequest, type GatewayResponse, type UpgradedClient } from '../exchange.js';

// Connection-specific fields may not appear in HTTP/2 (RFC 9113 §8.2.2); node refuses to send them.
const CONNECTION_SPECIFIC = headerNameSet([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'host',
]);

/**
 * A stream's request body: DATA frames as a Readable. When its reader falls behind, the stream is
 * paused, so node stops granting the client flow-control window (RFC 9113 §5.2) until it reads on.
 */
class StreamBody extends Readable {
  constructor(private readonly stream: ServerHttp2Stream) {
    super({ highWaterMark: 64 * 1024 });
    this.on('error', () => {}); // its readers listen themselves
    stream.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stream.pause();
    });
    stream.on('end', () => this.push(null));
    stream.on('aborted', () =>
      this.destroy(new ClientClosedError('the client reset the stream before its request body was complete')),
    );
  }

  override _read(): void {
    this.stream.resume();
  }
}

/** One HTTP/2 stream's request (RFC 9113 §8.3): pseudo-headers made into method, target and host. */
export class StreamRequest implements GatewayRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string> = {};
  readonly rawHeaders: string[] = [];
  readonly remoteAddress: string;
  readonly body: StreamBody | null;
  readonly tls = true;
  readonly protocol = 'h2';
  readonly upgrade = null;

  constructor(stream: ServerHttp2Stream, pseudo: IncomingHttpHeaders, raw: readonly string[], remoteAddress: string) {
    this.method = String(pseudo[':method'] ?? '');
    this.url = String(pseudo[':path'] ?? '');
    this.remoteAddress = remoteAddress;
    const headers = this.headers;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name.charCodeAt(0) === 58 /* : */) continue;
      const value = raw[i + 1]!;
      this.rawHeaders.push(name, value);
      const seen = headers[name];
      // Cookies may come split into several fields (RFC 9113 §8.2.3).
      headers[name] = seen === undefined ? value : `${seen}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
    const authority = pseudo[':authority'];
    if (headers['host'] === undefined && typeof authority === 'string') {
      headers['host'] = authority;
      this.rawHeaders.push('host', authority);
    }
    this.body = stream.endAfterHeaders ? null : new StreamBody(stream);
  }
}

/**
 * One HTTP/2 stream's response: the head is held until the first write or the end, so an answer
 * ended at once leaves as one HEADERS (and DATA) with END_STREAM. Connection-specific headers are
 * dropped, names lower-cased, repeated ones sent as repeated fields. Backpressure is the stream's own
 * (its flow-control window and buffer).
 */
export class StreamResponse implements GatewayResponse {
  statusCode = 0;
  headersSent = false;
  destroyed = false;
  finished = false;
  /** Without meaning here: a draining gateway sends GOAWAY to the session. */
  keepAlive = true;
  private head: OutgoingHttpHeaders = {};
  private noBody: boolean;
  private onCloseOnce: (() => void) | null = null;

  constructor(
    private readonly stream: ServerHttp2Stream,
    isHead: boolean,
  ) {
    this.noBody = isHead;
    stream.on('close', () => {
      if (this.finished) return;
      this.destroyed = true;
      const fn = this.onCloseOnce;
      this.onCloseOnce = null;
      fn?.();
    });
  }

  writeHead(status: number, headers: readonly string[] | Record<string, string | number>): void {
    this.statusCode = status;
    if (status === 204 || status === 304) this.noBody = true;
    const head: OutgoingHttpHeaders = { ':status': status };
    const add = (rawName: string, value: string | number) => {
      const name = rawName.toLowerCase();
      if (CONNECTION_SPECIFIC(name)) return;
      const seen = head[name];
      if (seen === undefined) head[name] = value;
      else head[name] = Array.isArray(seen) ? [...seen, String(value)] : [String(seen), String(value)];
    };
    if (Array.isArray(headers)) for (let i = 0; i < headers.length; i += 2) add(headers[i]!, headers[i + 1]!);
    else for (const name of Object.keys(headers)) add(name, (headers as Record<string, string | number>)[name]!);
    this.head = head;
  }

  /** Sends the head; false when the stream is gone (its session failed or the client reset it). */
  private respond(endStream: boolean): boolean {
    const stream = this.stream;
    if (stream.destroyed || stream.closed) {
      this.destroyed = true;
      return false;
    }
    this.headersSent = true;
    stream.respond(this.head, { endStream });
    return true;
  }

  write(chunk: Buffer): boolean {
    if (this.destroyed || this.finished || this.stream.destroyed) return true;
    if (!this.headersSent && !this.respond(false)) return true;
    if (this.noBody || chunk.length === 0) return true;
    return this.stream.write(chunk);
  }

  end(last?: Buffer): void {
    if (this.destroyed || this.finished) return;
    this.finished = true;
    this.onCloseOnce = null;
    if (this.stream.destroyed) return;
    const body = this.noBody || last === undefined || last.length === 0 ? null : last;
    if (!this.headersSent) {
      if (body === null) {
        this.respond(true);
        return;
      }
      if (this.head['content-length'] === undefined) this.head['content-length'] = body.length;
      if (!this.respond(false)) return;
    }
    if (body === null) this.stream.end();
    else this.stream.end(body);
  }

  destroy(_err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  onDrain(fn: () => void): void {
    this.stream.once('drain', fn);
  }

  onClose(fn: () => void): void {
    this.onCloseOnce = fn;
  }

  /** HTTP/2 has no Upgrade (RFC 9113 §8.6). */
  switchProtocols(): UpgradedClient | null {
    return null;
  }
}
