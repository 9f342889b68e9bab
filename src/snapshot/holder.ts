import type { Logger } from 'pino';
import type { PoolRegistry } from '../gateway/pools.js';
import { LimitRegistry } from '../access/limits/registry.js';
import type { Limiter } from '../access/limits/result.js';
import { HealthRegistry } from '../health/registry.js';
import type { SelectorBudget } from '../model/selector-budget.js';
import type { SelectorSandbox } from '../selector/sandbox.js';
import type { ConfigStamp, Store } from '../store/store.js';
import { LogBudget } from '../log-budget.js';
import { steadyNow } from '../runtime/clock.js';
import { compileSnapshot } from './compile.js';
import type { Snapshot } from './snapshot.js';

interface Held {
  snapshot: Snapshot;
  /** The identity token of the version it was compiled from (see ConfigStamp). */
  token: string | null;
  pools: ReadonlySet<unknown>;
  inFlight: number;
  retired: boolean;
}

/** How often, at most, the same failure of a background load is logged (each one shows in `/status` meanwhile). */
export const LOAD_FAILURE_LOG_MS = 60_000;
/** Different failures (by message) whose log allowance is tracked at once. */
const LOAD_FAILURE_KEYS = 16;

/** Why loading the stored config failed: a store away, a stored row that does not read back, a compile that threw. */
export interface ConfigLoadError {
  message: string;
  /** When loads started failing (ISO 8601). */
  since: string;
}

/**
 * Holds the snapshot the data plane serves from. Requests acquire the current one and keep it to
 * the end; a new version is compiled beside it and swapped in whole; the old one is released (its
 * selectors dropped, its unused pools closed) once its last request finished.
 */
export class SnapshotHolder {
  private held: Held | null = null;
  // By snapshot, not by version number: after a restore or failover two snapshots may share a number.
  private readonly bySnapshot = new Map<Snapshot, Held>();
  private refreshing: Promise<void> | null = null;
  private again = false;
  private poller: NodeJS.Timeout | null = null;
  private failure: ConfigLoadError | null = null;
  /**
   * Background loads that failed, logged once a minute per failure: a failing store or row would
   * otherwise write a line per poll, and on SQLite per heartbeat (the file watch hears each one).
   */
  private readonly failureLog = new LogBudget({
    burst: 1,
    everyMs: LOAD_FAILURE_LOG_MS,
    maxKeys: LOAD_FAILURE_KEYS,
    now: steadyNow,
  });
  private readonly listeners: Array<(snapshot: Snapshot) => void> = [];

  constructor(
    private readonly store: Store,
    private readonly sandbox: SelectorSandbox,
    private readonly pools: PoolRegistry,
    private readonly log: Logger,
    /** False in a control plane, which compiles snapshots only to explain them. */
    private readonly loadSelectors = true,
    /** Node health, which outlives snapshots (a control plane's stays idle). */
    readonly health: HealthRegistry = new HealthRegistry(),
    /** Rate-limit buckets (a control plane's only explain them). */
    readonly limits: LimitRegistry = new LimitRegistry(null),
    /** The selector budget of this process (null: every selector is started). */
    private readonly selectorBudget: SelectorBudget | null = null,
  ) {}

  /** Calls `fn` with every snapshot as it starts serving (health checks follow the config this way). */
  onServing(fn: (snapshot: Snapshot) => void): void {
    this.listeners.push(fn);
  }

  /** Why the last load of the stored config failed (the last snapshot serves meanwhile), or null after one that worked. */
  get loadError(): ConfigLoadError | null {
    return this.failure;
  }

  /** The snapshot serving now, or null before the first load. */
  get current(): Snapshot | null {
    return this.held?.snapshot ?? null;
  }

  /** Takes the current snapshot for one request; pair with `release`. */
  acquire(): Snapshot | null {
    const held = this.held;
    if (held === null) return null;
    held.inFlight++;
    return held.snapshot;
  }

  /** Ends a request's hold on its snapshot. */
  release(snapshot: Snapshot): void {
    const held = this.bySnapshot.get(snapshot);
    if (!held) return;
    held.inFlight--;
    if (held.retired && held.inFlight === 0) this.dispose(held);
  }

  /**
   * Loads the stored config when its stamp (version and token) differs from the one served, and
   * swaps it in; also when the number went down or repeats with another token (a restore, a failover
   * to a standby that lost the last writes): the store is the source of truth. Concurrent calls share
   * one load, and a call made during a load triggers one more, so a write is never missed.
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.again = false;
          try {
            await this.loadIfChanged();
            this.failure = null;
          } catch (err) {
            const message = String((err as Error)?.message ?? err).slice(0, 500);
            this.failure = { message, since: this.failure?.since ?? new Date().toISOString() };
            throw err;
          }
        } while (this.again);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /**
   * `refresh` without waiting, for the poll and the store's write notifications: a failure is logged
   * at once, then the same failure at most once per LOAD_FAILURE_LOG_MS, with how many were left out.
   */
  refreshInBackground(): void {
    this.refresh().catch((err) => {
      const skipped = this.failureLog.take(String((err as Error)?.message ?? err).slice(0, 500));
      if (skipped === null) return;
      const left = skipped > 0 ? { failuresNotLogged: skipped } : {};
      this.log.warn({ err, ...left }, 'config refresh failed; keeping the last snapshot');
    });
  }

