import { Redis, ReplyError } from 'ioredis';
import type { Logger } from 'pino';
import { parseTakeReply, RedisBadReplyError, RedisUnreachableError, type TakeReply } from './redis-reply.js';

export type { TakeReply } from './redis-reply.js';

/** Whether the cluster rate limits reach Redis, for `/status`. */
export interface RedisStatus {
  /** A Redis URL was given (`--redis`). */
  readonly configured: boolean;
  readonly connected: boolean;
  /** Why not (the last error), null while connected. */
  readonly lastError: string | null;
  /** When it went away (ISO 8601), null while connected. */
  readonly downSince: string | null;
}

/** Options of the Redis link. */
export interface RedisLinkOptions {
  url: string;
  /** Prefix of every key (several isogate clusters, or tests, can share one Redis). */
  prefix: string;
  /** Longest wait for one command; past it Redis counts as unreachable. */
  commandTimeoutMs: number;
  log: Logger;
}

/** How often an unreachable Redis is probed (one probe at a time). */
const PROBE_MS = 500;
/** The key a probe writes (after the link's prefix); it expires at once. */
const PROBE_KEY = 'probe';

/** Delay before reconnect attempt `attempt` (1, 2, …): 100 ms doubling to 2 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 10), 2_000);
}

/**
 * Takes up to `ARGV[3]` tokens from the bucket at KEYS[1] (capacity ARGV[1], refill ARGV[2] tokens
 * per ms) in one step, on Redis's clock so gateways' clocks never matter. Returns the tokens granted,
 * the tokens left (as text: Lua numbers would be truncated to integers) and, when it granted fewer
 * than asked, the ms until the next token. The key expires once the bucket would be full again.
 */
const TAKE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[1], 'tk', 'ts')
local tokens = tonumber(h[1])
local ts = tonumber(h[2])
if tokens == nil or ts == nil then tokens = cap; ts = now end
if now > ts then tokens = math.min(cap, tokens + (now - ts) * rate); ts = now end
local grant = math.min(want, math.floor(tokens))
if grant < 0 then grant = 0 end
tokens = tokens - grant
redis.call('HSET', KEYS[1], 'tk', string.format('%.6f', tokens), 'ts', ts)
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - tokens) / rate) + 1000)
local wait = 0
if grant < want then wait = math.ceil((1 - (tokens - math.floor(tokens))) / rate) end
return { grant, string.format('%.6f', tokens), wait }
`;

type TakeCommand = (key: string, capacity: number, refillPerMs: string, want: number) => Promise<unknown>;

/**
 * The gateway process's one connection to Redis for cluster rate limits (ioredis): commands fail at
 * once while it is down (offline queue off), each has a timeout, and a failure marks Redis down.
 * A timeout or an I/O error also drops the connection (a reply that never came would otherwise
 * answer the next command); an error reply (READONLY, OOM, LOADING, BUSY, …) or a malformed reply
 * keeps it: the connection is fine, Redis is not usable. While down, a probe every 500 ms finds it
 * back: a write (`SET <prefix>probe 1 PX 1000`), or the take script itself on the probe key once the
 * script failed with an error reply, so a replica or a full Redis stays down. Reconnects back off
 * (100 ms doubling to 2 s) on this link's own attempt count, reset only when a probe succeeded.
 */
export class RedisLink {
  private readonly client: Redis & { isogateTake: TakeCommand };
  private up = false;
  private lastError: string | null = 'not connected yet';
  private downSince: string | null = new Date().toISOString();
  private probing: NodeJS.Timeout | null = null;
  private closed = false;
  /** Reconnect attempts since a probe last succeeded (ioredis resets its own count on every connect). */
  private attempts = 0;
  /** The take script failed with an error reply: only the script itself proves Redis usable again. */
  private probeScript = false;

  constructor(private readonly options: RedisLinkOptions) {
    const client = new Redis(options.url, {
      keyPrefix: options.prefix,
      enableOfflineQueue: false,
      // A ready check's INFO lost to a silent cut would hang the connection; the probe does its job.
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(500, options.commandTimeoutMs * 4),
      retryStrategy: () => reconnectDelayMs(++this.attempts),
      lazyConnect: false,
    });
    client.defineCommand('isogateTake', { numberOfKeys: 1, lua: TAKE_LUA });
    client.on('error', (err: Error) => this.failed(err, false));
    client.on('ready', () => this.probe());
    this.client = client as Redis & { isogateTake: TakeCommand };
    this.startProbing();
  }

  /** Whether commands are sent now (false: callers fall back at once). */
  get connected(): boolean {
    return this.up;
  }

  /** What `/status` shows of this link. */
  status(): RedisStatus {
    return {
      configured: true,
      connected: this.up,
      lastError: this.up ? null : this.lastError,
      downSince: this.up ? null : this.downSince,
    };
  }

  /** Takes up to `want` tokens; rejects at once while Redis is down. */
  async take(key: string, capacity: number, refillPerMs: number, want: number): Promise<TakeReply> {
    if (!this.up) throw new RedisUnreachableError(`Redis unreachable: ${this.lastError ?? 'unknown'}`);
    try {
      return parseTakeReply(await this.client.isogateTake(key, capacity, refillPerMs.toPrecision(17), want), want);
    } catch (err) {
      if (err instanceof ReplyError) this.probeScript = true;
      this.failed(err as Error, dropsConnection(err));
      throw err;
    }
  }

  /** Closes the connection; the link stays down. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.probing) clearInterval(this.probing);
    this.client.disconnect(false);
  }

  private failed(err: Error, reconnect: boolean): void {
    const message = err.message || String(err);
    if (this.up)
      this.options.log.warn(
        { err: message },
        "Redis unreachable: cluster rate limits fall back to each limit's onRedisDown",
      );
    if (this.up || this.downSince === null) this.downSince = new Date().toISOString();
    this.up = false;
    this.lastError = message;
    if (reconnect && !this.closed) this.client.disconnect(true);
    this.startProbing();
  }

  private startProbing(): void {
    if (this.probing || this.closed) return;
    this.probing = setInterval(() => this.probe(), PROBE_MS);
    this.probing.unref();
  }

  private probeInFlight = false;

  private probe(): void {
    if (this.up || this.probeInFlight || this.closed || this.client.status !== 'ready') return;
    this.probeInFlight = true;
    const probe = this.probeScript
      ? this.client.isogateTake(PROBE_KEY, 1, '1', 0).then((reply) => parseTakeReply(reply, 0))
      : this.client.set(PROBE_KEY, '1', 'PX', 1_000);
    probe.then(
      () => {
        this.probeInFlight = false;
        if (this.closed) return;
        this.up = true;
        this.lastError = null;
        this.downSince = null;
        this.attempts = 0;
        this.probeScript = false;
        if (this.probing) clearInterval(this.probing);
        this.probing = null;
        this.options.log.info('Redis reachable: cluster rate limits shared again');
      },
      (err: Error) => {
        this.probeInFlight = false;
        this.failed(err, dropsConnection(err));
      },
    );
  }
}

/** Whether a failed command leaves the connection unusable: a timeout or an I/O error, not a reply (an error reply or a malformed one) that did come. */
function dropsConnection(err: unknown): boolean {
  return !(err instanceof ReplyError) && !(err instanceof RedisBadReplyError);
}
