import type { Socket } from 'node:net';
import type { AdmissionTicket, Evictable } from '../admission.js';
import { gatewayErrorAnswer, type HeadTimeout } from './error-answer.js';
import { ClientRequest, RequestBody, type BodySource } from './client-request.js';
import { ClientResponse, type ResponseOwner } from './client-response.js';
import type { ConnectionOwner } from './connection-owner.js';
import { SendWatch } from './send-watch.js';
import {
  MAX_REQUEST_HEAD_BYTES,
  RequestParseError,
  RequestParser,
  type RequestHead,
  type RequestSink,
} from './request-parser.js';

/** How long, after its last answer, a connection whose request body was not read keeps discarding it before it is cut. */
const LINGER_MS = 2_000;

const WAITING = 0; // for (the first byte of) a request head
const READING = 1; // a head is arriving
const ACTIVE = 2; // a request is being answered
const CLOSING = 3; // the last answer is out; the socket is ending
const SWITCHED = 4; // a 101 went out: the socket belongs to a tunnel (it still counts as this server's connection)

/**
 * One client connection on the gateway port: parses its requests one at a time (pipelined ones wait,
 * buffered, until the answer before them is complete), hands each to the lifecycle with its
 * response, sends `100 Continue` when the body is first read, answers a malformed request with its
 * gateway error and closes, and enforces the head and keep-alive timeouts (the server's sweep calls
 * `expire`).
 */
export class ClientConnection implements RequestSink, ResponseOwner, BodySource, Evictable {
  private readonly parser = new RequestParser(this);
  private state = WAITING;
  /** When the current wait (head or keep-alive) runs out (performance.now() ms); Infinity while answering. */
  deadline: number;
  /** The slow-reader policy: the send deadline the server's sweep checks, and the answer's buffer. */
  readonly send: SendWatch;
  private req: ClientRequest | null = null;
  private res: ClientResponse | null = null;
  private body: RequestBody | null = null;
  private continueOwed = false;
  /** A head was parsed and its lifecycle is still to start (right after the parser returns). */
  private unstarted = false;
  /** The last answer is not yet flushed to the client: the next request waits for 'drain'. */
  private stalled = false;
  /** Bytes of the next request(s), read while an answer was still in progress. */
  private pending: Buffer[] | null = null;
  private pendingBytes = 0;
  /** Body bytes of the current read, decoded (slices of the read), handed on together at its end. */
  private readonly parts: Buffer[] = [];
  private partBytes = 0;
  private paused = false;
  private readonly remoteAddress: string;
  /** The socket is a TLS one (the TLS port's, after its handshake). */
  private readonly tls: boolean;
  private readonly onSocketData = (chunk: Buffer): void => this.onData(chunk);

  constructor(
    readonly socket: Socket,
    private readonly owner: ConnectionOwner<ClientConnection>,
    /** Its entry in the admission limits. */
    private readonly ticket: AdmissionTicket,
  ) {
    ticket.conn = this;
    this.send = new SendWatch(socket, owner);
    this.remoteAddress = socket.remoteAddress ?? '';
    this.tls = (socket as Socket & { encrypted?: boolean }).encrypted === true;
    const now = performance.now();
    this.deadline = now + owner.headerTimeoutMs;
    socket.on('data', this.onSocketData);
    socket.on('drain', () => this.onDrain());
    socket.on('error', () => {}); // a reset client: 'close' follows
    socket.on('close', () => this.onClose());
    owner.admission.markIdle(ticket, now);
  }

  get keepAliveSeconds(): number {
    return this.owner.keepAliveSeconds;
  }

  /** Idle between requests: nothing of a next request read and no answer in progress. */
  get idle(): boolean {
    return this.state === WAITING && this.pending === null && !this.stalled;
  }

