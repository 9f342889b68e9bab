/**
 * llhttp — Node's own HTTP/1.1 parser — in strict mode, as a reference for the differential tests of
 * the gateway's parsers: what it makes of a byte stream, message by message.
 */
import { createRequire } from 'node:module';

/** One message as a parser framed it. */
export interface Frame {
  /** Requests: the method's name. */
  method?: string;
  /** Requests: the target as sent. */
  url?: string;
  /** Responses: the status. */
  status?: number;
  /** `[name, value, …]` as sent (values without surrounding spaces and tabs). */
  headers: string[];
  /** The body, transfer coding removed. */
  body: Buffer;
  /** The connection may carry another message after this one. */
  keepAlive: boolean;
  /** llhttp handed the connection to another protocol after this head (CONNECT, Upgrade). */
  upgrade: boolean;
  /** The message was read to its end. */
  complete: boolean;
  /** Responses: the answer to a HEAD (llhttp's keep-alive flag is computed before it learns that). */
  head?: boolean;
}

/** The messages read, and the error that stopped the parse (null when none did). */
export interface Parsed {
  frames: Frame[];
  error: string | null;
}

interface NodeHttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): undefined | Error;
  [key: number]: unknown;
}

const require = createRequire(import.meta.url);
const { HTTPParser, methods } = require('node:_http_common') as {
  HTTPParser: {
    new (): NodeHttpParser;
    REQUEST: number;
    RESPONSE: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
  };
  methods: string[];
};

/**
 * Parses `input` as requests or responses with llhttp, strict (no lenient flag). For responses,
 * `headRequests[i]` says whether the i-th final (non-1xx) response answers a HEAD (no body). Ends the
 * stream as a closed connection would (a body delimited by the close ends there).
 */
export function llhttpParse(
  kind: 'request' | 'response',
  input: Buffer,
  headRequests: readonly boolean[] = [],
): Parsed {
  const parser = new HTTPParser();
  const frames: Frame[] = [];
  let headers: string[] = [];
  let url = '';
  let finals = 0;
  let body: Buffer[] = [];
  /** Between a head and the end of its message: a header flush then is the trailer section's (dropped). */
  let inBody = false;
  parser[HTTPParser.kOnHeaders] = (more: string[], moreUrl: string) => {
    if (inBody) return;
    headers.push(...more);
    url += moreUrl;
  };
  parser[HTTPParser.kOnHeadersComplete] = (
    _major: number,
    _minor: number,
    last: string[] | undefined,
    method: number,
    lastUrl: string | undefined,
    status: number,
    _reason: string,
    upgrade: boolean,
    keepAlive: boolean,
  ) => {
    if (last) headers.push(...last);
    if (lastUrl) url += lastUrl;
    const frame: Frame = { headers, body: Buffer.alloc(0), keepAlive, upgrade, complete: false };
    if (kind === 'request') Object.assign(frame, { method: methods[method], url });
    else frame.status = status;
    frames.push(frame);
    headers = [];
    url = '';
    body = [];
    inBody = true;
    // Returning 1 tells llhttp the response has no body (the answer to a HEAD).
    if (kind === 'response' && status >= 200) return headRequests[finals++] === true ? 1 : 0;
    return 0;
  };
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => body.push(Buffer.from(chunk));
  parser[HTTPParser.kOnMessageComplete] = () => {
    inBody = false;
    const frame = frames[frames.length - 1];
    if (frame) {
      frame.body = Buffer.concat(body);
      frame.complete = true;
    }
  };
  parser[HTTPParser.kOnExecute] = () => {};
  parser.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 0, 0);
  const result = parser.execute(input);
  if (result instanceof Error) return { frames, error: (result as Error & { code?: string }).code ?? result.message };
  if (frames.at(-1)?.upgrade) return { frames, error: null };
  const end = parser.finish();
  if (end instanceof Error) return { frames, error: (end as Error & { code?: string }).code ?? end.message };
  return { frames, error: null };
}
