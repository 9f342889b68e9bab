import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ConnectionOwner, PendingRequest } from './connection-owner.js';
import {
  BodyTimeoutError,
  HeadersTimeoutError,
  OutOfFilesError,
  RequestBodyTooLargeError,
  SocketClosedError,
  socketFailure,
} from './errors.js';
import { connectNodeTcp, connectNodeTls, connectTimeout, READ_BUFFER } from './node-socket.js';
import { PhaseTimer } from './phase-timer.js';
import { LAST_CHUNK, writeBodyChunk, writeWholeRequest } from './request-body.js';
import { CHUNKED_END, requestHead } from './request-head.js';
import { ResponseParser, type ResponseHead, type ResponseSink } from './response-parser.js';
import type { IdleSocket } from './socket-budget.js';

const IDLE = 0;
const AWAITING_HEADERS = 1;
const RECEIVING_BODY = 2;

/**
 * One keep-alive HTTP/1.1 connection to a node, one request at a time: writes the request (head and
 * body in one write when the body is buffered; a client's stream with backpressure, chunked when it
 * has no length), parses the response, enforces the connect, headers and body timeouts, and tells its
 * pool whether it can carry the next request.
 */
export class UpstreamConnection implements ResponseSink, IdleSocket {
  readonly socket: Socket;
  /** Idle connections past this time (performance.now ms) are closed instead of reused. */
  expiresAt = 0;
  forgotten = false;
  idlePrev: IdleSocket | null = null;
  idleNext: IdleSocket | null = null;
  idleListed = false;
  private current: PendingRequest | null;
  private connected = false;
  /** The TCP connection is up (for TLS, before its handshake is done). */
  private tcpUp = false;
  private readonly parser = new ResponseParser(this);
  private phase = IDLE;
  /** Requests this connection completed: past the first, a request goes out on a reused connection. */
  private served = 0;
  /** A byte of the current request's answer arrived. */
  private answered = false;
  private keepAlive = false;
  private keepAliveHintMs = -1;
  private readonly connectTimer = new PhaseTimer((ms) => {
    if (!this.connected) this.fail(connectTimeout(this.owner.target, this.socket, ms));
  });
  private readonly headersTimer = new PhaseTimer((ms) => {
    if (this.phase === AWAITING_HEADERS) this.fail(new HeadersTimeoutError(`no response headers within ${ms} ms`));
  });
  private readonly bodyTimer = new PhaseTimer((ms) => {
    if (this.phase === RECEIVING_BODY && !this.clientPaused)
      this.fail(new BodyTimeoutError(`response body paused for over ${ms} ms`));
  });
  /** The request's body has been written completely. */
  private bodyDone = true;
  private bodySource: Readable | null = null;
  private bodyChunked = false;
  /** Bytes of a streamed request body sent so far, and the most it may have. */
  private bodySent = 0;
  private bodyLimit = Infinity;
  /**
   * The response is paused because the client reads slower than the node sends: the node is not at
   * fault, so its body timeout does not run (the client's send timeout does, on the client side).
   */
  private clientPaused = false;
  /**
   * The latest body chunk, held back until the end of the read that brought it: when the response
   * ends in that read (the usual case) it goes out with `onComplete`, one write instead of two.
   */
  private held: Buffer | null = null;
  /** The bytes being parsed are the shared READ_BUFFER's: a chunk leaving this connection is copied. */
  private shared = false;
  private readonly resume = (): void => {
    if (!this.clientPaused) return;
    this.clientPaused = false;
    this.socket.resume();
    const p = this.current;
    if (p !== null && this.phase === RECEIVING_BODY && p.request.bodyTimeout > 0)
      this.bodyTimer.arm(p.request.bodyTimeout);
  };

