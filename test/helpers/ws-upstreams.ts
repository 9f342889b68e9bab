import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** A real WebSocket node on 127.0.0.1: echoes every message, greets with its name, records what it saw. */
export interface WsUpstream {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  /** Upgrade requests' headers and paths as received. */
  readonly seen: Array<{ url: string; headers: Record<string, string | string[] | undefined> }>;
  /** Server-side sockets open now. */
  readonly sockets: Set<WebSocket>;
  /** Close codes the node received from clients. */
  readonly closes: number[];
  close(): Promise<void>;
}

/**
 * Starts a WebSocket node: on connect it sends `hello <name>`, then echoes; `refuse` answers the
 * upgrade with that status and a body instead; plain requests get 200 `plain <name>`.
 */
export function startWsUpstream(name: string, options: { refuse?: number } = {}): Promise<WsUpstream> {
  const seen: WsUpstream['seen'] = [];
  const sockets = new Set<WebSocket>();
  const closes: number[] = [];
  const http: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-node': name });
    res.end(`plain ${name}`);
  });
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    if (options.refuse !== undefined) {
      const body = `refused by ${name}`;
      socket.end(
        `HTTP/1.1 ${options.refuse} Refused\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nx-node: ${name}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', (code) => {
        sockets.delete(ws);
        closes.push(code);
      });
      ws.on('message', (data, binary) => ws.send(data, { binary }));
      ws.on('error', () => undefined);
      ws.send(`hello ${name}`);
    });
  });
  return new Promise((resolve) => {
    http.listen(0, '127.0.0.1', () => {
      const port = (http.address() as AddressInfo).port;
      resolve({
        name,
        port,
        url: `http://127.0.0.1:${port}`,
        seen,
        sockets,
        closes,
        close: () =>
          new Promise<void>((done) => {
            for (const ws of sockets) ws.terminate();
            wss.close();
            http.closeAllConnections();
            http.close(() => done());
          }),
      });
    });
  });
}
