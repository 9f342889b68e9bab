/**
 * Error codes of the upstream client. The timeout and socket codes are undici's, which the active
 * health checks still use, so a log line or a health reason reads the same whichever of the two
 * made it; connect failures carry the system's code (`ECONNREFUSED`, …).
 */
export const UPSTREAM_ERRORS = {
  /** No connection within the API's `connectMs`. */
  connectTimeout: 'UND_ERR_CONNECT_TIMEOUT',
  /** No response headers within `headersMs`. */
  headersTimeout: 'UND_ERR_HEADERS_TIMEOUT',
  /** A pause between two body chunks longer than `bodyMs`. */
  bodyTimeout: 'UND_ERR_BODY_TIMEOUT',
  /** The node closed the connection before its response was complete. */
  socketClosed: 'UND_ERR_SOCKET',
  /** The node's response is not valid HTTP/1.1. */
  badResponse: 'UPSTREAM_BAD_RESPONSE',
  /** The pool was closed (its node left the config) before the request could start. */
  closed: 'UND_ERR_CLOSED',
} as const;

/** An Error with a stable `code`. */
export function upstreamError(code: string, message: string): Error & { code: string } {
  const err = new Error(message) as Error & { code: string };
  err.code = code;
  return err;
}
