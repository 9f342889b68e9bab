import type { Logger } from 'pino';
import { LogBudget } from '../log-budget.js';

/** A socket the budget can list while it is idle, and close to make room (`UpstreamConnection`). */
export interface IdleSocket {
  /** Links in the budget's list of idle sockets (null while not listed). */
  idlePrev: IdleSocket | null;
  idleNext: IdleSocket | null;
  idleListed: boolean;
  /** Closes the socket; its pool forgets it, which gives its place in the budget back. */
  destroy(): void;
}

/** A pool with requests that wait for a place in the budget (`UpstreamPool`). */
export interface BudgetWaiter {
  /** A place is free: open a connection for the first waiting request if it still waits for one. */
  placeFree(): void;
}

/** What the budget counts, read at scrape time. */
export interface SocketBudgetStats {
  /** Most upstream sockets open at once (Infinity: no open-file limit could be read). */
  readonly limit: number;
  /** Upstream sockets open now (connecting, busy or idle). */
  readonly open: number;
  /** Of those, idle keep-alive sockets. */
  readonly idle: number;
  /** Idle sockets closed to make room for a new connection to another node. */
  readonly evicted: number;
  /** Connects that failed because the process (EMFILE) or the system (ENFILE) had no file left. */
  readonly outOfFiles: number;
}

/**
 * The upstream sockets of one process, all pools together, within `limit` (derived from the open-file
 * limit, docs/edge-limits.md): a pool takes a place before it opens a connection and gives it back when
 * the connection is gone. With no place free, the idle socket unused the longest (of any pool) is
 * closed for the new one; with none idle, the pool's request waits and the pool is told when a place
 * frees. Taking and giving back a place is a counter; the idle sockets are an intrusive list (oldest
 * first), so listing one and taking it off are O(1) and allocate nothing.
 */
export class SocketBudget implements SocketBudgetStats {
  open = 0;
  idle = 0;
  evicted = 0;
  outOfFiles = 0;
  /** The idle socket unused the longest, and the one unused the shortest. */
  private oldest: IdleSocket | null = null;
  private newest: IdleSocket | null = null;
  /** Pools with requests waiting for a place, in the order they started waiting. */
  private readonly waiters = new Set<BudgetWaiter>();
  /** A place is being made for a caller of `take`: the place a closed socket gives back is not handed on. */
  private making = false;

  constructor(
    readonly limit: number,
    private readonly onOutOfFiles: (err: Error) => void = () => {},
  ) {}

  /** True when pools wait for a place: a socket that falls idle is closed for them rather than kept. */
  get contended(): boolean {
    return this.waiters.size > 0;
  }

  /**
   * Takes a place for a new socket: true when one was free or an idle socket was closed for it, false
   * when every place is held by a busy socket (the caller's request waits, see `wait`).
   */
  take(): boolean {
    if (this.open < this.limit) {
      this.open++;
      return true;
    }
    const lru = this.oldest;
    if (lru === null) return false;
    this.evicted++;
    this.making = true;
    try {
      lru.destroy();
    } finally {
      this.making = false;
    }
    // A socket already forgotten by its pool would not have given its place back.
    if (this.open >= this.limit) return false;
    this.open++;
    return true;
  }

  /** Gives back a place (its socket is gone); the caller then starts its own waiting request or calls `handOn`. */
  give(): void {
    this.open--;
  }

  /** Hands free places to waiting pools, oldest waiter first. */
  handOn(): void {
    if (this.making) return;
    while (this.open < this.limit && this.waiters.size > 0) {
      const waiter = this.waiters.values().next().value as BudgetWaiter;
      this.waiters.delete(waiter);
      waiter.placeFree();
    }
  }

  /** `pool` has a request waiting for a place (a pool already waiting keeps its turn). */
  wait(pool: BudgetWaiter): void {
    this.waiters.add(pool);
  }

  /** `pool` waits no more (it is closed). */
  leave(pool: BudgetWaiter): void {
    this.waiters.delete(pool);
  }

  /** Lists a socket that fell idle, as the most recently used. */
  listIdle(socket: IdleSocket): void {
    if (socket.idleListed) return;
    socket.idleListed = true;
    socket.idlePrev = this.newest;
    socket.idleNext = null;
    if (this.newest !== null) this.newest.idleNext = socket;
    else this.oldest = socket;
    this.newest = socket;
    this.idle++;
  }

  /** Takes a socket off the idle list (it is reused or gone); nothing when it is not listed. */
  unlistIdle(socket: IdleSocket): void {
    if (!socket.idleListed) return;
    socket.idleListed = false;
    const { idlePrev: prev, idleNext: next } = socket;
    if (prev !== null) prev.idleNext = next;
    else this.oldest = next;
    if (next !== null) next.idlePrev = prev;
    else this.newest = prev;
    socket.idlePrev = null;
    socket.idleNext = null;
    this.idle--;
  }

  /** A connect failed for want of files (EMFILE, ENFILE): counted and reported (the node is not at fault). */
  noFiles(err: Error): void {
    this.outOfFiles++;
    this.onOutOfFiles(err);
  }
}

/** A budget with no limit (tests, and processes whose open-file limit cannot be read). */
export function unlimitedBudget(): SocketBudget {
  return new SocketBudget(Infinity);
}

/** How often, at most, a connect that failed for want of files is logged (each one is counted in /metrics). */
export const OUT_OF_FILES_LOG_MS = 60_000;

/**
 * Logs connects that failed because the process (EMFILE) or the system (ENFILE) had no file left: at
 * once, then at most once a minute with how many failed meanwhile. Its own line: the node is fine.
 */
export function outOfFilesLog(
  log: Logger,
  openFileLimit: number | null,
  now: () => number = () => performance.now(),
): (err: Error) => void {
  const budget = new LogBudget({ burst: 1, everyMs: OUT_OF_FILES_LOG_MS, now });
  return (err) => {
    const skipped = budget.take();
    if (skipped === null) return;
    log.error(
      {
        code: 'GATEWAY_OUT_OF_FILES',
        cause: (err.cause as NodeJS.ErrnoException | undefined)?.code,
        openFileLimit,
        failedConnects: skipped + 1,
      },
      'out of open files: connections to nodes cannot be made (not held against the nodes); raise the open-file limit (ulimit -n, LimitNOFILE)',
    );
  };
}
