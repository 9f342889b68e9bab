import { Server as NetServer, type Socket } from 'node:net';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { Admission, AdmissionRefusal, AdmissionTicket } from '../admission.js';
import type { GatewayHttpServer } from '../http/server.js';
import type { TlsCertificates } from '../../tls/certificates.js';
import { TLS_PROTOCOL_OPTIONS } from '../../tls/settings.js';
import { serverTlsSocket } from './server-socket.js';

/** Where the TLS port hands connections after their handshake, by ALPN (RFC 7301). */
export interface TlsHandoff {
  /** HTTP/1.1 (ALPN `http/1.1`, or none): the plain port's own server, so its limits and drain apply alike. */
  readonly http: GatewayHttpServer;
  /** HTTP/2 sessions (ALPN `h2`); null offers HTTP/1.1 only. */
  readonly h2: {
    adopt(socket: TLSSocket, ticket: AdmissionTicket): void;
    closeIdleSessions(): void;
    closeAllSessions(): void;
  } | null;
}

/** How the TLS port runs. */
export interface TlsListenerOptions {
  /** Longest time for a new connection's handshake (`--client-handshake-timeout-ms`). */
  handshakeTimeoutMs: number;
  /** The connection limits, shared with the plain port: a connection counts from accept, its handshake included. */
  admission: Admission;
  /** Hears of every connection the admission refused (closed without an answer: HTTP has no word before the handshake). */
  rejected(code: AdmissionRefusal): void;
  /** Session ticket keys (shared by the gateway workers of a process, see settings.ts). */
  ticketKeys: Buffer;
  /** The certificates of the snapshot serving now (null before the first load). */
  certificates(): TlsCertificates | null;
}

/** A connection in its handshake: admitted at accept, idle (nothing of a request read) until it is handed off. */
interface Handshake {
  readonly raw: Socket;
  readonly ticket: AdmissionTicket;
}

/**
 * The gateway's TLS port: a net.Server whose connections are TLS (server-socket.ts), each served the
 * one certificate chosen for its SNI name from the snapshot serving now (a changed certificate applies
 * to the next handshake), or the default certificate for a client without SNI or with an unknown name;
 * TLS 1.2 and up with forward-secret AEAD suites and session tickets. Once its handshake is done, every
 * connection is handed to HTTP/1.1 or HTTP/2 by ALPN. With no certificate stored, handshakes are refused.
 *
 * Every connection counts against the admission limits from accept, so half-open handshakes are
 * bounded by the same caps as everything else (and by the handshake timeout): one the admission
 * refuses is closed at once (no HTTP answer is possible before the handshake); one in its handshake
 * is idle, closed first when the process needs room, like a plain connection that has sent nothing.
 */
export class GatewayTlsServer extends NetServer {
  /** Protocol settings and session ticket keys of every connection; certificates come per connection. */
  private readonly base: SecureContext;
  private readonly alpn: readonly string[];
  /** Connections in their handshake, by peer address and port (a TLSSocket shares its raw socket's peer). */
  private readonly handshaking = new Map<string, Handshake>();

  constructor(
    private readonly handoff: TlsHandoff,
    private readonly options: TlsListenerOptions,
  ) {
    super({ noDelay: true });
    // No certificate here: one in the base context would stay next to the chosen one (server-socket.ts).
    this.base = createSecureContext({
      ...TLS_PROTOCOL_OPTIONS,
      ticketKeys: options.ticketKeys,
      // The same in every worker and process, so a session resumes on any of them (with ticketKeys).
      sessionIdContext: 'isogate',
    });
    this.alpn = handoff.h2 === null ? ['http/1.1'] : ['h2', 'http/1.1'];
    this.on('connection', (raw: Socket) => this.accept(raw));
  }

  private accept(raw: Socket): void {
    if (!this.admit(raw)) return;
    serverTlsSocket(raw, {
      server: this,
      base: this.base,
      handshakeTimeoutMs: this.options.handshakeTimeoutMs,
      ALPNProtocols: this.alpn,
      contextFor: (servername) => this.options.certificates()?.contextFor(servername) ?? null,
      secure: (socket) => this.handOff(socket),
      // A failed handshake (no certificate, no shared version or suite, a timeout) only ends its connection.
      failed: () => raw.destroy(),
    });
  }

  /** Counts a new connection against the admission limits; false when it was refused (and closed). */
  private admit(raw: Socket): boolean {
    const peer = raw.remoteAddress;
    const port = raw.remotePort;
    if (peer === undefined || port === undefined) {
      raw.destroy(); // reset before it was accepted
      return false;
    }
    const admission = this.options.admission;
    const ticket = admission.admit(peer);
    if (typeof ticket === 'string') {
      this.options.rejected(ticket);
      raw.destroy();
      return false;
    }
    const key = `${peer}|${port}`;
    this.handshaking.set(key, { raw, ticket });
    ticket.conn = { evict: () => raw.destroy() };
    admission.markIdle(ticket, performance.now());
    raw.once('close', () => {
      if (this.handshaking.get(key)?.ticket === ticket) this.handshaking.delete(key);
      admission.release(ticket); // a no-op once the connection it was handed to released it
    });
    return true;
  }

  private handOff(socket: TLSSocket): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    const handshake = this.handshaking.get(key);
    if (handshake === undefined) {
      socket.destroy(); // gone (or closed to make room) while its handshake ended
      return;
    }
    this.handshaking.delete(key);
    // Busy for a moment: the connection it is handed to marks it idle from its own start.
    this.options.admission.markBusy(handshake.ticket);
    if (socket.alpnProtocol === 'h2' && this.handoff.h2 !== null) this.handoff.h2.adopt(socket, handshake.ticket);
    else this.handoff.http.adopt(socket, handshake.ticket);
  }

  /** Closes connections still in their handshake, idle HTTP/1.1 connections (the plain port's server holds them) and idle HTTP/2 sessions. */
  closeIdleConnections(): void {
    this.closeHandshakes();
    this.handoff.http.closeIdleConnections();
    this.handoff.h2?.closeIdleSessions();
  }

  /** Closes every connection of this port. */
  closeAllConnections(): void {
    this.closeHandshakes();
    this.handoff.http.closeAllConnections();
    this.handoff.h2?.closeAllSessions();
  }

  private closeHandshakes(): void {
    for (const { raw } of this.handshaking.values()) raw.destroy();
  }
}
