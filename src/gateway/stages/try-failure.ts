import {
  ConnectError,
  ConnectTimeoutError,
  HeadersTimeoutError,
  OutOfFilesError,
  PoolClosedError,
  QueueFullError,
  QueueTimeoutError,
  RequestBodyTooLargeError,
  SocketsExhaustedError,
  TlsHandshakeError,
} from '../../upstream/errors.js';
import type { GatewayErrorCode } from '../errors.js';
import type { RequestContext } from '../context.js';
import { ClientClosedError } from '../exchange.js';
import { RequestParseError } from '../http/request-parser.js';

/**
 * A try's failure before response headers, by what it means for retries and passive health checks:
 * `connect` and `queue` never reached the node (no connection to it; or none of its pool's, or of the
 * process's upstream sockets, free in time, or no file for one); the others may have.
 */
export type TryFailure = 'connect' | 'timeout' | 'reset' | 'client' | 'bad-body' | 'too-large' | 'deadline' | 'queue';

/** The client went away: the try is aborted. */
export class ClientGoneError extends Error {
  readonly code = 'CLIENT_ABORTED';
}

/** The request's total deadline (`retry.deadlineMs`) passed while a try waited for its answer. */
export class RetryDeadlineError extends Error {
  readonly code = 'RETRY_DEADLINE';
}

/** A listed status was answered and another node is tried: this answer is dropped. */
export class DroppedForRetryError extends Error {
  readonly code = 'DROPPED_FOR_RETRY';
}

/** What a try's failure means, by the error's class (never by its message). */
export function failureKind(err: Error, ctx: RequestContext): TryFailure {
  if (ctx.res.destroyed || err instanceof ClientGoneError || err instanceof ClientClosedError) return 'client';
  if (err instanceof RequestParseError) return 'bad-body';
  if (err instanceof RequestBodyTooLargeError) return 'too-large';
  if (err instanceof RetryDeadlineError) return 'deadline';
  // Refused by the node's pool (its wait queue full, or no connection free in time, or none of the
  // process's upstream sockets), or the process out of files: the node is busy or not at fault, not
  // failing, and never saw the request.
  if (
    err instanceof QueueFullError ||
    err instanceof QueueTimeoutError ||
    err instanceof SocketsExhaustedError ||
    err instanceof OutOfFilesError
  )
    return 'queue';
  // The node never saw the request (no connection, or no TLS session on it): another node may be
  // tried for any method.
  if (
    err instanceof ConnectError ||
    err instanceof ConnectTimeoutError ||
    err instanceof PoolClosedError ||
    err instanceof TlsHandshakeError
  )
    return 'connect';
  if (err instanceof HeadersTimeoutError) return 'timeout';
  return 'reset';
}

/** The gateway error for a `queue` failure that no other node could take. */
export function refusalCode(err: Error): GatewayErrorCode {
  if (err instanceof QueueFullError) return 'UPSTREAM_QUEUE_FULL';
  if (err instanceof SocketsExhaustedError) return 'UPSTREAM_SOCKETS_EXHAUSTED';
  if (err instanceof OutOfFilesError) return 'GATEWAY_OUT_OF_FILES';
  return 'UPSTREAM_QUEUE_TIMEOUT';
}

/** The `code` of an error (a system or upstream error code), or UNKNOWN. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}