  /** Keeps bytes of the next request(s) for later (joined once, when they are parsed). */
  private hold(chunk: Buffer): void {
    if (this.pending === null) this.pending = [chunk];
    else this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  private onData(chunk: Buffer): void {
    if (this.state === CLOSING) return; // discarding what follows the last answer
    if (this.pending !== null || this.stalled || (this.state === ACTIVE && this.parser.complete)) {
      // The next request arrived before this answer is complete: keep it for later, bounded.
      this.hold(chunk);
      if (this.pendingBytes > MAX_REQUEST_HEAD_BYTES) this.pause();
      this.owner.admission.markBusy(this.ticket);
      return;
    }
    this.feed(chunk);
    this.owner.admission.settle(this.ticket, this.idle);
  }

  /** Parses `chunk`, starting as many (pipelined) requests as can start now; the body bytes it held go out as one piece. */
  private feed(chunk: Buffer): void {
    this.parse(chunk);
    if (this.parts.length > 0) this.flushBody();
  }

  private parse(chunk: Buffer): void {
    let rest = chunk;
    let waitDeadline = this.deadline;
    try {
      while (rest.length > 0) {
        if (this.state === WAITING) {
          waitDeadline = this.deadline;
          this.state = READING;
          this.deadline = performance.now() + this.owner.headerTimeoutMs;
        }
        const used = this.parser.execute(rest);
        rest = used === rest.length ? EMPTY : rest.subarray(used);
        // The lifecycle starts once the parser has returned: an answer it makes at once (a 404)
        // may then move this connection on to the next request without re-entering the parser.
        if (this.unstarted) {
          this.unstarted = false;
          this.owner.handler(this.req!, this.res!);
        }
        if (this.state === READING && this.parser.idle) {
          // Only empty lines so far: they do not count as a request, nor extend the wait.
          this.state = WAITING;
          this.deadline = waitDeadline;
        }
        if (this.state === CLOSING) return;
        if (this.stalled) {
          // An answer made at once did not flush: the rest waits for the client to read.
          if (rest.length > 0) this.hold(rest);
          return;
        }
        if (!this.parser.complete) continue; // more of this request, or the next one after an answer made at once
        // Complete while its answer is still being made: what follows waits for the answer.
        if (rest.length > 0) this.hold(rest);
        return;
      }
    } catch (err) {
      if (!(err instanceof RequestParseError)) throw err;
      this.reject(err);
    }
  }

  onHead(head: RequestHead): void {
    this.state = ACTIVE;
    this.deadline = Infinity;
    const hasBody = head.chunked || head.contentLength > 0;
    const body = hasBody ? new RequestBody(this) : null;
    this.body = body;
    this.continueOwed = head.expectContinue;
    this.req = new ClientRequest(head, this.remoteAddress, body, this.tls);
    this.res = new ClientResponse(this, head.minor, head.method === 'HEAD', head.keepAlive && !this.owner.closing);
    this.unstarted = true;
  }

  onBody(chunk: Buffer): void {
    const body = this.body;
    if (body === null || body.destroyed) return; // answered already: the rest of the body is dropped
    // Held until the end of the read: a body sent in tiny chunks reaches the node in one piece per
    // read, not in one write per chunk.
    this.parts.push(chunk);
    this.partBytes += chunk.length;
  }

  /** Hands the body bytes of this read to the body stream, joined. */
  private flushBody(): void {
    const parts = this.parts;
    const body = this.body;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.partBytes);
    parts.length = 0;
    this.partBytes = 0;
    if (body !== null && !body.destroyed && !body.push(data)) this.pause();
  }

  onEnd(): void {
    const body = this.body;
    if (this.parts.length > 0) this.flushBody();
    if (body !== null && !body.destroyed) body.push(null);
  }

  holdHead(bytes: number): boolean {
    return this.owner.admission.holdHead(this.ticket, bytes);
  }

