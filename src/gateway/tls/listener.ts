import { Server as TlsServer, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { Snapshot } from '../../snapshot/snapshot.js';
import type { GatewayHttpServer } from '../http/server.js';
import type { TlsCertificates } from '../../tls/certificates.js';
import { TLS_PROTOCOL_OPTIONS } from '../../tls/settings.js';

/** Where the TLS port hands connections after their handshake, by ALPN (RFC 7301). */
export interface TlsHandoff {
  /** HTTP/1.1 (ALPN `http/1.1`, or none): the plain port's own server, so its limits and drain apply alike. */
  readonly http: GatewayHttpServer;
  /** HTTP/2 sessions (ALPN `h2`); null offers HTTP/1.1 only. */
  readonly h2: { adopt(socket: TLSSocket): void; closeIdleSessions(): void; closeAllSessions(): void } | null;
}

/** How the TLS port runs. */
export interface TlsListenerOptions {
  /** Longest time for a new connection's handshake (the head timeout's bound). */
  handshakeTimeoutMs: number;
  /** Session ticket keys (shared by the gateway workers of a process, see settings.ts). */
  ticketKeys: Buffer;
  /** The certificates of the snapshot serving now (null before the first load). */
  certificates(): TlsCertificates | null;
}

/**
 * The gateway's TLS port: a tls.Server that picks each connection's certificate by SNI from the
 * snapshot serving now (a changed certificate applies to the next handshake), TLS 1.2 and up with
 * forward-secret AEAD suites and session tickets, and hands every connection, once its handshake is
 * done, to HTTP/1.1 or HTTP/2 by ALPN. Clients without SNI get the default certificate, which this
 * server holds as its own context (`serve` swaps it when a config version changes it). With no
 * certificate stored, handshakes are refused.
 */
export class GatewayTlsServer extends TlsServer {
  private defaultKey: string | null = null;

  constructor(
    private readonly handoff: TlsHandoff,
    private readonly options: TlsListenerOptions,
  ) {
    super({
      ...TLS_PROTOCOL_OPTIONS,
      ticketKeys: options.ticketKeys,
      handshakeTimeout: options.handshakeTimeoutMs,
      ALPNProtocols: handoff.h2 === null ? ['http/1.1'] : ['h2', 'http/1.1'],
      noDelay: true,
      SNICallback: (servername, done) => {
        const context = options.certificates()?.contextFor(servername) ?? null;
        if (context === null) done(new Error('no certificate is configured'), undefined);
        else done(null, context);
      },
    });
    this.on('secureConnection', (socket: TLSSocket) => {
      if (socket.alpnProtocol === 'h2' && handoff.h2 !== null) handoff.h2.adopt(socket);
      else handoff.http.adopt(socket);
    });
    // A failed handshake (no certificate, no shared version or suite, a timeout) only ends its connection.
    this.on('tlsClientError', (_err, socket) => socket.destroy());
  }

  /** Follows a config version: the context for clients without SNI becomes its default certificate's. */
  serve(snapshot: Snapshot): void {
    const fallback = snapshot.tls.fallback;
    const key = fallback?.key ?? null;
    if (key === this.defaultKey) return;
    this.defaultKey = key;
    const context: SecureContextOptions = { ...TLS_PROTOCOL_OPTIONS, ticketKeys: this.options.ticketKeys };
    if (fallback !== null) Object.assign(context, { cert: fallback.cert.certificate, key: fallback.cert.privateKey });
    this.setSecureContext(context);
  }

  /** Closes idle HTTP/1.1 connections (the plain port's server holds them) and idle HTTP/2 sessions. */
  closeIdleConnections(): void {
    this.handoff.http.closeIdleConnections();
    this.handoff.h2?.closeIdleSessions();
  }

  /** Closes every connection of this port. */
  closeAllConnections(): void {
    this.handoff.http.closeAllConnections();
    this.handoff.h2?.closeAllSessions();
  }
}
