import type { Logger } from 'pino';
import type { ActiveCheck, PassiveCheck } from '../model/health.js';
import type { HealthState, NodeHealthView, ProbeResult } from './view.js';
import { LogBudget } from '../log-budget.js';
import { steadyNow } from '../runtime/clock.js';

/** State moves of one node logged in a burst; past it, one more line is allowed per MOVE_LOG_REFILL_MS. */
export const MOVE_LOG_BURST = 6;
/** How often a flapping node may log one more state move once its burst is spent. */
export const MOVE_LOG_REFILL_MS = 10_000;

/** What `follow` reads of a snapshot (structural, so health imports nothing from the snapshot that holds it). */
export interface FollowedConfig {
  readonly apis: ReadonlyMap<
    string,
    {
      readonly api: { readonly health: { readonly active: unknown; readonly passive: unknown } };
      readonly nodes: ReadonlyArray<{ readonly id: string; readonly health: NodeHealth }>;
    }
  >;
}

/** Why one request to a node failed, as passive checks count it. */
export type FailureKind = 'connect' | 'timeout' | 'reset' | 'status';

/**
 * One node's health and in-flight count, shared by every snapshot that holds the node (compiled
 * nodes point at it), so a config change never resets what the gateway learned about a node.
 * Two independent views decide the state, as in Envoy: active probes (healthy/unhealthy by
 * thresholds) and passive ejection (out until a time, or until a probe passes).
 */
export class NodeHealth {
  /** Requests to this node in flight from this process (the balance stage's plumbing for `least_conn`). */
  inFlight = 0;
  #probeHealthy = true;
  #probePasses = 0;
  #probeFails = 0;
  #lastProbe: ProbeResult | null = null;
  #failures = 0;
  #ejections = 0;
  #ejectedUntil = 0;
  #lastEjectionEnd = 0;
  #reason: string | null = null;
  #since = 0;

  constructor(
    readonly nodeId: string,
    /** What the node points at: a different target is a different backend, with a fresh health. */
    readonly target: string,
    private readonly registry: HealthRegistry,
  ) {}

  /** When the current ejection ends (epoch ms), 0 when not ejected. */
  get ejectedUntil(): number {
    return this.#ejectedUntil;
  }

  /**
   * The state now. An ejection past its end is ended here, lazily, but as of its end: the
   * multiplier's decay and `since` count from when it ended, not from when someone looked.
   */
  state(now = steadyNow()): Exclude<HealthState, 'unknown'> {
    const end = this.#ejectedUntil;
    if (end !== 0 && now >= end) this.#change(end, 'ejection ended', () => this.#endEjection(end));
    return this.#rawState();
  }

  /** A request to the node succeeded (any status passive checks do not count): the failure streak ends. */
  passed(): void {
    this.#failures = 0;
  }

  /** A request to the node failed; enough in a row eject it for base × ejections (capped). */
  failed(kind: FailureKind, detail: string, passive: PassiveCheck, now = steadyNow()): void {
    // Panic traffic to an ejected node does not lengthen its ejection; one already over does not hide a failure.
    if (this.state(now) === 'ejected') return;
    if (++this.#failures < passive.consecutiveFailures) return;
    const streak = this.#failures;
    this.#failures = 0;
    this.#change(now, `${streak} failed request${streak === 1 ? '' : 's'} in a row (last: ${kind} ${detail})`, () => {
      // Envoy lowers the multiplier while a node stays in: one step per base time since its last ejection ended.
      if (this.#lastEjectionEnd !== 0)
        this.#ejections = Math.max(
          0,
          this.#ejections - Math.floor((now - this.#lastEjectionEnd) / passive.baseEjectionMs),
        );
      this.#ejections++;
      const ms = Math.min(
        passive.baseEjectionMs * this.#ejections,
        Math.max(passive.maxEjectionMs, passive.baseEjectionMs),
      );
      this.#ejectedUntil = now + ms;
      this.registry.scheduleExpiry(this.#ejectedUntil);
    });
  }

