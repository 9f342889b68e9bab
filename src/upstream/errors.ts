/**
 * Failures of the upstream client, one class per failure with a stable `code` (undici's
 * lib/core/errors.js is the model), so that the proxy classifies them with `instanceof` and a log
 * line or a health reason names them the same way wherever they were made.
 */
export abstract class UpstreamError extends Error {
  /** The failure's stable code. */
  abstract readonly code: string;
}

/**
 * The connection to the node could not be made (refused, unreachable, no such host). The code is the
 * system's (`ECONNREFUSED`, `EHOSTUNREACH`, `ENOTFOUND`, …): operators know them, and they say more
 * than one code for all of them would.
 */
export class ConnectError extends UpstreamError {
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The TLS handshake with the node failed (its certificate is not trusted, no common protocol, …): the node is misconfigured. */
export class TlsHandshakeError extends UpstreamError {
  readonly code = 'UPSTREAM_TLS_FAILED';
}

/** No connection within the API's `connectMs`. */
export class ConnectTimeoutError extends UpstreamError {
  readonly code = 'UPSTREAM_CONNECT_TIMEOUT';
}

/** No response headers within `headersMs` of the request going out. */
export class HeadersTimeoutError extends UpstreamError {
  readonly code = 'UPSTREAM_HEADERS_TIMEOUT';
}

/** A pause between two chunks of the response body longer than `bodyMs` (while the gateway was reading). */
export class BodyTimeoutError extends UpstreamError {
  readonly code = 'UPSTREAM_BODY_TIMEOUT';
}

/** The connection to the node closed or was reset before its response was complete. */
export class SocketClosedError extends UpstreamError {
  readonly code = 'UPSTREAM_SOCKET_CLOSED';
}

/** The node's response is not valid HTTP/1.1 (or not as strict as the gateway reads it). */
export class BadResponseError extends UpstreamError {
  readonly code = 'UPSTREAM_BAD_RESPONSE';
}

/** The pool was closed (its node left the config) before the request could start. */
export class PoolClosedError extends UpstreamError {
  readonly code = 'UPSTREAM_POOL_CLOSED';
}

/** As many requests as the pool lets wait already wait for a connection to the node. */
export class QueueFullError extends UpstreamError {
  readonly code = 'UPSTREAM_QUEUE_FULL';
}

/** No connection to the node became free within the pool's wait deadline. */
export class QueueTimeoutError extends UpstreamError {
  readonly code = 'UPSTREAM_QUEUE_TIMEOUT';
}

/**
 * No connection to the node became free within the pool's wait deadline while the process held as
 * many upstream sockets as its budget allows (docs/edge-limits.md), every one of them busy: the
 * gateway is short of sockets, not the node.
 */
export class SocketsExhaustedError extends UpstreamError {
  readonly code = 'UPSTREAM_SOCKETS_EXHAUSTED';
}

/**
 * A connection to the node could not be made because this process (EMFILE) or the system (ENFILE)
 * has no file descriptor left: the gateway is out of files, the node is not at fault.
 */
export class OutOfFilesError extends UpstreamError {
  readonly code = 'GATEWAY_OUT_OF_FILES';
}

/** The client's request body, counted as it streamed to the node, passed the request's limit. */
export class RequestBodyTooLargeError extends UpstreamError {
  readonly code = 'REQUEST_BODY_TOO_LARGE';
}

/**
 * A socket error on a connection to a node as the failure it means, by how far the connection got:
 * before TCP was up a connect failure (or, for EMFILE and ENFILE, the gateway out of files), between TCP and the end of the TLS handshake a handshake
 * failure, later a closed connection. An error that is already typed (a timeout the caller destroyed
 * the socket with) is kept.
 */
export function socketFailure(err: NodeJS.ErrnoException, tcpUp: boolean, connected: boolean): Error {
  if (err instanceof UpstreamError) return err;
  if (!connected && tcpUp)
    return new TlsHandshakeError(`TLS handshake with the node failed: ${err.message}`, { cause: err });
  if (!connected && (err.code === 'EMFILE' || err.code === 'ENFILE'))
    return new OutOfFilesError(`no file descriptor left for a connection to the node (${err.code})`, { cause: err });
  if (!connected) return new ConnectError(err.code ?? 'ECONNECT', err.message, { cause: err });
  return new SocketClosedError(`the connection to the node failed: ${err.message}`, { cause: err });
}
