import type { LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import { LogBudget } from '../log-budget.js';
import { DnsQueueFullError, DnsTimeoutError, dnsFailure, type DnsError } from './dns-errors.js';
import type { DnsAddress, DnsBackend } from './dns-query.js';

/** How a NodeResolver caches and bounds its lookups. */
export interface ResolverOptions {
  /** How long an answer is fresh (a record's TTL is honoured within [1 s, validMs]). */
  validMs: number;
  /** How long past that the last good answer still serves while refreshes fail. */
  staleMs: number;
  /** Longest wait for one lookup. */
  timeoutMs: number;
  /** Names kept at most; past it the least recently answered is dropped. */
  maxNames?: number;
  /** Names waiting for a lookup slot at most; past it a lookup fails with DnsQueueFullError. */
  maxQueued?: number;
  log?: Logger | null;
  /** The clock, ms (performance.now unless given). */
  now?: () => number;
}

/** How each lookup of a connection was answered. */
export type LookupOutcome = 'fresh' | 'refreshing' | 'stale' | 'resolved' | 'failed';

/** How each DNS query ended. */
export type QueryResult = 'ok' | 'not_found' | 'timeout' | 'error';

/** A resolver's counters, for the metrics. */
export interface ResolverStats {
  readonly lookups: Readonly<Record<LookupOutcome, number>>;
  readonly queries: Readonly<Record<QueryResult, number>>;
  /** Names cached now. */
  readonly names: number;
}

type Answer = (err: DnsError | null, addresses: readonly DnsAddress[] | null) => void;

/** One name's cache entry. */
interface Entry {
  readonly name: string;
  addresses: readonly DnsAddress[] | null;
  freshUntil: number;
  staleUntil: number;
  /** A query for the name runs or waits for a slot. */
  querying: boolean;
  /** The last query failed (what serves is stale). */
  failing: boolean;
  /** No background refresh before this (after a failure); nor, with nothing to serve, a new query. */
  retryAt: number;
  /** Why the last query failed, answered again until `retryAt` when nothing is left to serve (a negative cache). */
  lastError: DnsError | null;
  /** Connections waiting for the query (nothing usable was cached). */
  waiters: Answer[];
  /** Rotation: the address the next connection starts with. */
  next: number;
}

/** One query of a name, from its start (perhaps queued) to its answer or its time bound. */
interface Attempt {
  readonly entry: Entry;
  settled: boolean;
  readonly timer: NodeJS.Timeout;
}

/** Names cached at most by default. */
export const MAX_NAMES = 4096;
/** Names waiting for a lookup slot at most by default. */
export const MAX_QUEUED = 1024;
/** A record's TTL is never taken as shorter than this. */
const MIN_TTL_MS = 1_000;
/** How often entries past their stale window (names no node uses any more) are dropped. */
const SWEEP_MS = 60_000;

/**
 * The node-name resolver of a gateway process, used by every connection it makes to a node: a cache
 * per name (fresh for its TTL within [1 s, validMs]), one query per name however many connections
 * wait for it, at most `backend.maxInFlight` queries at once and a bounded queue behind them, each
 * query bounded by `timeoutMs`. An answer past its validity keeps serving while it is refreshed in the
 * background, and for up to `staleMs` while refreshes fail (retried at most every few seconds, a
 * warning at most once a minute per name), as Envoy's and APISIX's DNS caches do. Several addresses
 * are rotated per new connection, as nginx does. IP literals never come here (net skips `lookup`).
 */
export class NodeResolver {
  readonly #entries = new Map<string, Entry>();
  readonly #queue: Attempt[] = [];
  #running = 0;
  readonly #lookups: Record<LookupOutcome, number> = { fresh: 0, refreshing: 0, stale: 0, resolved: 0, failed: 0 };
  readonly #queries: Record<QueryResult, number> = { ok: 0, not_found: 0, timeout: 0, error: 0 };
  readonly #warnings = new LogBudget({ burst: 1, everyMs: 60_000, maxKeys: MAX_NAMES });
  readonly #sweeper: NodeJS.Timeout;
  readonly #now: () => number;
  readonly #maxNames: number;
  readonly #maxQueued: number;
  /** After a failed refresh, the next one waits this long. */
  readonly #retryMs: number;

  constructor(
    readonly backend: DnsBackend,
    private readonly options: ResolverOptions,
  ) {
    this.#now = options.now ?? (() => performance.now());
    this.#maxNames = options.maxNames ?? MAX_NAMES;
    this.#maxQueued = options.maxQueued ?? MAX_QUEUED;
    this.#retryMs = Math.min(options.validMs, 5_000);
    this.#sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.#sweeper.unref();
  }

  /** `net.connect`'s `lookup` option (also undici's `connect.lookup`): answers from the cache. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.resolve(hostname, (err, addresses) => {
      if (err !== null) return callback(err, '', 4);
      let list = addresses!;
      if (options.family === 4 || options.family === 6) {
        const family = options.family;
        list = list.filter((a) => a.family === family);
        if (list.length === 0) return callback(dnsFailure(hostname, { code: 'ENODATA' }, 0), '', 4);
      }
      if (options.all) (callback as (e: null, a: readonly DnsAddress[]) => void)(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    });
  };

  /** The addresses for `name`, the one to use first in front; `answer` is always called asynchronously. */
  resolve(name: string, answer: Answer): void {
    const now = this.#now();
    let e = this.#entries.get(name);
    if (e !== undefined && e.addresses !== null && now < e.staleUntil) {
      const outcome = now < e.freshUntil ? 'fresh' : e.failing ? 'stale' : 'refreshing';
      this.#lookups[outcome]++;
      if (outcome !== 'fresh' && !e.querying && now >= e.retryAt) this.#start(e);
      const list = rotated(e);
      process.nextTick(answer, null, list);
      return;
    }
    if (e !== undefined && e.lastError !== null && !e.querying && now < e.retryAt) {
      // Failed a moment ago with nothing to serve: the same answer, not one query per new connection.
      this.#lookups.failed++;
      process.nextTick(answer, e.lastError, null);
      return;
    }
    if (e === undefined) {
      e = {
        name,
        addresses: null,
        freshUntil: 0,
        staleUntil: 0,
        querying: false,
        failing: false,
        retryAt: 0,
        lastError: null,
        waiters: [],
        next: 0,
      };
      this.#insert(e);
    }
    e.waiters.push(answer);
    if (!e.querying) this.#start(e);
  }

  /** The resolver's counters. */
  stats(): ResolverStats {
    return { lookups: { ...this.#lookups }, queries: { ...this.#queries }, names: this.#entries.size };
  }

  /** Queries running now, and names waiting for a slot. */
  get inFlight(): { running: number; queued: number } {
    return { running: this.#running, queued: this.#queue.length };
  }

  /** Drops entries past their stale window with nothing waiting (names of deleted nodes age out). */
  sweep(now = this.#now()): void {
    for (const [name, e] of this.#entries)
      if (!e.querying && e.waiters.length === 0 && now >= e.staleUntil) this.#entries.delete(name);
  }

  /** Stops the sweeper (queries in flight end on their own). */
  close(): void {
    clearInterval(this.#sweeper);
  }

  #insert(e: Entry): void {
    if (this.#entries.size >= this.#maxNames) {
      // The least recently answered goes (answers re-insert); a query it has running still answers its waiters.
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(e.name, e);
  }

  /** Starts a query for `e` now, or queues it; its time bound covers the wait in the queue. */
  #start(e: Entry): void {
    if (this.#running >= this.backend.maxInFlight && this.#queue.length >= this.#maxQueued) {
      this.#failed(e, new DnsQueueFullError(e.name, this.#queue.length), false);
      return;
    }
    e.querying = true;
    const ms = this.options.timeoutMs;
    const attempt: Attempt = {
      entry: e,
      settled: false,
      timer: setTimeout(() => {
        attempt.settled = true;
        const i = this.#queue.indexOf(attempt);
        if (i >= 0) this.#queue.splice(i, 1);
        this.#queries.timeout++;
        this.#failed(e, new DnsTimeoutError(e.name, ms), true);
      }, ms).unref(),
    };
    if (this.#running < this.backend.maxInFlight) this.#run(attempt);
    else this.#queue.push(attempt);
  }

  #run(attempt: Attempt): void {
    const e = attempt.entry;
    this.#running++;
    // The slot is held until the backend really returns (a getaddrinfo past the bound still holds a thread).
    this.backend
      .query(e.name)
      .then(
        (answer) => {
          if (!attempt.settled) {
            this.#settle(attempt);
            this.#queries.ok++;
          } else if (e.querying) return; // timed out, and a newer query runs: its answer counts
          // A late answer (past the bound) is still a good one for the next connections.
          this.#answered(e, answer.addresses, answer.ttlMs);
        },
        (err: unknown) => {
          if (attempt.settled) return;
          this.#settle(attempt);
          const failure = dnsFailure(e.name, err, this.options.timeoutMs);
          const code = failure.code;
          this.#queries[code === 'DNS_NOT_FOUND' ? 'not_found' : code === 'DNS_TIMEOUT' ? 'timeout' : 'error']++;
          this.#failed(e, failure, true);
        },
      )
      .finally(() => {
        this.#running--;
        this.#next();
      });
  }

  #settle(attempt: Attempt): void {
    attempt.settled = true;
    clearTimeout(attempt.timer);
  }

  /** Gives a freed slot to the first queued name. */
  #next(): void {
    while (this.#running < this.backend.maxInFlight && this.#queue.length > 0) this.#run(this.#queue.shift()!);
  }

  #answered(e: Entry, addresses: readonly DnsAddress[], ttlMs: number | null): void {
    const now = this.#now();
    const validMs = this.options.validMs;
    const freshMs = ttlMs === null ? validMs : Math.min(validMs, Math.max(MIN_TTL_MS, ttlMs));
    e.addresses = addresses;
    e.freshUntil = now + freshMs;
    e.staleUntil = e.freshUntil + this.options.staleMs;
    e.querying = false;
    e.failing = false;
    e.retryAt = 0;
    e.lastError = null;
    // Most recently answered last, so the bound drops the least recently answered first.
    if (this.#entries.get(e.name) === e) {
      this.#entries.delete(e.name);
      this.#entries.set(e.name, e);
    }
    const waiters = e.waiters.splice(0);
    this.#lookups.resolved += waiters.length;
    for (const answer of waiters) answer(null, rotated(e));
  }

  #failed(e: Entry, err: DnsError, ran: boolean): void {
    const now = this.#now();
    e.querying = false;
    e.failing = true;
    e.retryAt = now + this.#retryMs;
    const usable = e.addresses !== null && now < e.staleUntil;
    // A full queue says nothing of the name: only an answer (or its absence) is cached.
    if (ran) e.lastError = err;
    const waiters = e.waiters.splice(0);
    if (usable) this.#lookups.stale += waiters.length;
    else this.#lookups.failed += waiters.length;
    for (const answer of waiters) answer(usable ? null : err, usable ? rotated(e) : null);
    if (ran || waiters.length > 0) this.#warn(e, err, usable);
  }

  #warn(e: Entry, err: DnsError, usable: boolean): void {
    const log = this.options.log;
    if (log == null) return;
    const skipped = this.#warnings.take(e.name);
    if (skipped === null) return;
    const fields = { name: e.name, code: err.code, reason: err.message, notLogged: skipped };
    if (usable)
      log.warn(
        { ...fields, staleForMs: Math.max(0, Math.round(e.staleUntil - this.#now())) },
        'DNS lookup failed; the last addresses of the name keep serving',
      );
    else log.warn(fields, 'DNS lookup failed and no earlier answer is left; connections to the name fail');
  }
}

/** The entry's addresses starting at its next one (the same array when there is one address). */
function rotated(e: Entry): readonly DnsAddress[] {
  const list = e.addresses!;
  if (list.length === 1) return list;
  const i = e.next++ % list.length;
  return i === 0 ? list : [...list.slice(i), ...list.slice(0, i)];
}
