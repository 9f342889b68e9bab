/** A response body as undici hands it over: a readable stream of Buffers. */
export interface BodyStream extends AsyncIterable<Buffer> {
  on(event: 'error', listener: () => void): unknown;
  destroy(): unknown;
}

/**
 * Stops reading `body`: destroyed, with its resulting AbortError heard (unheard, that error would be
 * an uncaught exception that ends the process).
 */
export function discardBody(body: BodyStream): void {
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * `body` read whole, or null as soon as it passes `limit` bytes (the rest is never read: the body is
 * discarded). Rejects with the body's own error: a reset mid-body, a stall cut by a timeout.
 */
export async function readCapped(body: BodyStream, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      discardBody(body);
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
