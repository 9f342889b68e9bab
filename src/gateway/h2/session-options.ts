import type { DecodedBlock } from './hpack/decoder.js';
import type { H2Stream } from './stream.js';

// What an HTTP/2 session is given by its owner (H2Sessions): its bounds, and whom it tells of its
// requests and of its end.

/** The bounds of one session; see H2_LIMITS in `sessions.ts` for each. */
export interface SessionLimits {
  maxConcurrentStreams: number;
  maxHeaderListSize: number;
  maxHeaderListPairs: number;
  initialWindowSize: number;
  connectionWindowSize: number;
  maxHeaderBlockBytes: number;
  maxRefusedStreams: number;
  maxInvalidFrames: number;
  resetBurst: number;
  resetsPerSecond: number;
  /** A client that reads nothing of what waits for it this long is cut, ms. */
  sendTimeoutMs: number;
}

/** What a session tells its owner. */
export interface SessionEvents {
  /** A request's header list arrived on a new stream (`block.tooLarge` when it passed the limits). */
  request(stream: H2Stream, block: DecodedBlock): void;
  /** The number of open streams went from 0 to 1 (true) or from 1 to 0 (false). */
  busy(busy: boolean): void;
  /** The connection is gone. */
  closed(): void;
}
