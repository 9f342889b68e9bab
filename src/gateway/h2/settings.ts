import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  Flag,
  FrameType,
  H2ConnectionError,
  H2Error,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from './frames.js';
import type { FrameOutput } from './output.js';
import type { SessionLimits } from './session-options.js';

// A session's SETTINGS (RFC 9113 §6.5): the bounds it announces as it opens, and what the client's
// SETTINGS change in it.

/** What the client's SETTINGS change in a session. */
export interface SettingsTarget {
  /** The client's SETTINGS_MAX_FRAME_SIZE. */
  maxFrameSize: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE changes every open stream's send window by the difference (§6.9.2); true when it grew. */
  setPeerWindow(value: number): boolean;
}

/**
 * Queues the session's first frames: its SETTINGS, and a WINDOW_UPDATE of the connection window when
 * it is larger than the default.
 */
export function announceSettings(output: FrameOutput, limits: SessionLimits): void {
  output.push(
    settingsFrame([
      [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, limits.initialWindowSize],
      [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
    ]),
  );
  if (limits.connectionWindowSize > DEFAULT_WINDOW)
    output.push(windowUpdateFrame(0, limits.connectionWindowSize - DEFAULT_WINDOW));
}

/**
 * Applies a client's SETTINGS payload (whole 6-byte entries) to `target`, entry by entry, then queues
 * its ACK; true when a stream window grew. A value out of range is a connection error (PROTOCOL_ERROR,
 * or FLOW_CONTROL_ERROR for a window too large), and nothing is acknowledged.
 */
export function applySettings(payload: Buffer, target: SettingsTarget, output: FrameOutput): boolean {
  let grown = false;
  for (let at = 0; at < payload.length; at += 6) {
    const key = payload.readUInt16BE(at);
    const value = payload.readUInt32BE(at + 2);
    if (key === Setting.ENABLE_PUSH && value > 1)
      throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH out of range');
    if (key === Setting.INITIAL_WINDOW_SIZE) grown = target.setPeerWindow(value) || grown;
    if (key === Setting.MAX_FRAME_SIZE) {
      if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff)
        throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
      target.maxFrameSize = value;
    }
    // HEADER_TABLE_SIZE: responses use no dynamic table. MAX_CONCURRENT_STREAMS: no push. The rest: advisory or unknown.
  }
  output.frame(FrameType.SETTINGS, Flag.ACK, 0, EMPTY);
  return grown;
}

const EMPTY = Buffer.alloc(0);
