import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { PRUNE_AFTER_MS, type ProcessBeat, type ProcessRole, type ProcessServes } from '../../model/cluster.js';
import type { Store } from '../../store/store.js';

/** How often a process checks whether its applied config version moved, to report it without waiting a whole interval. */
const VERSION_CHECK_MS = 100;
/** Every this many beats a process also prunes long-dead rows (cheap: an indexed DELETE). */
const PRUNE_EVERY_BEATS = 12;
/** How long stopping waits for the row's removal before leaving it to go stale. */
const REMOVE_TIMEOUT_MS = 2_000;

/** Who a process is in the cluster view. */
export interface HeartbeatIdentity {
  /** The row id; a fresh random one when not given (workers get theirs from the primary). */
  id?: string;
  role: ProcessRole;
  worker: number | null;
  serves: ProcessServes;
}

/** What a heartbeat is built from. */
export interface HeartbeatOptions extends HeartbeatIdentity {
  store: Store;
  intervalMs: number;
  /** The config version the process applies now (null before its first load). */
  version: () => number | null;
  log: Logger;
  /** Rows not seen for this long are pruned (default PRUNE_AFTER_MS). */
  pruneAfterMs?: number;
}

/**
 * Registers this process in the store's cluster view and keeps its row fresh: every `intervalMs`,
 * and at once when the applied config version moves. A failed beat (store down) is logged once
 * per outage and retried on the next tick; it never fails the process. Stopping removes the row.
 */
export class Heartbeat {
  /** The process's row id. */
  readonly id: string;
  private readonly startedAt = new Date().toISOString();
  private timer: NodeJS.Timeout | null = null;
  private versionTimer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private again = false;
  /** The version of the last beat tried (succeeded or not): a down store is retried per interval, not per check. */
  private reported: number | null | undefined = undefined;
  private beats = 0;
  private failing = false;
  private stopped = false;

  constructor(private readonly options: HeartbeatOptions) {
    this.id = options.id ?? randomUUID();
  }

  /** Beats now and keeps beating until `stop`. */
  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.options.intervalMs);
    this.versionTimer = setInterval(
      () => {
        if (this.options.version() !== this.reported) void this.beat();
      },
      Math.min(VERSION_CHECK_MS, this.options.intervalMs),
    );
    // Heartbeats alone must not keep a stopping process alive.
    this.timer.unref();
    this.versionTimer.unref();
  }

  /** Stops beating and removes the row (bounded: a store that is down leaves it to go stale). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.versionTimer) clearInterval(this.versionTimer);
    await this.inFlight;
    let timeout: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timeout = setTimeout(resolve, REMOVE_TIMEOUT_MS);
    });
    await Promise.race([
      this.options.store
        .removeProcess(this.id)
        .catch((err) =>
          this.options.log.warn(
            { err: (err as Error).message },
            'could not remove this process from the cluster view; it will show as stale',
          ),
        ),
      gaveUp,
    ]);
    clearTimeout(timeout);
  }

  /** One beat; a beat asked for while one is in flight runs right after it, so the latest version is reported. */
  private beat(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = (async () => {
      do {
        this.again = false;
        await this.beatOnce();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async beatOnce(): Promise<void> {
    const { store, log } = this.options;
    const version = this.options.version();
    const beat: ProcessBeat = {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      role: this.options.role,
      worker: this.options.worker,
      serves: this.options.serves,
      startedAt: this.startedAt,
      configVersion: version,
      heartbeatMs: this.options.intervalMs,
    };
    this.reported = version;
    try {
      await store.heartbeat(beat);
      if (this.failing) log.info({ id: this.id }, 'cluster heartbeat resumed');
      this.failing = false;
      if (++this.beats % PRUNE_EVERY_BEATS === 1)
        await store.pruneProcesses(this.options.pruneAfterMs ?? PRUNE_AFTER_MS);
    } catch (err) {
      if (!this.failing)
        log.warn({ err: (err as Error).message, id: this.id }, 'cluster heartbeat failed; retrying every interval');
      this.failing = true;
    }
  }
}

/** Environment variable with a worker's cluster identity (`{ id, role, worker }`), set by the primary. */
export const WORKER_IDENTITY_ENV = 'ISOGATE_WORKER_IDENTITY';
