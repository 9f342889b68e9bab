import { STATUS_CODES } from 'node:http';
import { errorBody, ERROR_HEADER, GATEWAY_ERRORS, type GatewayErrorCode } from '../errors.js';
import { dateHeader } from './client-response.js';
import type { RequestParseError } from './request-parser.js';

// The answers the gateway port makes by itself, before any API sees a request: a malformed or late
// request head, or a connection the admission refused.

/** A gateway error as a whole HTTP/1.1 answer that closes its connection (for answers made before any API saw the request). */
export function gatewayErrorAnswer(code: GatewayErrorCode): Buffer {
  const status = GATEWAY_ERRORS[code].status;
  const payload = errorBody(code);
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\n${ERROR_HEADER}: ${code}\r\n${dateHeader()}connection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

/** The gateway errors a connection answers by itself, before any API sees the request. */
export type RejectCode = RequestParseError['code'] | HeadTimeout['code'];

/** A head that did not arrive in time, answered like a parse error. */
export interface HeadTimeout {
  code: 'REQUEST_TIMEOUT';
  message: string;
}