  constructor(
    private readonly owner: ConnectionOwner<UpstreamConnection>,
    first: PendingRequest,
  ) {
    this.current = first;
    first.conn = this;
    const tls = owner.target.tls;
    this.socket = tls ? connectNodeTls(owner.target) : connectNodeTcp(owner.target, (n) => this.onSharedRead(n));
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.once('connect', () => (this.tcpUp = true));
    socket.on(tls ? 'secureConnect' : 'connect', () => this.onConnected());
    if (tls) socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    // With `onread` no 'data' is emitted, but the stream must flow for 'end' to be.
    else socket.resume();
    socket.on('end', () => this.onSocketEnd());
    socket.on('error', (err: Error) => this.onSocketError(err));
    socket.on('close', () => this.onSocketClose());
    socket.on('drain', () => this.bodySource?.resume());
    if (owner.connectMs > 0) this.connectTimer.arm(owner.connectMs);
  }

  /** True while the socket can carry a request. */
  get usable(): boolean {
    return this.connected && !this.socket.destroyed && this.current === null;
  }

  /** Sends `p` on this (connected, idle) connection. */
  run(p: PendingRequest): void {
    this.current = p;
    p.conn = this;
    const r = p.request;
    this.parser.expect(r.method === 'HEAD');
    this.answered = false;
    this.keepAlive = false;
    this.keepAliveHintMs = -1;
    const body = r.body;
    const head = requestHead(r);
    if (body === null || Buffer.isBuffer(body)) {
      this.bodyDone = true;
      writeWholeRequest(this.socket, head, body);
    } else {
      this.bodyChunked = head.endsWith(CHUNKED_END);
      this.bodyDone = false;
      this.bodySent = 0;
      this.bodyLimit = r.maxBodyBytes;
      this.socket.write(head, 'latin1');
      this.bodySource = body;
      body.on('data', this.onBodyData);
      body.on('end', this.onBodyEnd);
      body.on('error', this.onBodyError);
    }
    this.phase = AWAITING_HEADERS;
    if (r.headersTimeout > 0) this.headersTimer.arm(r.headersTimeout);
    // A body that failed before it was handed over emits nothing more: fail with its error now.
    if (body !== null && !Buffer.isBuffer(body) && body.destroyed)
      this.fail(body.errored ?? new SocketClosedError('the request body was destroyed'));
  }

  /**
   * Ends the current request with `err` and closes the connection; a replayable request that this
   * reused connection lost before any byte of its answer goes to a new connection instead (as
   * undici, Go and nginx do: a node closing an idle connection just as it is reused is not a failure).
   */
  fail(err: Error): void {
    const p = this.current;
    const replay =
      p !== null && this.phase === AWAITING_HEADERS && !this.answered && this.served > 0 && p.replayableAfter(err);
    this.current = null;
    this.phase = IDLE;
    this.held = null;
    this.parser.stop();
    this.detachBody();
    this.destroy();
    if (p === null) return;
    if (replay) {
      p.replayed = true;
      p.conn = null;
      this.owner.replay(p);
    } else p.fail(err);
  }

  /** Closes the connection (its pool forgets it at once). */
  destroy(): void {
    this.connectTimer.clear();
    this.headersTimer.clear();
    this.bodyTimer.clear();
    if (!this.socket.destroyed) this.socket.destroy();
    this.owner.forget(this);
  }

  onHead(head: ResponseHead): void {
    const p = this.current;
    if (p === null) return;
    if (head.status < 200) {
      p.handler.onHeaders(head.status, head.headers, this.resume);
      return;
    }
    this.phase = RECEIVING_BODY;
    this.keepAlive = head.keepAlive;
    this.keepAliveHintMs = head.keepAliveHintMs;
    this.clientPaused = false;
    if (!p.handler.onHeaders(head.status, head.headers, this.resume) && this.current === p) this.pauseForClient();
  }

  /** Stops reading the node until the handler calls `resume` (its client is full). */
  private pauseForClient(): void {
    this.clientPaused = true;
    this.bodyTimer.clear();
    this.socket.pause();
  }

  onBody(chunk: Buffer): void {
    if (this.held !== null) this.deliverHeld();
    this.held = chunk;
  }