  /** One active probe's outcome, judged by the API's thresholds; a passing probe also ends an ejection. */
  probed(result: ProbeResult, active: ActiveCheck, now = steadyNow()): void {
    this.#lastProbe = result;
    if (result.ok) {
      this.#probeFails = 0;
      this.#probePasses++;
      if (!this.#probeHealthy && this.#probePasses >= active.healthyThreshold) {
        this.#change(
          now,
          `${this.#probePasses} probe${this.#probePasses === 1 ? '' : 's'} passed in a row`,
          () => (this.#probeHealthy = true),
        );
      }
      if (this.#probeHealthy && this.#ejectedUntil !== 0)
        this.#change(now, 'a probe passed during the ejection', () => this.#endEjection(now));
    } else {
      this.#probePasses = 0;
      this.#probeFails++;
      if (this.#probeHealthy && this.#probeFails >= active.unhealthyThreshold) {
        const last = result.status !== null ? `HTTP ${result.status}` : (result.error ?? 'no answer');
        this.#change(
          now,
          `${this.#probeFails} probe${this.#probeFails === 1 ? '' : 's'} failed in a row (last: ${last})`,
          () => (this.#probeHealthy = false),
        );
      }
    }
  }

  /** Settings changed: without active checks the probes' verdict no longer holds; without passive checks neither does an ejection. */
  reconcile(active: boolean, passive: boolean, now = steadyNow()): void {
    if (!active) {
      this.#lastProbe = null;
      this.#probePasses = this.#probeFails = 0;
      if (!this.#probeHealthy) this.#change(now, 'active checks turned off', () => (this.#probeHealthy = true));
    }
    if (!passive) {
      this.#failures = 0;
      if (this.#ejectedUntil !== 0) this.#change(now, 'passive checks turned off', () => this.#endEjection(now));
    }
  }

  /** The admin/console/metrics view. */
  view(now = steadyNow()): NodeHealthView {
    const state = this.state(now);
    return {
      state,
      reason: this.#reason,
      since: this.#since === 0 ? null : new Date(this.#since).toISOString(),
      ejections: this.#ejections,
      ejectedUntil: this.#ejectedUntil === 0 ? null : new Date(this.#ejectedUntil).toISOString(),
      consecutiveFailures: this.#failures,
      lastProbe: this.#lastProbe,
      inFlight: this.inFlight,
    };
  }

  #rawState(): Exclude<HealthState, 'unknown'> {
    if (this.#ejectedUntil !== 0) return 'ejected';
    return this.#probeHealthy ? 'healthy' : 'unhealthy';
  }

  #endEjection(now: number): void {
    this.#ejectedUntil = 0;
    this.#lastEjectionEnd = now;
  }

  /** Applies a mutation; when the state moved, records why and tells the registry. */
  #change(now: number, reason: string, mutate: () => void): void {
    const before = this.#rawState();
    mutate();
    const after = this.#rawState();
    if (before === after) return;
    this.#reason = reason;
    this.#since = now;
    this.registry.moved(this, before, after, reason);
  }
}

/** The candidates of a list that take traffic now, cached until any node's health moves. */
interface Filtered {
  generation: number;
  nodes: readonly unknown[];
}

/**
 * Every node's health in this process, keyed by node id. It outlives snapshots (like the pools):
 * compiled nodes get their node's entry, and `retain` drops nodes that left the config.
 */
export class HealthRegistry {
  readonly #byId = new Map<string, NodeHealth>();
  /** Entries not healthy now; 0 lets `available` return its input untouched (the common case). */
  #down = 0;
  /** Moves on every state change, so cached filtered lists know they are stale. */
  #generation = 0;
  #nextExpiry = Infinity;
  readonly #cache = new WeakMap<readonly unknown[], Filtered>();
  /**
   * Each entry's allowance of logged state moves: a node that flaps (in, out, in, … on every probe)
   * writes a few lines, not one per probe. The moves left out are counted on the next line written
   * (`movesNotLogged`); the node's state itself is always current in `/status`, the admin API and `/metrics`.
   */
  readonly #moveLogs = new WeakMap<NodeHealth, LogBudget>();

  constructor(
    private readonly log: Logger | null = null,
    private readonly clock: () => number = steadyNow,
  ) {}

