import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { CompiledNode } from '../../snapshot/snapshot.js';
import type { Admission } from '../admission.js';

/** How often idle tunnels are looked for (their idle timeouts are honoured within this). */
const SWEEP_MS = 1_000;

/** Open tunnels of one API and node (for /metrics and the console). */
export interface TunnelCount {
  readonly api: string;
  readonly node: string;
  readonly nodeId: string;
  readonly open: number;
}

/**
 * One upgraded connection (a WebSocket, or any protocol an `Upgrade` switched to): the client's
 * socket and the dedicated socket to the node, piped both ways with backpressure (a side that cannot
 * take more pauses the other). Either side ending ends the other, as nginx does (no half-close), once
 * what it sent and what is queued for the other one are delivered; either side failing closes both;
 * no byte either way for the API's `upgradeIdleMs` closes both. It does not follow the config: a node
 * unticked or ejected later keeps the connections it has (as nginx does).
 */
export class Tunnel {
  lastActivity = performance.now();
  private closed = false;

  constructor(
    private readonly registry: TunnelRegistry,
    readonly api: string,
    readonly node: CompiledNode,
    readonly idleMs: number,
    private readonly client: Duplex,
    private readonly upstream: Socket,
  ) {}

  /** Starts piping; `clientHead`/`upstreamHead` are bytes each side sent before the switch. */
  start(clientHead: Buffer, upstreamHead: Buffer): void {
    const { client, upstream } = this;
    this.registry.add(this);
    this.pipe(client, upstream);
    this.pipe(upstream, client);
    if (clientHead.length > 0) upstream.write(clientHead);
    if (upstreamHead.length > 0) client.write(upstreamHead);
    client.resume();
    upstream.resume();
    // Switched while the gateway drains (its 101 was awaited when the drain began): ended as the others were.
    if (this.registry.ending) this.end();
  }

  private pipe(from: Duplex, to: Duplex): void {
    from.on('data', (chunk: Buffer) => {
      this.lastActivity = performance.now();
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      this.lastActivity = performance.now();
      from.resume();
    });
    from.on('end', () => to.end());
    from.on('error', () => this.close());
    from.on('close', () => this.closedBy(from, to));
  }

  /**
   * `from` closed (both its ways are done): `to` still gets what is queued for it, then its FIN, as
   * nginx flushes before it finalizes; what `to` still sends has nowhere to go and is read and
   * dropped (unread bytes would make the kernel answer with a reset that discards what is queued).
   * The idle sweep bounds the wait: a peer that takes nothing more for `idleMs` is cut.
   */
  private closedBy(from: Duplex, to: Duplex): void {
    if (this.closed) return;
    if (to.destroyed || to.writableFinished || from.errored) {
      this.close();
      return;
    }
    to.removeAllListeners('data');
    to.on('data', () => undefined);
    to.resume();
    to.once('finish', () => this.close());
    to.end();
  }

  /** Ends both sides gracefully (a FIN each way), and cuts them if they linger. */
  end(): void {
    this.client.end();
    this.upstream.end();
    setTimeout(() => this.close(), 1_000).unref();
  }

  /** Closes both sides now, once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
    this.upstream.destroy();
    this.registry.remove(this);
  }
}

/**
 * The open tunnels of this process: counted per API and node (the node's in-flight count includes
 * them, so `least_conn` weighs open WebSockets), swept for idleness, and ended all at once when the
 * gateway drains. Each upgrade's connection to its node holds a place of the admission's connection
 * limit from before it connects until it closes (`reserve`; a tunnel keeps it until `remove`).
 */
export class TunnelRegistry {
  private readonly open = new Set<Tunnel>();
  private sweeper: NodeJS.Timeout | null = null;
  /** The gateway drains (`endAll` was called): a tunnel switched from now on is ended at once. */
  ending = false;

  constructor(
    /** Hears of each tunnel opening (+1) and closing (−1), by node id. */
    private readonly onCount: (nodeId: string, delta: 1 | -1) => void = () => undefined,
    /** Where the upgrades' connections to nodes take their places (none: not bounded). */
    private readonly places: Pick<Admission, 'holdTunnelSocket' | 'releaseTunnelSocket'> | null = null,
  ) {}

  /** An upgrade is about to connect to its node: false when the process has no place for that connection. */
  reserve(): boolean {
    return this.places === null || this.places.holdTunnelSocket();
  }

  /** An upgrade's connection to its node closed without becoming a tunnel: its place is free. */
  unreserve(): void {
    this.places?.releaseTunnelSocket();
  }

  /** Tunnels open now. */
  get size(): number {
    return this.open.size;
  }

  /** A tunnel opened (it holds the place its upgrade reserved). */
  add(tunnel: Tunnel): void {
    this.open.add(tunnel);
    tunnel.node.health.inFlight++;
    this.onCount(tunnel.node.id, 1);
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweeper.unref();
    }
  }

  /** A tunnel closed: its place is free. */
  remove(tunnel: Tunnel): void {
    if (!this.open.delete(tunnel)) return;
    this.unreserve();
    tunnel.node.health.inFlight--;
    this.onCount(tunnel.node.id, -1);
    if (this.open.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  /** Open tunnels by API and node. */
  counts(): TunnelCount[] {
    const byKey = new Map<string, { api: string; node: string; nodeId: string; open: number }>();
    for (const t of this.open) {
      const key = `${t.api}\n${t.node.id}`;
      const entry = byKey.get(key);
      if (entry) entry.open++;
      else byKey.set(key, { api: t.api, node: t.node.name, nodeId: t.node.id, open: 1 });
    }
    return [...byKey.values()];
  }

  /** Ends every tunnel (the gateway is draining: their clients reconnect elsewhere). */
  endAll(): void {
    this.ending = true;
    for (const t of [...this.open]) t.end();
  }

  private sweep(): void {
    const now = performance.now();
    for (const t of [...this.open]) if (now - t.lastActivity >= t.idleMs) t.close();
  }
}
