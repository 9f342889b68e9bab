import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real HTTP upstream on 127.0.0.1 that answers with its name and counts what it served. */
export interface TestUpstream {
  readonly name: string;
  port: number;
  readonly url: string;
  /** Requests served so far. */
  hits: number;
  /** The last request's headers and path as received. */
  last: { url: string; headers: Record<string, string | string[] | undefined>; body: string } | null;
  close(): Promise<void>;
}

/** Starts named upstreams; each answers `{"node": name}` (and `x-node: name`). */
export async function startUpstreams(names: readonly string[]): Promise<TestUpstream[]> {
  return Promise.all(names.map((name) => startUpstream(name)));
}

/** Starts one named upstream on a free port (or the given one). */
export function startUpstream(name: string, port = 0): Promise<TestUpstream> {
  const upstream: TestUpstream = {
    name,
    port: 0,
    url: '',
    hits: 0,
    last: null,
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      upstream.hits++;
      upstream.last = { url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      res.writeHead(200, { 'content-type': 'application/json', 'x-node': name });
      res.end(JSON.stringify({ node: name }));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      upstream.port = (server.address() as AddressInfo).port;
      (upstream as { url: string }).url = `http://127.0.0.1:${upstream.port}`;
      upstream.close = () =>
        new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
      resolve(upstream);
    });
  });
}

/** A port that was free a moment ago and has nothing listening (for connect-refused cases). */
export async function closedPort(): Promise<number> {
  const u = await startUpstream('closed');
  await u.close();
  return u.port;
}