  /** Polls the store's version as a safety net for changes made by other processes. */
  startPolling(intervalMs: number): void {
    this.stopPolling();
    this.poller = setInterval(() => this.refreshInBackground(), intervalMs);
    this.poller.unref();
  }

  /** Stops the version poll. */
  stopPolling(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
  }

  private async loadIfChanged(): Promise<void> {
    if (this.serves(await this.store.stamp())) return;
    const state = await this.store.loadConfig();
    if (this.serves(state)) return;
    const held = this.held;
    if (held && state.version <= held.snapshot.version)
      this.log.warn(
        { serving: held.snapshot.version, stored: state.version },
        'the stored config version went back or was reused with other content (a restore or a failover?); following the store',
      );
    const compiled = await compileSnapshot(state, {
      pools: this.pools,
      sandbox: this.sandbox,
      previous: this.held?.snapshot ?? null,
      loadSelectors: this.loadSelectors,
      health: this.health,
      limits: this.limits,
      selectorBudget: this.selectorBudget,
    });
    const next: Held = {
      snapshot: compiled.snapshot,
      token: state.token,
      pools: compiled.pools,
      inFlight: 0,
      retired: false,
    };
    const previous = this.held;
    this.held = next;
    this.bySnapshot.set(next.snapshot, next);
    this.log.info({ version: next.snapshot.version, apis: next.snapshot.apis.size }, 'config version serving');
    if (this.loadSelectors) this.logOverBudget(next.snapshot, previous?.snapshot ?? null);
    for (const { id, names, reason } of next.snapshot.tls.refused)
      this.log.error({ certificate: id, names, reason }, 'a stored certificate cannot be served (OpenSSL refuses it)');
    for (const { id, names, reason } of next.snapshot.tls.warnings) {
      this.log.warn(
        { certificate: id, names, reason },
        'a stored certificate is served, but an upload of it would be refused today: replace it',
      );
    }
    this.health.follow(next.snapshot);
    const serving = new Set<Limiter>();
    for (const api of next.snapshot.apis.values()) for (const l of api.access?.limits ?? []) serving.add(l.limiter);
    this.limits.retain(serving);
    for (const fn of this.listeners) {
      try {
        fn(next.snapshot);
      } catch (err) {
        this.log.error({ err }, 'a config listener failed');
      }
    }
    if (previous) {
      previous.retired = true;
      if (previous.inFlight === 0) this.dispose(previous);
    }
  }

  /** Warns when the set of selectors left out by the budget changes (a config past it, from another writer). */
  private logOverBudget(next: Snapshot, previous: Snapshot | null): void {
    this.logPastDerivedMemory(next, previous);
    const out = next.selectors?.overBudget ?? new Map<string, string>();
    const before = previous?.selectors?.overBudget ?? new Map<string, string>();
    if (out.size === before.size && [...out.keys()].every((id) => before.has(id))) return;
    if (out.size === 0) {
      this.log.info('every selector of the config runs again: the config is within the selector budget');
      return;
    }
    const names = [...out.keys()].slice(0, 10).map((id) => next.apis.get(id)?.api.name ?? id);
    this.log.warn(
      { notStarted: out.size, apis: names, budget: next.selectors!.budget, started: next.selectors!.started },
      "selectors past this process's selector budget are not started: their APIs answer SELECTOR_OVER_BUDGET",
    );
  }

  /**
   * Warns when the selectors started come to take more memoryMb than a derived memory bound (one
   * `--selector-memory-mb` did not set): they all run, but this machine was not sized for them.
   */
  private logPastDerivedMemory(next: Snapshot, previous: Snapshot | null): void {
    const past = (s: Snapshot | null) =>
      s?.selectors?.budget.memoryDerived === true && s.selectors.started.memoryMb > s.selectors.budget.memoryMb;
    if (!past(next) || past(previous)) return;
    this.log.warn(
      { budget: next.selectors!.budget, started: next.selectors!.started },
      "the selectors' memoryMb adds up to more than this machine's derived selector memory (half its memory over the gateway processes); they all run, but set --selector-memory-mb (the same on every process) to bound them, or give the machine more memory",
    );
  }

  /** Whether the snapshot serving now was compiled from the config `stamp` names. */
  private serves(stamp: ConfigStamp): boolean {
    return this.held !== null && this.held.snapshot.version === stamp.version && this.held.token === stamp.token;
  }

  private dispose(held: Held): void {
    this.bySnapshot.delete(held.snapshot);
    for (const api of held.snapshot.apis.values()) {
      if (api.selector?.state === 'loaded') api.selector.handle.release();
    }
    const inUse = new Set<never>();
    for (const h of this.bySnapshot.values()) for (const p of h.pools) inUse.add(p as never);
    this.pools.prune(inUse);
  }

  /** Stops polling and releases every snapshot. */
  close(): void {
    this.stopPolling();
    for (const held of [...this.bySnapshot.values()]) this.dispose(held);
    this.held = null;
  }
}
