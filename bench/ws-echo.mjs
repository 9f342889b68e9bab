// A WebSocket echo node for `npm run bench:tls`, in its own process so it does not share the bench
// client's event loop: `node bench/ws-echo.mjs <port>`; prints "ready" once listening.
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
wss.on('listening', () => console.log('ready'));
process.on('SIGTERM', () => process.exit(0));
