import pg from 'pg';
import type { Logger } from 'pino';
import { CONFIG_CHANNEL } from './connection.js';
import type { HealthTracker } from './health.js';
import { describe } from './unavailable.js';

/** Reconnect delays of a listener: `initialMs` doubling per failed attempt, capped at `maxMs`. */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** What a listener is built from. */
export interface ListenerOptions {
  /** Config of its dedicated connection (search_path set to the store's schema). */
  readonly config: pg.ClientConfig;
  readonly backoff: Backoff;
  /** How often the idle connection is checked. */
  readonly heartbeatMs: number;
  /**
   * How long a statement on the connection (the set-up after each connect, a heartbeat) may go
   * unanswered before the connection counts as lost and is made anew.
   */
  readonly answerTimeoutMs: number;
  readonly health: HealthTracker;
  readonly log: Logger;
  readonly onVersion: (version: number) => void;
}

/** The delay before reconnect attempt `attempt` (0-based): exponential, capped, with jitter so many gateways spread out. */
export function backoffDelay(backoff: Backoff, attempt: number): number {
  const exponential = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(exponential * (0.8 + 0.2 * Math.random()));
}

/**
 * One dedicated connection that LISTENs for config changes of one schema and reports their versions.
 * When the connection drops (or fails its heartbeat) it reconnects with backoff, and after every
 * (re)connect reports the current version, read after LISTEN took effect, so a change committed
 * while it was away is never missed.
 */
export class ConfigListener {
  private client: pg.Client | null = null;
  /** The schema whose notifications count, learned from the connection itself. */
  private schema: string | null = null;
  private stopped = false;
  private attempt = 0;
  private everConnected = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastDelivered: number | null = null;

  constructor(private readonly options: ListenerOptions) {}

  /** Starts connecting; failures are retried in the background until `stop`. */
  start(): void {
    void this.connect();
  }

  /** Stops listening and closes the connection; idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.stopHeartbeat();
    const client = this.client;
    this.client = null;
    if (client) void client.end().catch(() => undefined);
    this.options.health.listenerRemoved(this);
  }

  private async connect(): Promise<void> {
    this.reconnectTimer = null;
    if (this.stopped) return;
    const client = new pg.Client(this.options.config);
    this.client = client;
    let lost = false;
    const onLost = (err?: unknown): void => {
      if (lost) return;
      lost = true;
      this.lost(client, err);
    };
    // Listeners stay attached for the client's life: an 'error' without one would crash the process.
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (msg) => this.notified(msg));
    try {
      await client.connect();
      // Bounded like a heartbeat: a server (or network) that goes silent right after the connect
      // would otherwise leave this listener waiting forever, neither listening nor reconnecting, and
      // (on a first connect) never reported down.
      const version = await this.answered(this.setUp(client), 'setting up LISTEN');
      if (lost || this.stopped || this.client !== client) return;
      this.attempt = 0;
      this.options.health.listenerUp(this);
      if (this.everConnected) this.options.log.info({ version }, 'store listener reconnected');
      this.everConnected = true;
      this.startHeartbeat(client, onLost);
      this.deliver(version, true);
    } catch (err) {
      onLost(err);
    }
  }

  /** Learns the connection's schema, LISTENs, then reads the version (after LISTEN, so no commit falls between). */
  private async setUp(client: pg.Client): Promise<number> {
    const { rows } = await client.query<{ s: string | null }>('SELECT current_schema() AS s');
    this.schema = rows[0]?.s ?? null;
    await client.query(`LISTEN ${CONFIG_CHANNEL}`);
    // Anything committed later is notified, anything earlier is in this version.
    return readVersion(client);
  }

  /** `work`, or a rejection when it does not settle within the answer timeout. */
  private answered<T>(work: Promise<T>, what: string): Promise<T> {
    const ms = this.options.answerTimeoutMs;
    let timeout: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => {
      timeout = setTimeout(() => reject(new Error(`${what} got no answer within ${ms} ms`)), ms);
    });
    work.catch(() => undefined); // its late failure, once the timeout won, is not news
    return Promise.race([work, hang]).finally(() => clearTimeout(timeout));
  }

  private lost(client: pg.Client, err: unknown): void {
    if (this.client !== client) return;
    this.client = null;
    this.stopHeartbeat();
    void client.end().catch(() => undefined);
    if (this.stopped) return;
    const message = err === undefined ? 'connection closed' : describe(err);
    this.options.health.listenerDown(this, message);
    const delay = backoffDelay(this.options.backoff, this.attempt++);
    this.options.log.warn({ err: message, retryInMs: delay }, 'store listener disconnected; reconnecting');
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
    // A pending reconnect alone should not keep the process alive.
    this.reconnectTimer.unref();
  }

  private notified(msg: pg.Notification): void {
    if (msg.channel !== CONFIG_CHANNEL || msg.payload === undefined) return;
    const at = msg.payload.lastIndexOf(':');
    if (at < 0 || msg.payload.slice(0, at) !== this.schema) return;
    const version = Number(msg.payload.slice(at + 1));
    if (Number.isSafeInteger(version)) this.deliver(version, true);
  }

  /** Checks the idle connection now and then; a check that fails or hangs counts as a lost connection. */
  private startHeartbeat(client: pg.Client, onLost: (err?: unknown) => void): void {
    let inFlight = false;
    this.heartbeatTimer = setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      this.answered(readVersion(client), 'heartbeat')
        // Doubles as a version check, in case a notification was ever missed.
        .then((version) => this.deliver(version, false), onLost)
        .finally(() => {
          inFlight = false;
        });
    }, this.options.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** Reports a version; a heartbeat's only when it moved, so an idle store does not wake callers. */
  private deliver(version: number, always: boolean): void {
    if (this.stopped || (!always && version === this.lastDelivered)) return;
    this.lastDelivered = version;
    try {
      this.options.onVersion(version);
    } catch (err) {
      this.options.log.error({ err }, 'store watch callback threw');
    }
  }
}

async function readVersion(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ config_version: number }>('SELECT config_version FROM meta WHERE id = 1');
  const version = rows[0]?.config_version;
  if (version === undefined) throw new Error('the store schema has no meta row; is it migrated?');
  return version;
}
