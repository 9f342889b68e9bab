import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';

/** One HTTP/2 answer: status, headers, body text; or the stream's error. */
export interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  error: string | null;
}

/** Opens an HTTP/2 session to the TLS port on 127.0.0.1 with SNI `host`, trusting `ca`. */
export function h2Session(port: number, host: string, ca: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(`https://${host}:${port}`, { ca, servername: host, host: '127.0.0.1', port } as never);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/** One request on a session; bounded to 10 s. */
export function h2Request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: Buffer | string,
): Promise<H2Answer> {
  return new Promise((resolve) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let got: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => stream.close(), 10_000);
    stream.on('response', (h) => {
      status = Number(h[':status']);
      got = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve({ status, headers: got, body: Buffer.concat(chunks).toString('utf8'), error: null });
    });
    stream.on('error', (err) => {
      clearTimeout(timer);
      resolve({ status, headers: got, body: '', error: (err as NodeJS.ErrnoException).code ?? err.message });
    });
    if (body !== undefined) stream.end(body);
  });
}
