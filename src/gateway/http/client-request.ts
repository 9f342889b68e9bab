import { Readable } from 'node:stream';
import type { RequestHead } from './request-parser.js';

/** The client's connection closed before its request body was complete: the body fails with this. */
export class ClientClosedError extends Error {
  readonly code = 'CLIENT_CLOSED';
}

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
}

/** One request as the gateway's lifecycle sees it: the parsed head, the peer, and the body stream. */
export class ClientRequest {
  readonly method: string;
  /** The request target as sent. */
  readonly url: string;
  /** Lower-cased names; repeated headers joined. */
  readonly headers: Record<string, string>;
  /** Flat `[name, value, …]` as sent. */
  readonly rawHeaders: string[];

  constructor(
    head: RequestHead,
    /** The client's address (the socket's peer). */
    readonly remoteAddress: string,
    /** The body, or null when the request has none. */
    readonly body: RequestBody | null,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
  }
}