  /** The node's entry, created healthy the first time (or when its target changed). */
  entry(nodeId: string, target: string): NodeHealth {
    const existing = this.#byId.get(nodeId);
    if (existing !== undefined && existing.target === target) return existing;
    if (existing !== undefined) this.#forget(existing);
    const fresh = new NodeHealth(nodeId, target, this);
    this.#byId.set(nodeId, fresh);
    return fresh;
  }

  /** The node's entry if it has one. */
  get(nodeId: string): NodeHealth | undefined {
    return this.#byId.get(nodeId);
  }

  /** Follows a config version now serving: settings turned off clear their verdicts; nodes that left are dropped. */
  follow(snapshot: FollowedConfig): void {
    const ids = new Set<string>();
    for (const api of snapshot.apis.values()) {
      const { active, passive } = api.api.health;
      for (const node of api.nodes) {
        ids.add(node.id);
        node.health.reconcile(active !== null, passive !== null);
      }
    }
    this.retain(ids);
  }

  /** Drops the entries of nodes not in `nodeIds`. */
  retain(nodeIds: ReadonlySet<string>): void {
    for (const [id, entry] of this.#byId) if (!nodeIds.has(id)) this.#forget(entry);
  }

  /**
   * The nodes of `list` that take traffic now, in order. `list` itself (no copy) while every node is
   * healthy; otherwise a filtered copy, cached per list until health moves or an ejection ends.
   */
  available<T extends { readonly health: NodeHealth }>(list: readonly T[]): readonly T[] {
    if (this.#down === 0) return list;
    const now = steadyNow();
    if (now >= this.#nextExpiry) this.#expire(now);
    if (this.#down === 0) return list;
    const cached = this.#cache.get(list);
    if (cached !== undefined && cached.generation === this.#generation) return cached.nodes as readonly T[];
    const nodes = list.filter((n) => n.health.state(now) === 'healthy');
    this.#cache.set(list, { generation: this.#generation, nodes });
    return nodes;
  }

  /** The health of the given nodes (a node without an entry has seen nothing: healthy). */
  view(nodeIds: readonly string[]): Record<string, NodeHealthView> {
    const now = steadyNow();
    return Object.fromEntries(
      nodeIds.map((id) => [id, this.#byId.get(id)?.view(now) ?? new NodeHealth(id, '', this).view(now)]),
    );
  }

  /** The health of every node this process knows (for a node-health gauge). */
  viewAll(): Record<string, NodeHealthView> {
    const now = steadyNow();
    return Object.fromEntries([...this.#byId].map(([id, entry]) => [id, entry.view(now)]));
  }

  /** Called by an entry when its state moved. */
  moved(entry: NodeHealth, before: HealthState, after: HealthState, reason: string): void {
    if (this.#byId.get(entry.nodeId) !== entry) return; // a forgotten entry still held by an old snapshot
    this.#generation++;
    this.#down += (after !== 'healthy' ? 1 : 0) - (before !== 'healthy' ? 1 : 0);
    if (this.log === null) return;
    let budget = this.#moveLogs.get(entry);
    if (budget === undefined) {
      budget = new LogBudget({ burst: MOVE_LOG_BURST, everyMs: MOVE_LOG_REFILL_MS, now: this.clock });
      this.#moveLogs.set(entry, budget);
    }
    const skipped = budget.take();
    if (skipped === null) return;
    const left = skipped > 0 ? { movesNotLogged: skipped } : {};
    if (after === 'healthy') this.log.info({ node: entry.nodeId, from: before, reason, ...left }, 'node healthy again');
    else this.log.warn({ node: entry.nodeId, state: after, reason, ...left }, 'node out of rotation');
  }

  /** Called by an entry when it was ejected until `at`. */
  scheduleExpiry(at: number): void {
    if (at < this.#nextExpiry) this.#nextExpiry = at;
  }

  #expire(now: number): void {
    let next = Infinity;
    for (const entry of this.#byId.values()) {
      entry.state(now); // ends a due ejection
      if (entry.ejectedUntil !== 0) next = Math.min(next, entry.ejectedUntil);
    }
    this.#nextExpiry = next;
  }

  #forget(entry: NodeHealth): void {
    const state = entry.state();
    this.#byId.delete(entry.nodeId);
    if (state !== 'healthy') {
      this.#down--;
      this.#generation++;
    }
  }
}
