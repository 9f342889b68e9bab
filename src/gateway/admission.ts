import { trustedPeers } from './client-ip.js';

/** The bounds an Admission keeps (docs/edge-limits.md). */
export interface AdmissionLimits {
  /**
   * Most open client connections of this process; an upgraded connection's own connection to its
   * node takes a place too (it holds a file as a client connection does).
   */
  maxConnections: number;
  /** Most open client connections from one address; peers in `--trust-proxy` are not limited by it. */
  maxConnectionsPerIp: number;
  /** Most bytes this process holds for unfinished request heads, all connections together. */
  maxHeadMemoryBytes: number;
  /**
   * Most connections buffering an answer beyond their socket's own buffer at once (each up to the
   * per-response bound); past it, a slow client's node is paused at the socket's buffer.
   */
  maxBufferedResponses: number;
  /**
   * Most refused connections still open to be answered, all listeners together (default
   * MAX_REFUSING); past it a refused connection is closed without an answer. Each holds a file
   * descriptor until it closes, so this comes out of the files kept aside beside `maxConnections`.
   */
  maxRefusing?: number;
}

/** Refused connections answered at once by default; past this many still closing, the next ones are closed silently (a flood). */
export const MAX_REFUSING = 256;

/**
 * An idle connection is closed to make room only once it has been idle this long: a client that has
 * just connected, or just got its answer, has that long to send its (next) request, so a burst of
 * new connections cannot close one whose request is already on its way.
 */
export const EVICT_AFTER_IDLE_MS = 100;

/** Why a connection was refused: the gateway error it is answered with. */
export type AdmissionRefusal = 'TOO_MANY_CONNECTIONS' | 'CLIENT_CONNECTION_LIMIT';

/** What admission may do to a connection it admitted. */
export interface Evictable {
  /** Closes the connection at once; it is idle (no byte of a request read, no answer in progress). */
  evict(): void;
}

/**
 * One admitted connection's entry: its place in the idle list (oldest idle first) and the head memory
 * it holds. Made by `admit`, handed back on every report.
 */
export class AdmissionTicket {
  /** @internal idle-list links */
  prev: AdmissionTicket | null = null;
  /** @internal */
  next: AdmissionTicket | null = null;
  /** In the idle list. */
  linked = false;
  /** @internal counted in `open` (false once released or evicted) */
  counted = true;
  /** @internal when it became idle (performance.now() ms) */
  idleSince = 0;
  /** Bytes of head buffer this connection holds (counted against the process's head memory). */
  headBytes = 0;
  /** The connection, set by the listener once it made it. */
  conn: Evictable | null = null;

  constructor(
    /** The address counted per IP, or null when the peer is a trusted proxy. */
    readonly ip: string | null,
  ) {}
}

/** The admission's counters, read by the metrics at scrape time. */
export interface AdmissionStats {
  open: number;
  idle: number;
  headMemoryBytes: number;
  refusedProcess: number;
  refusedIp: number;
  evicted: number;
  headMemoryRefused: number;
  /** Connections cut because their client read nothing of its answer for the send timeout. */
  slowReadersCut: number;
  /** Connections buffering an answer beyond their socket's own buffer now. */
  buffering: number;
}

/**
 * The admission limits of the gateway port's client connections, for any listener: the plain
 * HTTP/1.1 one here, a TLS or HTTP/2 listener the same way. A listener asks `admit` for every socket
 * it accepts (and answers or closes a refused one itself), reports when the connection turns idle or
 * busy, the head memory it holds, and releases it when the socket closes. Admission holds counters
 * and one list, never a timer or a scan: every operation is O(1).
 */
export class Admission implements AdmissionStats {
  open = 0;
  idle = 0;
  headMemoryBytes = 0;
  refusedProcess = 0;
  refusedIp = 0;
  evicted = 0;
  headMemoryRefused = 0;
  slowReadersCut = 0;
  buffering = 0;
  /**
   * Connections to nodes held by upgraded connections (and by upgrades waiting for their 101). Each
   * holds an open file as a client connection does, so they take places of `maxConnections` too.
   */
  tunnelSockets = 0;
  /** Refused connections still open to read their answer. */
  refusing = 0;
  private readonly perIp = new Map<string, number>();
  private oldest: AdmissionTicket | null = null;
  private newest: AdmissionTicket | null = null;
  private readonly trusted: (peer: string) => boolean;

  constructor(
    readonly limits: AdmissionLimits,
    /** `--trust-proxy`: connections from these peers carry many clients and are not limited per IP. */
    trustProxy: readonly string[] = [],
  ) {
    this.trusted = trustedPeers(trustProxy);
  }

