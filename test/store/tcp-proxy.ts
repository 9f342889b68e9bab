import net from 'node:net';

/** A TCP forwarder on 127.0.0.1 that a test can take down and bring back on the same port. */
export interface TcpProxy {
  readonly port: number;
  /** Closes the port and cuts every forwarded connection, as if the server went away. */
  stop(): Promise<void>;
  /** Listens on the same port again. */
  start(): Promise<void>;
  /** Silently drops every byte both ways, connections left open: a network cut nobody is told about. */
  blackhole(): void;
  /** Forwards again (bytes dropped meanwhile stay lost). */
  restore(): void;
  /**
   * Once: forwards the next client chunk that contains `text` to the server, then half-closes that
   * connection towards the server and cuts it towards the client, so the server acts on the request
   * but its answer never arrives (a COMMIT whose outcome the client cannot know).
   */
  cutAfterClientSends(text: string): void;
  close(): Promise<void>;
}

/** Starts forwarding an ephemeral 127.0.0.1 port to `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let dropping = false;
  let cutAfter: Buffer | null = null;
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((downstream) => {
    const upstream = net.connect(target.port, target.host);
    let cut = false;
    track(downstream);
    track(upstream);
    // Forwarded by hand rather than piped, so a blackhole can drop bytes without closing anything.
    downstream.on('data', (chunk: Buffer) => {
      if (dropping) return;
      upstream.write(chunk);
      if (cutAfter !== null && chunk.includes(cutAfter)) {
        cutAfter = null;
        cut = true;
        // end() lets the bytes written reach the server; the server answers into the void.
        upstream.end();
        downstream.destroy();
      }
    });
    upstream.on('data', (chunk) => dropping || downstream.write(chunk));
    downstream.on('close', () => cut || upstream.destroy());
    upstream.on('close', () => downstream.destroy());
  });
  let port = 0;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  await listen();
  return {
    get port() {
      return port;
    },
    stop,
    start: listen,
    blackhole: () => {
      dropping = true;
    },
    restore: () => {
      dropping = false;
    },
    cutAfterClientSends: (text) => {
      cutAfter = Buffer.from(text);
    },
    close: stop,
  };
}

/** `url` with its host and port replaced by the proxy's. */
export function viaProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

/** The host and port a postgres:// URL points at. */
export function urlTarget(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || 5432) };
}
