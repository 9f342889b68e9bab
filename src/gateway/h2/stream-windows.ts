import { H2ConnectionError, H2Error, H2StreamError, MAX_WINDOW } from './frames.js';
import type { H2Stream } from './stream.js';

// The send windows of a session's open streams (RFC 9113 §6.9): what the client's WINDOW_UPDATE and
// SETTINGS_INITIAL_WINDOW_SIZE do to them. The connection's own window is ConnectionWindow.

/** A WINDOW_UPDATE on an open stream: its send window grows and it sends on; an increment of 0, or a window past 2^31-1, is a stream error. */
export function growStreamWindow(stream: H2Stream, increment: number): void {
  if (increment === 0) throw new H2StreamError(stream.id, H2Error.PROTOCOL_ERROR, 'a WINDOW_UPDATE of 0');
  stream.sendWindow += increment;
  if (stream.sendWindow > MAX_WINDOW)
    throw new H2StreamError(stream.id, H2Error.FLOW_CONTROL_ERROR, 'a stream window too large');
  stream.resume();
}

/** The client's initial stream window changed by `delta`: so does every open stream's send window (§6.9.2); past 2^31-1 is a connection error. */
export function shiftStreamWindows(streams: ReadonlyMap<number, H2Stream>, delta: number): void {
  for (const stream of streams.values()) {
    stream.sendWindow += delta;
    if (stream.sendWindow > MAX_WINDOW)
      throw new H2ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'a stream window too large');
  }
}
