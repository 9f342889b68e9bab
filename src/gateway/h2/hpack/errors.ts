/**
 * A header block that cannot be decoded (RFC 7541): the session's decoding state is lost, so the
 * whole connection fails with COMPRESSION_ERROR (RFC 9113 §4.3).
 */
export class HpackError extends Error {
  readonly code = 'H2_COMPRESSION_ERROR';
}
