import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A demo upstream: answers every request with its node name and what it received. */
export interface EchoUpstream {
  readonly name: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts one echo upstream on 127.0.0.1 (port 0 picks a free one). */
export function startEchoUpstream(name: string, port: number): Promise<EchoUpstream> {
  const server: Server = createServer((req, res) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => (size += chunk.length));
    req.on('end', () => {
      const body = JSON.stringify({
        node: name,
        method: req.method,
        url: req.url,
        bodyBytes: size,
        forwardedFor: req.headers['x-forwarded-for'] ?? null,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo-node': name });
      res.end(body + '\n');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve({
        name,
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
