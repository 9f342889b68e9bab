import type { TLSSocket } from 'node:tls';
import { Flag, FRAME_HEAD_BYTES, FrameType, writeFrameHead } from './frames.js';

/**
 * What a session writes: frames queued during one event-loop turn leave as one socket write at its
 * end (every stream answered in that turn shares one TLS record run). While the socket is full the
 * client is not read either, so a client that does not read cannot make the session queue answers
 * (PING, SETTINGS) without bound; one that reads nothing of it for `sendTimeoutMs` is cut, as on
 * HTTP/1.1 (`--client-send-timeout-ms`).
 */
export class FrameOutput {
  /** The socket is full: streams wait until `unblocked` is called. */
  blocked = false;
  private out: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;
  private closed = false;
  private stall: NodeJS.Timeout | null = null;
  /** Bytes unsent when the send timeout was last set: fewer later is progress. */
  private mark = 0;

  constructor(
    private readonly socket: TLSSocket,
    private readonly sendTimeoutMs: number,
    private readonly unblocked: () => void,
  ) {
    socket.on('drain', () => this.onDrain());
  }

  /** Queues a whole frame's bytes. */
  push(bytes: Buffer): void {
    if (this.closed) return;
    this.out.push(bytes);
    this.bytes += bytes.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Queues a frame: its head is made here, its payload is sent as it is (not copied until the write). */
  frame(type: number, flags: number, id: number, payload: Buffer): void {
    const head = Buffer.allocUnsafe(FRAME_HEAD_BYTES);
    writeFrameHead(head, 0, payload.length, type, flags, id);
    this.push(head);
    if (payload.length > 0) this.push(payload);
  }

  /** Queues a header block as HEADERS, and CONTINUATION frames past `maxFrameSize` (the client's setting). */
  headers(id: number, block: Buffer, endStream: boolean, maxFrameSize: number): void {
    const end = endStream ? Flag.END_STREAM : 0;
    if (block.length <= maxFrameSize) {
      this.frame(FrameType.HEADERS, Flag.END_HEADERS | end, id, block);
      return;
    }
    this.frame(FrameType.HEADERS, end, id, block.subarray(0, maxFrameSize));
    for (let at = maxFrameSize; at < block.length; at += maxFrameSize) {
      const stop = Math.min(at + maxFrameSize, block.length);
      this.frame(FrameType.CONTINUATION, stop === block.length ? Flag.END_HEADERS : 0, id, block.subarray(at, stop));
    }
  }

  /** Writes what is queued now as one buffer. */
  flush(): void {
    this.scheduled = false;
    if (this.out.length === 0 || this.closed) return;
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.bytes);
    this.out = [];
    this.bytes = 0;
    if (!this.socket.write(data) && !this.blocked) {
      this.blocked = true;
      this.socket.pause();
      this.watchStall();
    }
  }

  /** Writes what is queued and ends the socket; cuts it if it is still open after `lingerMs`. */
  end(lingerMs: number): void {
    this.flush();
    this.socket.end();
    const socket = this.socket;
    setTimeout(() => socket.destroy(), lingerMs).unref();
  }

  /** The socket is gone: nothing more is queued. */
  close(): void {
    this.clearStall();
    this.closed = true;
    this.out = [];
    this.bytes = 0;
  }

  /** Cuts the client if it reads nothing of what waits within the send timeout; progress restarts it. */
  private watchStall(): void {
    this.mark = this.socket.writableLength;
    this.stall = setTimeout(() => {
      this.stall = null;
      if (!this.blocked || this.closed) return;
      if (this.socket.writableLength < this.mark) this.watchStall();
      else this.socket.destroy();
    }, this.sendTimeoutMs);
    this.stall.unref();
  }

  private clearStall(): void {
    if (this.stall === null) return;
    clearTimeout(this.stall);
    this.stall = null;
  }

  private onDrain(): void {
    if (!this.blocked) return;
    this.clearStall();
    this.blocked = false;
    this.socket.resume();
    this.unblocked();
  }
}
