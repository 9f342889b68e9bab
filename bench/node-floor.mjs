// The ceiling of a Node.js gateway, for `FLOOR=1 npm run bench:tls` and `FLOOR=1 npm run bench`:
// node:tls, node:http2 and node:net alone, answering every request themselves with `200 ok` (no
// routing, no upstream), in WORKERS cluster workers like the gateway. What it serves per second, and
// at what p99, is what Node's TLS, HTTP/2 and TCP stacks allow on this machine before any proxying.
// `node bench/node-floor.mjs <tls port|0> <cert.pem|-> <key.pem|-> <workers> [<plain HTTP port>]`
// (a TLS port of 0: plain HTTP only); prints "ready" once every worker listens.
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer as createH2Server } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

const [port, certFile, keyFile, workersArg, plainPort] = process.argv.slice(2);
const workers = Math.max(1, Number(workersArg) || 1);
const listeners = (Number(port) > 0 ? 1 : 0) + (Number(plainPort) > 0 ? 1 : 0);

if (cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('listening', () => {
      if (++listening === workers * listeners) console.log('ready');
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const ANSWER = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  const CLOSING = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
  // HTTP/2 sessions made over the TLS port's sockets, as the gateway does (ALPN `h2`).
  const h2 = createH2Server();
  h2.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200, 'content-length': 2 });
    stream.end('ok');
  });
  /** HTTP/1.1 (wrk): one answer per request head in what arrives, closing after `Connection: close`. */
  const answerHttp1 = (socket) => {
    socket.on('data', (chunk) => {
      const text = chunk.toString('latin1');
      for (let at = text.indexOf('\r\n\r\n'); at >= 0; at = text.indexOf('\r\n\r\n', at + 4)) {
        if (/\r\nconnection: *close/i.test(text)) {
          socket.end(CLOSING);
          return;
        }
        socket.write(ANSWER);
      }
    });
  };
  if (Number(port) > 0) {
    const server = createTlsServer(
      {
        cert: readFileSync(certFile),
        key: readFileSync(keyFile),
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['h2', 'http/1.1'],
        noDelay: true,
      },
      (socket) => {
        socket.on('error', () => {});
        socket.setNoDelay(true);
        if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
        else answerHttp1(socket);
      },
    );
    server.listen(Number(port), '127.0.0.1');
  }
  if (Number(plainPort) > 0) {
    const plain = createNetServer({ noDelay: true }, (socket) => {
      socket.on('error', () => {});
      answerHttp1(socket);
    });
    plain.listen(Number(plainPort), '127.0.0.1');
  }
  process.on('SIGTERM', () => process.exit(0));
}
