import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { HostCommand } from './host-command.js';
import { HostProcess, type HostEvents, type HostExit, type Op } from './host-process.js';

/** Serving host processes at most, by default; beyond it APIs share hosts. */
export const DEFAULT_MAX_HOSTS = 8;
/**
 * A host late past a request's own limit is killed as hung once it has also burnt this much CPU
 * without answering (a host starved of CPU by a busy machine is slow, not hung).
 */
export const DEFAULT_HANG_GRACE_MS = 2000;
/** Late this long without answering, a host is killed whatever its CPU use (stuck in a wait). */
export const HANG_WALL_LIMIT_MS = 15_000;
/** USER_HZ of /proc/<pid>/stat on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;
/** How often hosts are checked for a hung request. */
const WATCHDOG_INTERVAL_MS = 100;
/** Backoff after a host fails to start: first delay, doubling up to the ceiling. */
const START_BACKOFF_FIRST_MS = 250;
const START_BACKOFF_MAX_MS = 30_000;

/** What a host process is for. */
export type HostRole = { kind: 'serving'; slot: number } | { kind: 'trial' } | { kind: 'spare' };

/** Host events with the role of the host that sent them; onExit also gets the role it had. */
export interface PoolEvents<T extends Op> extends Omit<HostEvents<T>, 'onExit' | 'onReady'> {
  onExit(host: HostProcess<T>, role: HostRole | null, unanswered: T[], exit: HostExit): void;
}

/** Pool settings. */
export interface PoolOptions {
  command: HostCommand;
  maxHosts: number;
  hangGraceMs: number;
}

/**
 * The sandbox host processes: one per API up to `maxHosts` (then APIs share by a stable hash), a
 * warm spare that replaces a dead host at once, and a separate host for admin trials. Restarts after
 * failed starts back off; a watchdog kills a host whose oldest request overruns its limit.
 */
export class HostPool<T extends Op> {
  private readonly slots: Array<HostProcess<T> | null>;
  private readonly slotOfApi = new Map<string, number>();
  private readonly roles = new Map<HostProcess<T>, HostRole>();
  private spare: HostProcess<T> | null = null;
  private trialHost: HostProcess<T> | null = null;
  private startFailures = 0;
  private retryAt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly watchdog: NodeJS.Timeout;
  private closed = false;
  /** Every host not yet exited, with the promise of its exit. */
  private readonly running = new Map<HostProcess<T>, { exited: Promise<void>; resolve: () => void }>();
  private readyWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private readonly hostEvents: HostEvents<T>;
  /** CPU time of a late host when it was first seen late, until it answers. */
  private readonly lateSince = new Map<HostProcess<T>, { progressAt: number; cpuMs: number | null }>();

  constructor(
    private readonly options: PoolOptions,
    private readonly events: PoolEvents<T>,
  ) {
    this.slots = new Array<HostProcess<T> | null>(options.maxHosts).fill(null);
    this.hostEvents = {
      onOk: events.onOk,
      onFailed: events.onFailed,
      onAck: events.onAck,
      onTrial: events.onTrial,
      onConsole: events.onConsole,
      onStateful: events.onStateful,
      onOversized: events.onOversized,
      onReady: () => this.onReady(),
      onExit: (h, unanswered, exit) => this.onExit(h, unanswered, exit),
    };
    this.watchdog = setInterval(() => this.checkHung(), WATCHDOG_INTERVAL_MS);
    this.watchdog.unref();
  }

