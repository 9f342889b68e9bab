import type { GatewayRequest } from '../exchange.js';
import type { RequestFields } from './request-fields.js';
import type { StreamBody } from './stream.js';

/**
 * One HTTP/2 stream's request (RFC 9113 §8.3) as the lifecycle sees it: pseudo-header fields made
 * into method, target and host. Its response is the stream itself (`H2Stream`).
 */
export class StreamRequest implements GatewayRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly rawHeaders: string[];
  readonly tls = true;
  readonly protocol = 'h2';
  readonly upgrade = null;

  constructor(
    fields: RequestFields,
    readonly body: StreamBody | null,
    readonly remoteAddress: string,
  ) {
    this.method = fields.method;
    this.url = fields.path;
    this.headers = fields.headers;
    this.rawHeaders = fields.rawHeaders;
  }
}
