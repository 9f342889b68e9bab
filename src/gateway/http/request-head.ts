import { METHODS } from 'node:http';
import type { ChunkedRules } from '../../http/chunked.js';

// The self-contained parts of the gateway's request parser (request-parser.ts): its limits, what it
// reports, its error, and the checks of a request line's method and target.

/** Longest request head (request line and headers, with their line ends) a client may send. */
export const MAX_REQUEST_HEAD_BYTES = 16 * 1024;
/** Longest request line (without its CRLF). */
export const MAX_REQUEST_LINE_BYTES = 8 * 1024;

/** What the head of one request says: its target, headers, framing and the connection's fate. */
export interface RequestHead {
  /** A token, as sent. */
  method: string;
  /** The request target as sent (origin-form `/a?b`, absolute-form, authority-form or `*`). */
  url: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  /** Flat `[name, value, …]` in the client's order and case, values without surrounding whitespace. */
  rawHeaders: string[];
  /** Lower-cased names; a repeated header's values joined with `, ` (`cookie` with `; `). */
  headers: Record<string, string>;
  /** The connection may carry another request after this one. */
  keepAlive: boolean;
  /** The body's length: 0 without a body, -1 when chunked. */
  contentLength: number;
  chunked: boolean;
  /** The client waits for `100 Continue` before it sends the body. */
  expectContinue: boolean;
}

/** Where the parser reports one request. */
export interface RequestSink {
  onHead(head: RequestHead): void;
  /** Body bytes, transfer coding removed; never empty; slices of the input, never copies. */
  onBody(chunk: Buffer): void;
  /** The message is complete. */
  onEnd(): void;
  /**
   * The parser now holds `bytes` of buffer for an unfinished head (0: none any more); false refuses
   * the growth, and the parser fails the request with HEAD_MEMORY_FULL.
   */
  holdHead?(bytes: number): boolean;
}

/** The gateway error a malformed request is answered with (all are in the gateway's error table). */
export type RequestErrorCode =
  | 'BAD_REQUEST'
  | 'URI_TOO_LONG'
  | 'HEADERS_TOO_LARGE'
  | 'EXPECTATION_FAILED'
  | 'TRANSFER_CODING_UNSUPPORTED'
  | 'HTTP_VERSION_UNSUPPORTED'
  | 'HEAD_MEMORY_FULL';

/** A request the gateway will not handle; the connection answers with `code` and closes. */
export class RequestParseError extends Error {
  constructor(
    readonly code: RequestErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A request target: visible ASCII only (no space, no control character, no DEL, no byte past 0x7F:
 * llhttp refuses those too, and a node behind the gateway most likely reads with llhttp).
 */
export const BAD_TARGET_CHAR = /[\x00-\x20\x7f-\xff]/;
/** The methods a request may have: llhttp's own list (node:http's METHODS), which it refuses any other than. */
const KNOWN_METHODS = new Set(METHODS);

/** Whether llhttp knows `method`; the usual ones by comparison, without hashing the fresh string. */
export function knownMethod(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'POST':
    case 'PUT':
    case 'HEAD':
    case 'DELETE':
    case 'PATCH':
    case 'OPTIONS':
      return true;
  }
  return KNOWN_METHODS.has(method);
}
// Absolute-form (RFC 9112 §3.2.2) as the gateway reads it: http(s), a non-empty authority, then the
// path or query, if any.
const ABSOLUTE_FORM = /^https?:\/\/[A-Za-z0-9._~%!$&'()*+,;=:@[\]-]+(?:[/?]|$)/i;

/**
 * A request target of one of RFC 9112's forms (§3.2): origin-form, absolute-form, `*`, or
 * authority-form for CONNECT only. llhttp refuses the others too (`?x`, `host:443` in a GET).
 */
export function validTarget(method: string, url: string): boolean {
  const first = url.charCodeAt(0);
  if (first === 47 /* / */) return true;
  if (url === '*') return true;
  if (method === 'CONNECT') return !/[/?#]/.test(url);
  return ABSOLUTE_FORM.test(url);
}

/**
 * A chunked request body (the decoder is shared with the response side): a chunk line of at most
 * 4 KiB (BAD_REQUEST past it, as for any malformed chunk), trailers of at most the head limit
 * (HEADERS_TOO_LARGE, as a head).
 */
export const CHUNKED_RULES: ChunkedRules = {
  maxLineBytes: 4 * 1024,
  maxTrailerBytes: 16 * 1024,
  malformed: (message) => new RequestParseError('BAD_REQUEST', message),
  trailersTooLarge: () => new RequestParseError('HEADERS_TOO_LARGE', 'trailer section too large'),
};

/** A BAD_REQUEST parse error with `message`. */
export function bad(message: string): RequestParseError {
  return new RequestParseError('BAD_REQUEST', message);
}
