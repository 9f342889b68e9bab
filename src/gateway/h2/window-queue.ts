import type { H2Stream } from './stream.js';

/**
 * The streams of a session waiting for the client's flow-control windows (RFC 9113 §6.9), in the
 * order they get the next connection window: when it grows every one gets its turn, and those that
 * sent then wait behind those that could not, so that one large answer does not take each new window
 * before its siblings.
 */
export class WindowQueue {
  private readonly waiting = new Set<H2Stream>();
  /** While `connectionWindowGrew` runs: the streams that sent and wait again, to go last. */
  private senders: H2Stream[] | null = null;

  /** `stream` waits for a window (`sent`: it sent DATA before its windows ran out). */
  add(stream: H2Stream, sent: boolean): void {
    if (sent && this.senders !== null) this.senders.push(stream);
    else this.waiting.add(stream);
  }

  /** `stream` closed. */
  delete(stream: H2Stream): void {
    this.waiting.delete(stream);
  }

  /** The connection's window grew: each waiting stream sends what the windows now allow, in turn. */
  connectionWindowGrew(): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    const senders: H2Stream[] = [];
    this.senders = senders;
    try {
      for (const stream of waiting) stream.connectionWindowGrew();
    } finally {
      this.senders = null;
    }
    for (const stream of senders) if (!stream.closed) this.waiting.add(stream);
  }
}