  /** Starts the spare and waits until it is ready; rejects when hosts cannot start at all. */
  start(): Promise<void> {
    this.ensureSpare();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** The slot serving `apiId`: its own while slots are free, else one shared by hash. */
  slotFor(apiId: string): number {
    let slot = this.slotOfApi.get(apiId);
    if (slot === undefined) {
      slot = this.slotOfApi.size < this.slots.length ? this.slotOfApi.size : hash(apiId) % this.slots.length;
      this.slotOfApi.set(apiId, slot);
    }
    return slot;
  }

  /** The live host of a slot, or null when it has none yet (or its host died). */
  hostOf(slot: number): HostProcess<T> | null {
    return this.slots[slot] ?? null;
  }

  /** Gives a slot a host (the spare when there is one); null while starts are backing off. */
  attach(slot: number): HostProcess<T> | null {
    const current = this.slots[slot];
    if (current) return current;
    const host = this.takeSpare();
    if (host === null) return null;
    this.slots[slot] = host;
    this.roles.set(host, { kind: 'serving', slot });
    return host;
  }

  /** The host for trials, started on first use; null while starts are backing off. */
  trial(): HostProcess<T> | null {
    if (this.trialHost !== null) return this.trialHost;
    const host = this.spawn();
    if (host === null) return null;
    this.trialHost = host;
    this.roles.set(host, { kind: 'trial' });
    return host;
  }

  /** Process ids of the serving hosts by slot (null: none), the spare and the trial host. */
  describe(): { slots: Array<number | null>; spare: number | null; trial: number | null } {
    return {
      slots: this.slots.map((h) => h?.pid ?? null),
      spare: this.spare?.pid ?? null,
      trial: this.trialHost?.pid ?? null,
    };
  }

  /** Kills every host; resolves once all have exited (their onExit has run). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    for (const waiter of this.readyWaiters) waiter.reject(new Error('selector sandbox closed'));
    this.readyWaiters = [];
    const exits = [...this.running.values()].map((r) => r.exited);
    for (const host of this.running.keys()) host.kill('close');
    await Promise.all(exits);
  }

  private takeSpare(): HostProcess<T> | null {
    const host = this.spare ?? this.spawn();
    if (host === this.spare) this.spare = null;
    this.ensureSpare();
    return host;
  }

  private ensureSpare(): void {
    if (this.spare !== null || this.closed) return;
    this.spare = this.spawn();
    if (this.spare !== null) this.roles.set(this.spare, { kind: 'spare' });
  }

  private spawn(): HostProcess<T> | null {
    if (this.closed) return null;
    const now = performance.now();
    if (now < this.retryAt) {
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = null;
        this.ensureSpare();
      }, this.retryAt - now).unref();
      return null;
    }
    const host = new HostProcess<T>(this.options.command, this.hostEvents);
    let resolve!: () => void;
    const exited = new Promise<void>((r) => (resolve = r));
    this.running.set(host, { exited, resolve });
    return host;
  }

  private onReady(): void {
    this.startFailures = 0;
    for (const waiter of this.readyWaiters) waiter.resolve();
    this.readyWaiters = [];
  }

  private onExit(host: HostProcess<T>, unanswered: T[], exit: HostExit): void {
    const role = this.roles.get(host) ?? null;
    this.roles.delete(host);
    if (role?.kind === 'serving' && this.slots[role.slot] === host) this.slots[role.slot] = null;
    if (role?.kind === 'trial' && this.trialHost === host) this.trialHost = null;
    if (role?.kind === 'spare' && this.spare === host) this.spare = null;
    this.lateSince.delete(host);
    if (!exit.wasReady && !this.closed) {
      this.startFailures++;
      const delay = Math.min(START_BACKOFF_MAX_MS, START_BACKOFF_FIRST_MS * 2 ** (this.startFailures - 1));
      this.retryAt = performance.now() + delay;
      const message = `sandbox host failed to start (exit ${exit.code ?? exit.signal}): ${exit.stderrTail.trim().slice(-500)}`;
      for (const waiter of this.readyWaiters) waiter.reject(new Error(message));
      this.readyWaiters = [];
    }
    this.ensureSpare();
    try {
      this.events.onExit(host, role, unanswered, exit);
    } finally {
      const running = this.running.get(host);
      this.running.delete(host);
      running?.resolve();
    }
  }

  private checkHung(): void {
    const now = performance.now();
    const grace = this.options.hangGraceMs;
    for (const host of this.roles.keys()) {
      const late = host.lateMs(now);
      if (late === 0) {
        this.lateSince.delete(host);
        continue;
      }
      const cpuMs = processCpuMs(host.pid);
      const seen = this.lateSince.get(host);
      if (seen === undefined || seen.progressAt !== host.progressAt) {
        this.lateSince.set(host, { progressAt: host.progressAt, cpuMs });
        continue;
      }
      const burnt = cpuMs === null || seen.cpuMs === null ? late : cpuMs - seen.cpuMs;
      if (burnt >= grace || late >= HANG_WALL_LIMIT_MS) {
        this.lateSince.delete(host);
        host.kill('hang');
      }
    }
  }
}

/** CPU time (user + system, all threads) of a process in ms, from /proc; null where unavailable. */
function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** FNV-1a: a stable spread of API ids over the shared slots. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
