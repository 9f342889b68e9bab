import { Readable } from 'node:stream';
import { ClientClosedError, type GatewayRequest } from '../exchange.js';
import type { RequestHead } from './request-parser.js';

/** What a request body's stream asks of its connection. */
export interface BodySource {
  /** The consumer wants more: resume reading the socket, and send `100 Continue` if it is owed. */
  pull(): void;
}

/**
 * A request's body as a stream (only requests with a body have one). The connection pushes the
 * decoded bytes; when the consumer falls behind, `push` returns false and the connection pauses the
 * socket until `_read` asks again.
 */
export class RequestBody extends Readable {
  constructor(private readonly source: BodySource) {
    super({ highWaterMark: 64 * 1024 });
    // A body can fail (the client went away, a bad chunk) with nobody reading it; its readers listen themselves.
    this.on('error', () => {});
  }

  override _read(): void {
    this.source.pull();
  }

  /** The client went away: a body not yet complete fails with ClientClosedError. */
  clientGone(): void {
    if (!this.readableEnded && !this.destroyed)
      this.destroy(new ClientClosedError('the client went away before its request body was complete'));
  }
}

// `Connection: upgrade` among the connection options (RFC 9110 §7.8).
const UPGRADE_OPTION = /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i;
// `h2c` among the protocols asked for: HTTP/2 over a tunnel would carry requests the gateway never
// routes nor checks ("h2c smuggling"), and RFC 9113 §3.1 retired the upgrade anyway.
const H2C = /(?:^|,)[ \t]*h2c[ \t]*(?:,|$)/i;
// Some protocol named at all: an empty `Upgrade` (or only commas) asks to switch to nothing.
const SOME_PROTOCOL = /[^ \t,]/;

/** One HTTP/1.1 request as the gateway's lifecycle sees it: the parsed head, the peer, and the body stream. */
export class ClientRequest implements GatewayRequest {
  readonly method: string;
  /** The request target as sent. */
  readonly url: string;
  /** Lower-cased names; repeated headers joined. */
  readonly headers: Record<string, string>;
  /** Flat `[name, value, …]` as sent. */
  readonly rawHeaders: string[];
  readonly protocol = 'http/1.1';
  /**
   * What an `Upgrade` request asks for; only HTTP/1.1 requests without a body that name a protocol
   * are switched, and never to `h2c` (such a request goes on as a plain one, without its Upgrade header).
   */
  readonly upgrade: string | null = null;

  constructor(
    head: RequestHead,
    /** The client's address (the socket's peer). */
    readonly remoteAddress: string,
    /** The body, or null when the request has none. */
    readonly body: RequestBody | null,
    /** The connection is a TLS one. */
    readonly tls: boolean,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
    const upgrade = head.headers['upgrade'];
    if (
      upgrade !== undefined &&
      head.minor === 1 &&
      body === null &&
      UPGRADE_OPTION.test(head.headers['connection'] ?? '') &&
      SOME_PROTOCOL.test(upgrade) &&
      !H2C.test(upgrade)
    )
      this.upgrade = upgrade;
  }
}
