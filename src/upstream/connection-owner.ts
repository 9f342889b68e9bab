import type { LookupFunction } from 'node:net';
import { SocketClosedError, type OutOfFilesError } from './errors.js';
import type { UpstreamHandler, UpstreamRequest } from './types.js';

// What a pool and its connections share: where they connect, what a connection asks of its pool,
// and the request the pool hands to a connection.

/** Where a pool connects. */
export interface UpstreamTarget {
  host: string;
  port: number;
  tls: boolean;
  /** How `host` is resolved when it is a name (the process's NodeResolver); null for an IP literal, or the system's lookup. */
  lookup: LookupFunction | null;
}

/** What a connection (`C`) needs from its pool. */
export interface ConnectionOwner<C> {
  readonly target: UpstreamTarget;
  readonly connectMs: number;
  /** The response is complete; `keepAliveHintMs` is the node's `Keep-Alive: timeout` (ms) or -1. */
  release(conn: C, reusable: boolean, keepAliveHintMs: number): void;
  /** The connection is gone (closed, failed or destroyed); called once. */
  forget(conn: C): void;
  /** Sends `p` again on a new connection: the reused one it went out on closed before any byte of its answer. */
  replay(p: PendingRequest): void;
  /** A connect failed for want of files (EMFILE, ENFILE). */
  noFiles(err: OutOfFilesError): void;
}

/** The connection a request runs on, as far as its abort goes. */
export interface RequestConnection {
  /** Ends the current request with `err` and closes the connection. */
  fail(err: Error): void;
}

/** One request from `dispatch` to its end. */
export class PendingRequest {
  conn: RequestConnection | null = null;
  ended = false;
  /** When it started waiting for a connection (performance.now() ms), while it waits. */
  queuedAt = 0;
  /** It was sent again after a reused connection closed under it (once at most). */
  replayed = false;
  /** Handed to `onConnect`: ends the request with `err`, wherever it is (queued, connecting, running). */
  readonly abort = (err: Error): void => this.onAbort(this, err);

  constructor(
    readonly request: UpstreamRequest,
    readonly handler: UpstreamHandler,
    private readonly onAbort: (p: PendingRequest, err: Error) => void,
  ) {}

  /**
   * It may go again on a new connection after `err` (the connection closed) ended the reused one it
   * went out on before any byte of its answer: its request is replayable, and it was not replayed yet.
   */
  replayableAfter(err: Error): boolean {
    return err instanceof SocketClosedError && this.request.replayable === true && !this.replayed;
  }

  /** Ends the request with an error, once. */
  fail(err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.handler.onError(err);
  }
}
