import type { UpstreamRequest } from './types.js';

/** How a head ends when its streamed body goes chunked (it has no Content-Length). */
export const CHUNKED_END = 'transfer-encoding: chunked\r\n\r\n';

/**
 * The request head sent to the node, blank line included, framed by the gateway: no body, no framing
 * header added; a buffered body, its own length (the client's framing headers dropped); a streamed
 * body, the client's Content-Length when it has one, else chunked (CHUNKED_END).
 */
export function requestHead(r: UpstreamRequest): string {
  const body = r.body;
  const headers = r.headers;
  let head = `${r.method} ${r.path} HTTP/1.1\r\n`;
  if (body === null) {
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    return head + '\r\n';
  }
  if (Buffer.isBuffer(body)) {
    for (let i = 0; i < headers.length; i += 2)
      if (framing(headers[i]!) === null) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    return `${head}content-length: ${body.length}\r\n\r\n`;
  }
  let length = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const f = framing(name);
    if (f === 'transfer-encoding') continue;
    if (f === 'content-length') length = true;
    head += `${name}: ${headers[i + 1]}\r\n`;
  }
  return length ? `${head}\r\n` : head + CHUNKED_END;
}

// The framing headers, by lower-cased name, or null for any other header: the gateway frames a buffered
// body itself, and a streamed one by its Content-Length or else chunked.
function framing(name: string): 'content-length' | 'transfer-encoding' | null {
  if (name.length !== 14 && name.length !== 17) return null;
  const lower = name.toLowerCase();
  return lower === 'content-length' || lower === 'transfer-encoding' ? lower : null;
}
