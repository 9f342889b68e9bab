import { jsonLine } from '../http/json-line.js';
import type { GatewayResponse } from './exchange.js';

/**
 * Every error the gateway itself makes, with its stable code, HTTP status and message (fastify's
 * lib/errors.js is the model). Tests check that this table, docs/errors.md and real responses agree.
 */
export const GATEWAY_ERRORS = {
  ROUTE_NOT_FOUND: { status: 404, message: 'No API matches this host, method and path.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'The API does not accept this method.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than this API accepts.' },
  IP_FORBIDDEN: { status: 403, message: "The API does not accept requests from this client's address." },
  CORS_FORBIDDEN: { status: 403, message: 'The API does not allow this cross-origin request.' },
  AUTH_REQUIRED: { status: 401, message: 'The API requires authentication.' },
  AUTH_FAILED: { status: 401, message: 'The credentials are not valid for this API.' },
  CONSUMER_FORBIDDEN: { status: 403, message: 'This consumer may not call the API.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry after the time in Retry-After.' },
  AUTH_BUSY: { status: 503, message: 'Too many credential checks are in progress; retry shortly.' },
  RATE_LIMIT_UNAVAILABLE: {
    status: 503,
    message: 'The shared rate limit cannot be checked and the API refuses without it.',
  },
  NO_ENABLED_NODE: { status: 503, message: 'The API has no enabled node.' },
  RULES_EXCLUDED_ALL: { status: 503, message: "No node's rules hold for the current variables." },
  SELECTOR_EMPTY: { status: 503, message: 'The selector returned no node for this request.' },
  SELECTOR_FAILED: { status: 503, message: 'The selector failed and the API rejects on selector errors.' },
  SELECTOR_OVER_BUDGET: {
    status: 503,
    message: "The API's selector is not running: it is past this gateway process's selector budget.",
  },
  NO_HEALTHY_NODE: { status: 503, message: 'Every candidate node is unhealthy and the API rejects in panic mode.' },
  UPSTREAM_CONNECT_FAILED: { status: 502, message: 'Could not connect to the chosen node.' },
  ALL_NODES_TRIED: { status: 502, message: 'Every candidate node was tried and none could be reached.' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'The node did not answer in time.' },
  UPSTREAM_ERROR: { status: 502, message: 'The node closed the connection or sent an invalid response.' },
  NOT_READY: { status: 503, message: 'The gateway has not loaded its configuration yet.' },
  INTERNAL_ERROR: { status: 500, message: 'The gateway failed while handling the request.' },
  BAD_REQUEST: { status: 400, message: 'The request is not valid HTTP/1.1.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request head did not arrive in time.' },
  BODY_TIMEOUT: { status: 408, message: 'The request body stopped arriving before it was complete.' },
  URI_TOO_LONG: { status: 414, message: 'The request line is longer than the gateway accepts.' },
  EXPECTATION_FAILED: { status: 417, message: 'The gateway supports no expectation but 100-continue.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request head is larger than the gateway accepts.' },
  TRANSFER_CODING_UNSUPPORTED: { status: 501, message: 'The request uses a transfer coding other than chunked.' },
  HTTP_VERSION_UNSUPPORTED: { status: 505, message: 'The gateway speaks HTTP/1.0 and HTTP/1.1 only.' },
  TOO_MANY_CONNECTIONS: { status: 503, message: 'The gateway holds as many client connections as it accepts.' },
  CLIENT_CONNECTION_LIMIT: {
    status: 429,
    message: 'This address holds as many connections as the gateway accepts from one client.',
  },
  HEAD_MEMORY_FULL: { status: 503, message: 'Unfinished request heads hold all the memory the gateway gives them.' },
  UPSTREAM_QUEUE_FULL: { status: 503, message: 'Too many requests are waiting for a connection to the chosen node.' },
  UPSTREAM_QUEUE_TIMEOUT: { status: 503, message: 'No connection to the chosen node became free in time.' },
  UPSTREAM_SOCKETS_EXHAUSTED: {
    status: 503,
    message: 'The gateway holds as many connections to nodes as it may, all busy, and none became free in time.',
  },
  GATEWAY_OUT_OF_FILES: { status: 503, message: 'The gateway has no open file left for a connection to the node.' },
} as const satisfies Record<string, { status: number; message: string }>;

/** A gateway error code. */
export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

/** The response header that carries the code, so clients can tell gateway errors from upstream ones. */
export const ERROR_HEADER = 'x-isogate-error';

const bodies = new Map<GatewayErrorCode, Buffer>(
  (Object.keys(GATEWAY_ERRORS) as GatewayErrorCode[]).map((code) => [
    code,
    Buffer.from(jsonLine({ error: { code, message: GATEWAY_ERRORS[code].message } })),
  ]),
);

/** The prebuilt JSON body for a code: `{ "error": { "code", "message" } }` and a newline. */
export function errorBody(code: GatewayErrorCode): Buffer {
  return bodies.get(code)!;
}

/** Answers `res` with a gateway error alone: its status, JSON body and ERROR_HEADER (for answers made before any stage ran). */
export function answerGatewayError(res: GatewayResponse, code: GatewayErrorCode): void {
  const body = errorBody(code);
  res.writeHead(GATEWAY_ERRORS[code].status, {
    'content-type': 'application/json',
    'content-length': body.length,
    [ERROR_HEADER]: code,
  });
  res.end(body);
}
