import { DEFAULT_WINDOW, H2ConnectionError, H2Error, MAX_WINDOW } from './frames.js';

/**
 * The connection-level flow control of one session (RFC 9113 §6.9): the window the client sends
 * DATA into, granted back once half of it is used (each stream's own window bounds what waits), the
 * window we send into, and the client's initial stream window (SETTINGS_INITIAL_WINDOW_SIZE). Every
 * breach of a window is a FLOW_CONTROL_ERROR connection error.
 */
export class ConnectionWindow {
  /** What the client may still send on the connection. */
  private recv: number;
  /** Received and not yet granted back. */
  private owed = 0;
  /** What we may still send on the connection. */
  send = DEFAULT_WINDOW;
  /** The client's SETTINGS_INITIAL_WINDOW_SIZE: a new stream's send window. */
  peerInitial = DEFAULT_WINDOW;

  /** `size`: the connection window we announce (at least the default 65,535 bytes). */
  constructor(private readonly size: number) {
    this.recv = size;
  }

  /** Counts `flowBytes` of DATA received; returns the increment of the WINDOW_UPDATE to send now (0: none). */
  received(flowBytes: number): number {
    if (flowBytes > this.recv)
      throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'DATA past the connection window');
    this.recv -= flowBytes;
    this.owed += flowBytes;
    if (this.owed < this.size / 2) return 0;
    const grant = this.owed;
    this.recv += grant;
    this.owed = 0;
    return grant;
  }

  /** A WINDOW_UPDATE on stream 0. */
  grow(increment: number): void {
    if (increment === 0) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'a WINDOW_UPDATE of 0');
    this.send += increment;
    if (this.send > MAX_WINDOW)
      throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'the connection window too large');
  }

  /** A new SETTINGS_INITIAL_WINDOW_SIZE; returns how much every open stream's send window changes by (§6.9.2). */
  setPeerInitial(value: number): number {
    if (value > MAX_WINDOW)
      throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE too large');
    const delta = value - this.peerInitial;
    this.peerInitial = value;
    return delta;
  }
}
