import type { Socket } from 'node:net';
import type { Admission } from '../admission.js';

/** What a client connection's send watch reads of its server's limits. */
export interface SendLimits {
  /** A client that reads nothing of what it was sent for this long is cut, ms. */
  readonly sendTimeoutMs: number;
  /** How much of an answer a client may leave unread before its node is paused, bytes. */
  readonly responseBufferBytes: number;
  readonly admission: Admission;
}

/**
 * The slow-reader policy of one client connection (docs/edge-limits.md, Slow clients). Once a write
 * leaves the client's socket over its own buffer, the client has `sendTimeoutMs` to read some of it
 * (any progress restarts the time); meanwhile the answer may go on into memory, up to
 * `responseBufferBytes` unread and within the process's budget of such buffers, so that a client
 * slower than its node does not hold the node's connection for a small answer.
 */
export class SendWatch {
  /** When the client must have read some of what it was sent (performance.now() ms); Infinity while nothing waits for it. */
  deadline = Infinity;
  /** Unflushed bytes when the deadline was last set: fewer later is progress. */
  private mark = 0;
  /** Holds a place in the process's budget of answers buffered beyond the socket's buffer. */
  private buffering = false;

  constructor(
    private readonly socket: Socket,
    private readonly limits: SendLimits,
  ) {}

  /** A write left the socket over its buffer: starts the send timeout; true when the answer may go on without waiting for 'drain'. */
  backlogged(): boolean {
    const socket = this.socket;
    if (this.deadline === Infinity) {
      this.deadline = performance.now() + this.limits.sendTimeoutMs;
      this.mark = socket.writableLength;
    }
    if (!this.buffering) this.buffering = this.limits.admission.holdBuffer();
    return this.buffering && socket.writableLength <= this.limits.responseBufferBytes;
  }

  /** The socket drained (or closed): the send timeout stops, the buffer's place is given back. */
  drained(): void {
    this.deadline = Infinity;
    if (this.buffering) {
      this.buffering = false;
      this.limits.admission.releaseBuffer();
    }
  }

  /**
   * Called by the server's sweep once the deadline passed (`now` ≥ deadline): a client that read
   * nothing since is cut (its node's request with it); one that read some gets another send timeout.
   */
  expire(now: number): void {
    if (!this.expired(now)) return;
    this.limits.admission.slowReadersCut++;
    // The buffer's place is given back now, not at 'close' (a later turn), so that the cut and the
    // buffered gauge never disagree in one read of the figures.
    this.drained();
    this.socket.destroy();
  }

  /** True when the client read nothing since the deadline was set; else the deadline moves on. */
  private expired(now: number): boolean {
    const left = this.socket.writableLength;
    if (left < this.mark) {
      this.mark = left;
      this.deadline = now + this.limits.sendTimeoutMs;
      return false;
    }
    return true;
  }
}
