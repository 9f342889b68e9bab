import type { Readable } from 'node:stream';

/** One request to a node, as the proxy stage hands it to the node's pool. */
export interface UpstreamRequest {
  method: string;
  /** Origin-form target: path and query. */
  path: string;
  /** Flat `[name, value, …]`, hop-by-hop headers already removed, `host` included. */
  headers: string[];
  /**
   * A buffered body, the client's request stream (sent as it arrives: with its Content-Length when
   * the headers carry one, else chunked), or null.
   */
  body: Buffer | Readable | null;
  /** Longest wait for the response headers after the request went out, ms. */
  headersTimeout: number;
  /** Longest pause between two chunks of the response body, ms. */
  bodyTimeout: number;
  /** Most bytes a streamed body may have (counted as it goes out; Infinity for no limit). */
  maxBodyBytes: number;
  /**
   * May be sent once more, on a new connection, when the reused keep-alive connection it went out on
   * closed before any byte of its answer (the node closing an idle connection as it was reused): its
   * method is one the API retries, and its body is buffered or absent. Absent: false.
   */
  replayable?: boolean;
}

/**
 * How the pool reports one request (the shape of undici's dispatch handler, which the proxy stage
 * used before): `onConnect` first, then either `onHeaders` → `onData`* → `onComplete`, or `onError`
 * (also after `onHeaders` when the response breaks). 1xx responses reach `onHeaders` too.
 */
export interface UpstreamHandler {
  /** `abort` ends the request at once (its `onError` gets the error); a no-op once it has ended. */
  onConnect(abort: (err: Error) => void): void;
  /** False pauses the response until `resume` is called. */
  onHeaders(status: number, headers: string[], resume: () => void): boolean;
  /** False pauses the response until `resume` is called. */
  onData(chunk: Buffer): boolean;
  /** The response is complete; `last` is its final body chunk when it was held back for this call. */
  onComplete(last: Buffer | null): void;
  onError(err: Error): void;
}
