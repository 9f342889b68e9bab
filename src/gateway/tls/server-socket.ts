import type { Server, Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';

/** How one server-side TLS connection is started. */
export interface ServerSocketOptions {
  /** The net.Server it was accepted on (node reads its listener counts, e.g. for `OCSPRequest`). */
  readonly server: Server;
  /** The connection's own context: protocol settings and session ticket keys, no certificate. */
  readonly base: SecureContext;
  readonly handshakeTimeoutMs: number;
  readonly ALPNProtocols: readonly string[];
  /** The context holding the certificate for an SNI name (undefined: no SNI); null refuses the handshake. */
  contextFor(servername: string | undefined): SecureContext | null;
  /** The handshake is done; the socket is the caller's (as after tls.Server's `secureConnection`). */
  secure(socket: TLSSocket): void;
  /** The handshake failed (as tls.Server's `tlsClientError`); the socket is already being destroyed. */
  failed(socket: TLSSocket, err: Error): void;
}

/**
 * Wraps an accepted socket in a server TLSSocket whose certificate, one only, is chosen in the
 * certificate callback: by SNI name through `SNICallback`, and for a client without SNI by `contextFor(undefined)`.
 *
 * Why not tls.Server with the default certificate as its own context (as before): node's SNI handling
 * (node 20, `UseSNIContext` in src/crypto/crypto_tls.cc) ADDS the chosen certificate to the
 * connection's certificates, in the slot of its key type, so a default of another key type stays and
 * OpenSSL serves whichever the client's signature algorithms prefer (nodejs/node#54235): an RSA
 * certificate's name got an ECDSA default. Here the base context holds no certificate, so the chosen
 * one is the only one. tls.Server gives no hook for clients without SNI (its certificate callback only
 * asks SNICallback when a name came), hence the socket is built here, with what tls.Server's
 * `tlsConnectionListener` and `onServerSocketSecure` do (node 20.x lib/_tls_wrap.js).
 */
export function serverTlsSocket(raw: Socket, options: ServerSocketOptions): TLSSocket {
  const socket = new TLSSocket(raw, {
    isServer: true,
    server: options.server,
    secureContext: options.base,
    ALPNProtocols: [...options.ALPNProtocols],
    SNICallback: (servername, done) => {
      const context = options.contextFor(servername);
      if (context === null) done(new Error('no certificate is configured'), undefined);
      else done(null, context);
    },
  });
  const internal = socket as unknown as NodeTlsSocket;
  serveDefaultWithoutSni(internal, () => options.contextFor(undefined));
  let failed = false;
  const fail = (err: Error) => {
    if (failed || internal._controlReleased) return;
    failed = true;
    socket.destroy();
    options.failed(socket, err);
  };
  const timedOut = () => fail(new Error('TLS handshake timeout'));
  if (options.handshakeTimeoutMs > 0) socket.setTimeout(options.handshakeTimeoutMs, timedOut);
  // node's own events of a server TLSSocket: `_tlsError` before control is released, `secure` once done.
  socket.on('_tlsError', fail);
  socket.once('close', () => fail(new Error('socket hang up')));
  socket.once('secure', () => {
    socket.setTimeout(0, timedOut);
    if (socket.destroyed || !internal._releaseControl()) return;
    socket.off('_tlsError', fail);
    options.secure(socket);
  });
  return socket;
}

/** What of node 20's TLSSocket this module uses beyond its documented API. */
interface NodeTlsSocket {
  _controlReleased: boolean;
  /** Hands error events to the socket's owner (tls.Server's `onServerSocketSecure` calls it). */
  _releaseControl(): boolean;
  /** The TLSWrap handle: `oncertcb` runs in OpenSSL's certificate callback; `sni_context` is what `certCbDone` loads. */
  _handle: { oncertcb?: (this: unknown, info: { servername: string }) => void; sni_context?: unknown } | null;
}

/**
 * The Node internal this listener relies on (node 20.x): before node's certificate callback
 * (`loadSNI`) runs for a client that sent no SNI, set the handle's `sni_context`, which `certCbDone`
 * (C++) loads as the connection's certificate whether or not a name came. It must be set in the
 * certificate callback, not earlier: a `sni_context` present when the ClientHello's server_name is
 * processed makes node swap the whole SSL_CTX (`SelectSNIContextCallback`), which drops the
 * certificate callback, ALPN and the ticket keys of the base context. Throws if node changed, so
 * every TLS connection fails loudly (test/gateway/tls/key-types.e2e.test.ts covers both paths).
 */
function serveDefaultWithoutSni(socket: NodeTlsSocket, fallback: () => SecureContext | null): void {
  const handle = socket._handle;
  const loadSni = handle?.oncertcb;
  if (handle === null || typeof loadSni !== 'function')
    throw new Error('node TLSSocket internals changed: no _handle.oncertcb to choose the default certificate');
  handle.oncertcb = function (info) {
    if (!info.servername) {
      const context = fallback();
      if (context !== null) handle.sni_context = (context as unknown as { context: unknown }).context;
    }
    loadSni.call(this, info);
  };
}
