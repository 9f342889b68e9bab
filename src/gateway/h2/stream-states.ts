import type { ClosedStreams } from './closed-streams.js';
import { H2ConnectionError, H2Error, H2StreamError } from './frames.js';
import { hasPseudoField } from './request-fields.js';
import type { H2Stream } from './stream.js';

// What a client's HEADERS and DATA mean where no request begins (RFC 9113 §5.1, §6.8): trailers on an
// open stream, and frames on a stream that is not open (ignored, a stream error, or a connection
// error). Each check throws the error; the session acts on what it returns.

/**
 * DATA on a stream that is not open: true when that stream is to be reset (STREAM_CLOSED, not counted
 * as a fault: a stream skipped, or closed too long ago to remember, §6.1); false when the frame is
 * dropped (a stream we reset or refused, or one above our GOAWAY: its frames in flight, §5.1, §6.8).
 * On an idle stream, or after the client's END_STREAM or RST_STREAM: a connection error.
 */
export function dataOnStreamNotOpen(
  id: number,
  lastStreamId: number,
  goawayLastId: number,
  closed: ClosedStreams,
): boolean {
  if (id > lastStreamId) throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on an idle stream');
  const state = closed.state(id);
  if (state === 'in-flight' || afterGoaway(id, goawayLastId)) return false;
  if (state === 'closed') throw new H2ConnectionError(H2Error.STREAM_CLOSED, 'DATA on a closed stream');
  return true;
}

/**
 * HEADERS on a stream id at or below the highest the client used, not open: returns when they are
 * ignored (a stream we reset may still have the client's frames in flight, §5.1; one above our
 * GOAWAY); else throws: a request on an id below one used (§5.1.1), or trailers of a stream closed.
 */
export function headersOnPassedStream(
  id: number,
  goawayLastId: number,
  closed: ClosedStreams,
  fields: readonly string[],
): void {
  const state = closed.state(id);
  if (state === 'in-flight' || afterGoaway(id, goawayLastId)) return;
  if (state === 'closed') throw new H2ConnectionError(H2Error.STREAM_CLOSED, 'HEADERS on a closed stream');
  // A request on an id below one used (§5.1.1); trailers of a stream skipped or long closed (§5.1).
  if (hasPseudoField(fields))
    throw new H2ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on a stream id already passed');
  throw new H2StreamError(id, H2Error.STREAM_CLOSED, 'trailers on a closed stream');
}

/** Trailers on an open stream end its request: once, with END_STREAM and no pseudo-header field, else a stream error. */
export function endWithTrailers(stream: H2Stream, endStream: boolean, fields: readonly string[]): void {
  const id = stream.id;
  if (stream.remoteClosed) throw new H2StreamError(id, H2Error.STREAM_CLOSED, 'HEADERS after END_STREAM');
  if (!endStream) throw new H2StreamError(id, H2Error.PROTOCOL_ERROR, 'trailers without END_STREAM');
  if (hasPseudoField(fields)) throw new H2StreamError(id, H2Error.PROTOCOL_ERROR, 'a pseudo-header field in trailers');
  stream.endRemote();
}

/** A stream the client opened after our GOAWAY (`goawayLastId` ≥ 0): it was never served, and its frames are ignored (§6.8). */
function afterGoaway(id: number, goawayLastId: number): boolean {
  return goawayLastId >= 0 && id > goawayLastId;
}