  private deliverHeld(): void {
    const chunk = this.leaving(this.held!);
    this.held = null;
    const p = this.current;
    if (p !== null && !p.handler.onData(chunk) && this.current === p) this.pauseForClient();
  }

  onEnd(extra: boolean): void {
    const p = this.current;
    if (p === null) return;
    this.current = null;
    this.phase = IDLE;
    this.served++;
    p.ended = true;
    const last = this.held === null ? null : this.leaving(this.held);
    this.held = null;
    const reusable = this.keepAlive && !extra && this.bodyDone && this.socket.readable;
    if (!this.bodyDone) this.detachBody();
    // Paused by backpressure on the last chunk: an idle connection must go on reading, or it would
    // never notice the node closing it.
    if (this.clientPaused) {
      this.clientPaused = false;
      if (reusable) this.socket.resume();
    }
    p.handler.onComplete(last);
    this.owner.release(this, reusable, this.keepAliveHintMs);
  }

  private onConnected(): void {
    this.connected = true;
    this.connectTimer.clear();
    // An abort while connecting destroyed the socket, so the request is still there.
    this.run(this.current!);
  }

  /** A body chunk as it leaves for the handler: a copy when it lies in the shared read buffer. */
  private leaving(chunk: Buffer): Buffer {
    return this.shared ? Buffer.from(chunk) : chunk;
  }

  /** `n` bytes were read into READ_BUFFER; true: read on (a handler pauses the socket itself). */
  private onSharedRead(n: number): boolean {
    this.shared = true;
    try {
      this.onSocketData(READ_BUFFER.subarray(0, n));
    } finally {
      this.shared = false;
    }
    return true;
  }

  private onSocketData(chunk: Buffer): void {
    if (this.current === null) {
      this.destroy(); // bytes nobody asked for: this connection cannot be trusted with another request
      return;
    }
    this.answered = true;
    try {
      this.parser.execute(chunk);
      if (this.held !== null) this.deliverHeld();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (this.phase === RECEIVING_BODY && this.current !== null && !this.clientPaused) {
      const ms = this.current.request.bodyTimeout;
      if (ms > 0) this.bodyTimer.arm(ms);
    }
  }

  private onSocketEnd(): void {
    if (this.current !== null && this.connected && !this.parser.finishAtEof())
      this.fail(new SocketClosedError('the node closed the connection before its response was complete'));
    this.destroy();
  }

  private onSocketError(err: NodeJS.ErrnoException): void {
    if (this.current === null) {
      this.destroy();
      return;
    }
    const failure = socketFailure(err, this.tcpUp, this.connected);
    if (failure instanceof OutOfFilesError) this.owner.noFiles(failure);
    this.fail(failure);
  }

  private onSocketClose(): void {
    if (this.current !== null) this.fail(new SocketClosedError('the connection to the node closed'));
    else this.destroy();
  }

  private readonly onBodyData = (chunk: Buffer): void => {
    if (chunk.length === 0) return; // in chunked coding an empty chunk would end the body
    this.bodySent += chunk.length;
    if (this.bodySent > this.bodyLimit) {
      // Counted as it streams: a chunked body has no length to check before it starts.
      this.fail(new RequestBodyTooLargeError(`the request body passed ${this.bodyLimit} bytes`));
      return;
    }
    if (!writeBodyChunk(this.socket, chunk, this.bodyChunked)) this.bodySource?.pause();
    // As undici does: an upload in progress keeps the response-headers timeout from running out.
    if (this.phase === AWAITING_HEADERS) this.headersTimer.refresh();
  };

  private readonly onBodyEnd = (): void => {
    if (this.bodyChunked) this.socket.write(LAST_CHUNK, 'latin1');
    this.bodyDone = true;
    this.detachBody();
  };

  private readonly onBodyError = (err: Error): void => {
    this.fail(err);
  };

  private detachBody(): void {
    const body = this.bodySource;
    if (body === null) return;
    this.bodySource = null;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    body.off('error', this.onBodyError);
    // A body the node no longer reads is left to its server, which discards the rest.
    if (!this.bodyDone) body.resume();
  }
}
