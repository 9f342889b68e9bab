import type { Readable } from 'node:stream';
import { RequestBodyTooLargeError } from '../../upstream/errors.js';
import type { RequestContext } from '../context.js';
import { ClientClosedError } from '../exchange.js';
import { RequestParseError } from '../http/request-parser.js';

// A small request body read into memory before a node is asked (for the selector, and so retries can
// resend it): bounded in time like nginx's `client_body_timeout`, and its failures classified as the
// proxy stage classifies a streamed body's.

/** The client sent nothing more of a body being read into memory for `--client-body-timeout-ms`. */
export class ClientBodyTimeoutError extends Error {
  readonly code = 'CLIENT_BODY_TIMEOUT';
}

/**
 * Reads `body` (at most `length` bytes, its Content-Length) into memory. Fails with the body's own
 * error, or with ClientBodyTimeoutError (the body destroyed) when `timeoutMs` pass without a byte: the
 * wait restarts with every chunk, so a slow but steady upload is never cut.
 */
export function readBody(body: Readable | null, length: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (body === null) {
      resolve(Buffer.alloc(0));
      return;
    }
    if (body.destroyed) {
      reject(body.errored ?? new ClientClosedError('request body destroyed'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      body.destroy(new ClientBodyTimeoutError(`no request body bytes for ${timeoutMs} ms`));
    }, timeoutMs);
    body.on('data', (chunk: Buffer) => {
      timer.refresh();
      size += chunk.length;
      if (size > length) body.destroy(new RequestParseError('BAD_REQUEST', 'body longer than its content-length'));
      else chunks.push(chunk);
    });
    body.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks, size));
    });
    body.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // Destroyed without an error (its connection finished another way): it will never end.
    body.once('close', () => {
      clearTimeout(timer);
      reject(body.errored ?? new ClientClosedError('request body closed before its end'));
    });
  });
}

/**
 * Ends a request whose body failed while it was read into memory, as the proxy stage ends one whose
 * streamed body failed: a client that left is no gateway error (`upstreamError` says CLIENT_ABORTED);
 * a malformed body keeps its parse error's code, a body past its limit is BODY_TOO_LARGE, a stalled
 * one BODY_TIMEOUT (408, the connection's last answer). Anything else is rethrown (a gateway bug).
 */
export function bodyFailed(ctx: RequestContext, err: unknown): false {
  if (err instanceof ClientClosedError || ctx.res.destroyed) ctx.upstreamError = 'CLIENT_ABORTED';
  else if (err instanceof RequestParseError) ctx.fail(err.code);
  else if (err instanceof RequestBodyTooLargeError) ctx.fail('BODY_TOO_LARGE');
  else if (err instanceof ClientBodyTimeoutError) {
    ctx.res.keepAlive = false; // the rest of the body may still come: the connection cannot carry another request
    ctx.fail('BODY_TIMEOUT');
  } else throw err;
  return false;
}
