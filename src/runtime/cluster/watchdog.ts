import { steadyNow } from '../clock.js';

/** How often the primary pings each gateway worker over IPC. */
export const PING_INTERVAL_MS = 1_000;
/**
 * A worker silent this long (5 missed pings) counts as not ready: /status shows it, `/status/ready`
 * turns 503, and asks (scrapes, refreshes after admin writes) stop waiting for it. It counts as ready
 * again as soon as it answers.
 */
export const UNRESPONSIVE_AFTER_MS = 5_000;
/**
 * A worker silent this long is killed (SIGKILL) and forked again through the usual exit path. Generous
 * on purpose: a worker legitimately busy for seconds (compiling a large config in one synchronous
 * go, a long GC on a loaded machine) is only taken out of readiness; one silent for 20 s is stuck.
 */
export const KILL_AFTER_MS = 20_000;

/** What a watchdog is told to do, and with what timing (the defaults above). */
export interface WatchdogOptions<K> {
  /** Sends one ping to a member; its answer (any message) is reported with `seen`. */
  ping: (member: K) => void;
  /** A member went silent for `unresponsiveAfterMs`. */
  onUnresponsive: (member: K, silentMs: number) => void;
  /** A member that was unresponsive answered again (before it was killed). */
  onResponsive: (member: K) => void;
  /** A member went silent for `killAfterMs`; called once per member. */
  onKill: (member: K, silentMs: number) => void;
  intervalMs?: number;
  unresponsiveAfterMs?: number;
  killAfterMs?: number;
  now?: () => number;
}

interface Watched {
  lastSeen: number;
  unresponsive: boolean;
  killed: boolean;
}

/**
 * Liveness of the gateway workers (Envoy's watchdog, by IPC ping): every interval each tracked
 * member is pinged, and one that has not been heard from for `unresponsiveAfterMs` is reported
 * unresponsive, then for `killAfterMs` killed. A tick that comes late (this process was itself
 * blocked) restarts every member's count rather than blaming the members for the primary's pause.
 */
export class Watchdog<K> {
  private readonly members = new Map<K, Watched>();
  private readonly intervalMs: number;
  private readonly unresponsiveAfterMs: number;
  private readonly killAfterMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;

  constructor(private readonly options: WatchdogOptions<K>) {
    this.intervalMs = options.intervalMs ?? PING_INTERVAL_MS;
    this.unresponsiveAfterMs = options.unresponsiveAfterMs ?? UNRESPONSIVE_AFTER_MS;
    this.killAfterMs = Math.max(this.unresponsiveAfterMs, options.killAfterMs ?? KILL_AFTER_MS);
    this.now = options.now ?? steadyNow;
  }

  /** Starts pinging every interval (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.lastTick = this.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops pinging; members stay tracked but are no longer judged. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Starts watching a member (a fresh fork), counting from now. */
  track(member: K): void {
    this.members.set(member, { lastSeen: this.now(), unresponsive: false, killed: false });
  }

  /** Stops watching a member (it exited). */
  forget(member: K): void {
    this.members.delete(member);
  }

  /** Whether a tracked member is currently counted unresponsive. */
  isUnresponsive(member: K): boolean {
    return this.members.get(member)?.unresponsive === true;
  }

  /** The member said something: it is alive. */
  seen(member: K): void {
    const watched = this.members.get(member);
    if (!watched) return;
    watched.lastSeen = this.now();
    if (watched.unresponsive && !watched.killed) {
      watched.unresponsive = false;
      this.options.onResponsive(member);
    }
  }

  /** One round: judges every member, then pings it (exported for tests; the timer calls it). */
  tick(): void {
    const now = this.now();
    // Late by more than a whole interval: this process was blocked, and the answers may be queued.
    const late = now - this.lastTick > 2 * this.intervalMs;
    this.lastTick = now;
    for (const [member, watched] of this.members) {
      if (late) watched.lastSeen = Math.max(watched.lastSeen, now - this.intervalMs);
      const silent = now - watched.lastSeen;
      if (!watched.killed && silent >= this.killAfterMs) {
        watched.killed = true;
        watched.unresponsive = true;
        this.options.onKill(member, silent);
        continue;
      }
      if (!watched.unresponsive && silent >= this.unresponsiveAfterMs) {
        watched.unresponsive = true;
        this.options.onUnresponsive(member, silent);
      }
      if (!watched.killed) this.options.ping(member);
    }
  }
}
