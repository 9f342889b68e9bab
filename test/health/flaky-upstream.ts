import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How a flaky upstream answers right now. */
export type Mode = 'ok' | 'fail500' | 'fail503' | 'hang';

/**
 * A real HTTP upstream on 127.0.0.1 whose behaviour a test switches: answer 200, answer 500/503,
 * or hang (accept and never answer). It can close its port and open it again on the same port.
 */
export class FlakyUpstream {
  mode: Mode = 'ok';
  /** Requests received (probes included), by path kind. */
  hits = 0;
  probes = 0;
  /** Bodies received by traffic requests, in order. */
  readonly bodies: string[] = [];
  port = 0;
  private server: Server | null = null;
  private readonly hung = new Set<ServerResponse>();

  constructor(readonly name: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens (on the previous port when it had one, so a node's URL keeps working). */
  async start(): Promise<this> {
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Closes the port and every connection (in-flight requests are cut). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const probe = req.url?.startsWith('/health') ?? false;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (probe) this.probes++;
      else {
        this.hits++;
        this.bodies.push(Buffer.concat(chunks).toString('utf8'));
      }
      if (this.mode === 'hang') {
        this.hung.add(res);
        res.on('close', () => this.hung.delete(res));
        return;
      }
      const status = this.mode === 'fail500' ? 500 : this.mode === 'fail503' ? 503 : 200;
      res.writeHead(status, { 'content-type': 'application/json', 'x-node': this.name });
      res.end(JSON.stringify({ node: this.name, status }));
    });
  }
}

/** Starts flaky upstreams with the given names. */
export function startFlaky(names: readonly string[]): Promise<FlakyUpstream[]> {
  return Promise.all(names.map((n) => new FlakyUpstream(n).start()));
}

/** The flaky upstreams one test file started, stopped together in its afterAll. */
export class FlakyFleet {
  private readonly started: FlakyUpstream[] = [];

  /** Starts upstreams with the given names and keeps them for stopAll(). */
  async start(...names: string[]): Promise<FlakyUpstream[]> {
    return this.keep(...(await startFlaky(names)));
  }

  /** Keeps upstreams started some other way (e.g. again on an old port) for stopAll(). */
  keep(...upstreams: FlakyUpstream[]): FlakyUpstream[] {
    this.started.push(...upstreams);
    return upstreams;
  }

  /** Stops every upstream kept. */
  async stopAll(): Promise<void> {
    await Promise.all(this.started.map((u) => u.stop()));
  }
}
