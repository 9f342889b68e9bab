import type { Socket } from 'node:net';

// How a request goes out to its node after its head is made (request-head.ts): a buffered body in
// the same write as the head; a streamed one chunk by chunk, framed when it goes chunked.

/** Writes a request whose body is buffered (or absent): the head and the body in one write. */
export function writeWholeRequest(socket: Socket, head: string, body: Buffer | null): void {
  if (body === null) {
    socket.write(head, 'latin1');
    return;
  }
  socket.cork();
  socket.write(head, 'latin1');
  socket.write(body);
  socket.uncork();
}

/** Writes one chunk of a streamed body, in chunked coding when `chunked`; false when the socket is full. */
export function writeBodyChunk(socket: Socket, chunk: Buffer, chunked: boolean): boolean {
  if (!chunked) return socket.write(chunk);
  socket.cork();
  socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
  socket.write(chunk);
  const ok = socket.write('\r\n', 'latin1');
  socket.uncork();
  return ok;
}

/** The last chunk (and empty trailer section) that ends a chunked body. */
export const LAST_CHUNK = '0\r\n\r\n';