  /** The body's consumer wants more. */
  pull(): void {
    if (this.continueOwed) {
      this.continueOwed = false;
      this.res?.writeContinue();
    }
    if (this.paused && this.pendingBytes <= MAX_REQUEST_HEAD_BYTES) this.resume();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  canKeepAlive(): boolean {
    // A body not yet read to its end would leave bytes on the connection that are not a request.
    return this.parser.complete && !this.owner.closing;
  }

  responseDone(keepAlive: boolean): void {
    const body = this.body;
    this.req = null;
    this.res = null;
    this.body = null;
    if (!keepAlive || !this.parser.complete) return this.finish(body);
    this.parser.next();
    this.state = WAITING;
    this.deadline = performance.now() + this.owner.keepAliveTimeoutMs;
    if (this.socket.writableNeedDrain) {
      // A client that sends requests faster than it reads the answers: the next request waits
      // (buffered, bounded) until its socket has drained, so unread answers cannot pile up here.
      this.stalled = true;
      if (this.pending !== null) this.pause();
      return;
    }
    this.next();
    this.owner.admission.settle(this.ticket, this.idle);
  }

  switched(): Buffer {
    this.state = SWITCHED;
    this.deadline = Infinity;
    // The tunnel owns the socket's backpressure from now on; the connection stays counted, as busy
    // (never closed to make room), until the socket closes.
    this.send.drained();
    this.owner.admission.markBusy(this.ticket);
    this.req = null;
    this.res = null;
    this.body = null;
    this.socket.off('data', this.onSocketData);
    const pending = this.pending;
    this.pending = null;
    this.pendingBytes = 0;
    this.resume();
    return pending === null ? EMPTY : Buffer.concat(pending);
  }

  /** Starts on the request(s) read while the last answer was being made, or reads on. */
  private next(): void {
    const pending = this.pending;
    if (pending !== null) {
      this.pending = null;
      this.pendingBytes = 0;
      this.resume();
      this.feed(pending.length === 1 ? pending[0]! : Buffer.concat(pending));
    } else this.resume();
  }

  private onDrain(): void {
    this.send.drained();
    if (this.stalled) {
      this.stalled = false;
      if (this.state === WAITING) this.next();
      this.owner.admission.settle(this.ticket, this.idle);
      return;
    }
    this.res?.drained();
  }

  /** The last answer is out: end the socket, discarding whatever the client still sends for a while. */
  private finish(body: RequestBody | null): void {
    this.state = CLOSING;
    this.pending = null;
    this.pendingBytes = 0;
    this.deadline = performance.now() + LINGER_MS;
    if (body !== null && !body.readableEnded) body.destroy();
    this.resume();
    this.socket.end();
  }

  /** Answers a request the parser refused (or whose head timed out) with its gateway error, and closes. */
  private reject(err: RequestParseError | HeadTimeout): void {
    const res = this.res;
    if (this.unstarted) {
      // The body failed in the read that brought its head: no lifecycle has seen this request.
      this.unstarted = false;
      this.req = null;
      this.res = null;
      this.body = null;
    } else if (this.state === ACTIVE && res !== null) {
      // The head was fine and its answer is being made; its body is not: the body fails with the
      // parse error (the proxy answers it as the client's fault), and that answer is the connection's last.
      this.body?.destroy(err as RequestParseError);
      this.body = null;
      res.keepAlive = false;
      this.state = CLOSING;
      this.pause();
      return;
    }
    this.owner.rejected(err.code);
    if (!this.socket.destroyed) this.socket.write(gatewayErrorAnswer(err.code));
    this.finish(null);
  }

  /** Called by the server's sweep: the head or keep-alive wait ran out (`now` ≥ deadline). */
  expire(): void {
    if (this.state === READING) this.reject({ code: 'REQUEST_TIMEOUT', message: 'request head not complete in time' });
    else this.socket.destroy(); // idle keep-alive, a silent new connection, or a lingering close
  }

  /** Closes the connection now (server shutdown). */
  destroy(): void {
    this.socket.destroy();
  }

  /** Closed by the admission to make room (it is idle: nothing of a request read, no answer owed). */
  evict(): void {
    this.socket.destroy();
  }

  private onClose(): void {
    this.deadline = Infinity;
    this.send.drained();
    this.owner.admission.release(this.ticket);
    this.body?.clientGone();
    this.res?.closed();
    this.owner.forget(this);
  }
}

const EMPTY = Buffer.alloc(0);
