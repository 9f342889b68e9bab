import type { ClientRequest } from './client-request.js';
import type { ClientResponse } from './client-response.js';
import type { RejectCode } from './error-answer.js';
import type { SendLimits } from './send-watch.js';

/** What a client connection (`C`) needs from its server. */
export interface ConnectionOwner<C> extends SendLimits {
  /** Runs the gateway's lifecycle for one request. */
  readonly handler: (req: ClientRequest, res: ClientResponse) => void;
  readonly headerTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly keepAliveSeconds: number;
  /** True once the server is closing: answers then end their connection. */
  readonly closing: boolean;
  /** The connection is gone (the server forgets it). */
  forget(conn: C): void;
  /** A request was refused before any API saw it (for the metrics). */
  rejected(code: RejectCode): void;
}
