import { request as httpsRequest } from 'node:https';
import { connect, type ConnectionOptions, type PeerCertificate } from 'node:tls';

/** What one handshake showed: the certificate served, or the error that ended it. */
export interface Handshake {
  ok: boolean;
  /** The served leaf's SAN (`DNS:a, DNS:b`) and fingerprint, when the handshake completed. */
  san: string | null;
  fingerprint: string | null;
  protocol: string | null;
  alpn: string | false | null;
  reused: boolean;
  session: Buffer | null;
  error: string | null;
}

/** One TLS handshake to 127.0.0.1:`port` (SNI `servername` unless undefined); bounded to 5 s. */
export function handshake(
  port: number,
  servername: string | undefined,
  options: ConnectionOptions = {},
): Promise<Handshake> {
  return new Promise((resolve) => {
    let session: Buffer | null = null;
    const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ...options });
    const timer = setTimeout(() => socket.destroy(new Error('handshake took over 5 s')), 5_000);
    socket.on('session', (s: Buffer) => (session = s));
    socket.once('secureConnect', () => {
      const peer: PeerCertificate = socket.getPeerCertificate();
      const result = {
        ok: true,
        san: peer.subjectaltname ?? null,
        fingerprint: peer.fingerprint256 ?? null,
        protocol: socket.getProtocol(),
        alpn: socket.alpnProtocol ?? null,
        reused: socket.isSessionReused(),
        error: null,
      };
      // TLS 1.3 sends its tickets after the handshake: wait a moment for them.
      setTimeout(() => {
        clearTimeout(timer);
        socket.end();
        resolve({ ...result, session });
      }, 50);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve({
        ok: false,
        san: null,
        fingerprint: null,
        protocol: null,
        alpn: null,
        reused: false,
        session: null,
        error: err.message,
      });
    });
  });
}

/** An HTTPS answer: status, headers, body text. */
export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request to 127.0.0.1:`port` with SNI and Host `host`, trusting `ca`; bounded to 5 s. */
export function httpsGet(
  port: number,
  host: string,
  path: string,
  ca: string,
  options: { method?: string; body?: string } = {},
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        servername: host,
        headers: { host },
        ca,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end(options.body);
  });
}