  /**
   * Admits a new connection from `peer` (the socket's remote address), closing idle connections
   * oldest first when the process is at its limit; returns its ticket (the listener sets its `conn`),
   * or why it is refused.
   */
  admit(peer: string): AdmissionTicket | AdmissionRefusal {
    const ip = this.trusted(peer) ? null : peer;
    if (ip !== null) {
      if ((this.perIp.get(ip) ?? 0) >= this.limits.maxConnectionsPerIp) {
        this.refusedIp++;
        return 'CLIENT_CONNECTION_LIMIT';
      }
    }
    if (!this.makeRoom()) {
      this.refusedProcess++;
      return 'TOO_MANY_CONNECTIONS';
    }
    // Read again: a connection closed to make room may have been one of this address's.
    if (ip !== null) this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    this.open++;
    return new AdmissionTicket(ip);
  }

  /**
   * An upgrade is about to connect to its node: true when that connection may take a place of
   * `maxConnections` (closing idle connections oldest first if the process is at its limit), held
   * until `releaseTunnelSocket`; false when every place is held by a busy connection.
   */
  holdTunnelSocket(): boolean {
    if (!this.makeRoom()) return false;
    this.tunnelSockets++;
    return true;
  }

  /** An upgrade's connection to its node is closed: its place is free. */
  releaseTunnelSocket(): void {
    this.tunnelSockets--;
  }

  /** Closes idle connections, oldest first, until a place is free; false when none may be closed. */
  private makeRoom(): boolean {
    while (this.open + this.tunnelSockets >= this.limits.maxConnections) {
      const victim = this.oldest;
      if (victim === null || victim.idleSince > performance.now() - EVICT_AFTER_IDLE_MS) return false;
      this.evicted++;
      this.release(victim);
      victim.conn?.evict();
    }
    return true;
  }

  /** The connection waits for (the first byte of) a request since `now`: it may be evicted, oldest idle first. */
  markIdle(t: AdmissionTicket, now: number): void {
    if (t.linked || !t.counted) return;
    t.linked = true;
    t.idleSince = now;
    t.prev = this.newest;
    t.next = null;
    if (this.newest === null) this.oldest = t;
    else this.newest.next = t;
    this.newest = t;
    this.idle++;
  }

  /** Marks the connection idle (evictable; since now, unless it already was) or busy, as it is now. */
  settle(t: AdmissionTicket, idle: boolean): void {
    if (!idle) this.markBusy(t);
    else if (!t.linked) this.markIdle(t, performance.now());
  }

  /** The connection is reading or answering a request. */
  markBusy(t: AdmissionTicket): void {
    if (!t.linked) return;
    t.linked = false;
    if (t.prev === null) this.oldest = t.next;
    else t.prev.next = t.next;
    if (t.next === null) this.newest = t.prev;
    else t.next.prev = t.prev;
    t.prev = null;
    t.next = null;
    this.idle--;
  }

  /** The connection is gone (or evicted): its counts and head memory are given back. Idempotent. */
  release(t: AdmissionTicket): void {
    if (!t.counted) return;
    this.markBusy(t);
    t.counted = false;
    this.open--;
    this.headMemoryBytes -= t.headBytes;
    t.headBytes = 0;
    const ip = t.ip;
    if (ip !== null) {
      const count = this.perIp.get(ip)! - 1;
      if (count === 0) this.perIp.delete(ip);
      else this.perIp.set(ip, count);
    }
  }

  /**
   * Sets the head memory the connection holds to `bytes`; false (and nothing changes) when growing
   * it would take the process past its head memory.
   */
  holdHead(t: AdmissionTicket, bytes: number): boolean {
    const grow = bytes - t.headBytes;
    if (grow > 0 && this.headMemoryBytes + grow > this.limits.maxHeadMemoryBytes) {
      this.headMemoryRefused++;
      return false;
    }
    if (!t.counted) return true;
    this.headMemoryBytes += grow;
    t.headBytes = bytes;
    return true;
  }

  /** A connection's client reads slower than its answer comes: true when it may buffer beyond its socket's buffer. */
  holdBuffer(): boolean {
    if (this.buffering >= this.limits.maxBufferedResponses) return false;
    this.buffering++;
    return true;
  }

  /** The connection's buffer drained (or it closed): its place is free. */
  releaseBuffer(): void {
    this.buffering--;
  }

  /**
   * A refused connection would be answered: true (and counted until `endRefusal`) while fewer than
   * `maxRefusing` are still closing, false when it must be closed without an answer.
   */
  startRefusal(): boolean {
    if (this.refusing >= (this.limits.maxRefusing ?? MAX_REFUSING)) return false;
    this.refusing++;
    return true;
  }

  /** A refused connection that was being answered has closed. */
  endRefusal(): void {
    this.refusing--;
  }

  /** Open connections from `ip` (for tests and the status details). */
  connectionsFrom(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }
}
