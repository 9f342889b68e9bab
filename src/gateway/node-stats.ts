import { steadyNow } from '../runtime/clock.js';

/** Upper bounds (ms) of the latency histogram buckets; the last bucket takes everything above. */
const LATENCY_BOUNDS = [
  0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000,
];
const SLOT_MS = 10_000;
const SLOTS = 30; // 5 minutes
const WIDTH = 3 + LATENCY_BOUNDS.length + 1; // slot id, requests, errors, histogram

/** Recent traffic of one node over a window. */
export interface NodeStatsWindow {
  requests: number;
  errors: number;
  /** Requests per second over the window. */
  rps: number;
  /** errors ÷ requests (0 when idle). */
  errorRate: number;
  /** 99th percentile latency in ms (upper bound of its histogram bucket), null when idle. */
  p99Ms: number | null;
}

/** One 10-second slot of a node's traffic. */
export interface NodeStatsSlot {
  /** Start of the slot (ms since the epoch). */
  at: number;
  requests: number;
  errors: number;
  /** 99th percentile latency in ms (bucket upper bound), null when idle. */
  p99Ms: number | null;
}

/** A node's recent traffic, as the console shows it. */
export interface NodeStatsView {
  lastMinute: NodeStatsWindow;
  lastFiveMinutes: NodeStatsWindow;
  /** The last five minutes slot by slot, oldest first (the current, partly elapsed slot last). */
  recent: NodeStatsSlot[];
  /** Upgraded connections (WebSockets) to the node open now. */
  upgraded: number;
}

/** Length of one slot of `NodeStatsView.recent`, in seconds. */
export const STATS_SLOT_SECONDS = SLOT_MS / 1000;

/**
 * The stats key of an API's gateway-made errors of one code. The API's own totals are kept under its
 * id: node and API ids are UUIDs, so one keyed store serves both, and the admin runtime's node-stats
 * query (which the worker processes answer and the primary sums) reads API figures too (issue 17).
 */
export function apiErrorKey(apiId: string, code: string): string {
  return `${apiId} ${code}`;
}

/**
 * Request, error and latency counts in 10-second slots over the last 5 minutes, by key: a node's id,
 * an API's id (every request the API answered, gateway-made errors included), or `apiErrorKey`.
 * Recording is a few array writes on the hot path; reading sums the slots.
 */
export class NodeStats {
  private readonly byNode = new Map<string, Float64Array>();
  private readonly upgraded = new Map<string, number>();
  /** When `record` next drops the keys with nothing in the window (deleted nodes and APIs, old codes). */
  private nextSweep = 0;

  /** An upgraded connection to a node opened (+1) or closed (−1). */
  upgrade(nodeId: string, delta: 1 | -1): void {
    const open = (this.upgraded.get(nodeId) ?? 0) + delta;
    if (open > 0) this.upgraded.set(nodeId, open);
    else this.upgraded.delete(nodeId);
  }

  /** Counts one finished request under a key (a node, an API, an API's error code); `error` for gateway errors and upstream 5xx. */
  record(nodeId: string, error: boolean, ms: number, now = steadyNow()): void {
    let slots = this.byNode.get(nodeId);
    if (!slots) {
      if (now >= this.nextSweep) this.sweep(now);
      this.byNode.set(nodeId, (slots = new Float64Array(SLOTS * WIDTH)));
    }
    const slotId = Math.floor(now / SLOT_MS);
    const base = (slotId % SLOTS) * WIDTH;
    if (slots[base] !== slotId) {
      slots.fill(0, base, base + WIDTH);
      slots[base] = slotId;
    }
    slots[base + 1]!++;
    if (error) slots[base + 2]!++;
    let bucket = 0;
    while (bucket < LATENCY_BOUNDS.length && ms > LATENCY_BOUNDS[bucket]!) bucket++;
    slots[base + 3 + bucket]!++;
  }

  /** How many keys hold slots (tests; each is SLOTS × WIDTH numbers). */
  get size(): number {
    return this.byNode.size;
  }

  /**
   * Drops every key with no slot inside the window: what it would show is zeros anyway. Runs at most
   * once per slot length, when a key is added, so the keys of deleted nodes and APIs (and API error
   * codes seen once) do not pile up for the life of the process.
   */
  private sweep(now: number): void {
    this.nextSweep = now + SLOT_MS;
    const oldest = Math.floor(now / SLOT_MS) - SLOTS + 1;
    for (const [key, slots] of this.byNode) {
      let live = false;
      for (let base = 0; base < slots.length && !live; base += WIDTH) live = slots[base]! >= oldest;
      if (!live) this.byNode.delete(key);
    }
  }

  /** The recent traffic of one node (zeros when it has none). */
  view(nodeId: string, now = steadyNow()): NodeStatsView {
    return {
      lastMinute: this.window(nodeId, 6, now),
      lastFiveMinutes: this.window(nodeId, SLOTS, now),
      recent: this.recent(nodeId, now),
      upgraded: this.upgraded.get(nodeId) ?? 0,
    };
  }

  private recent(nodeId: string, now: number): NodeStatsSlot[] {
    const slots = this.byNode.get(nodeId);
    const current = Math.floor(now / SLOT_MS);
    const out: NodeStatsSlot[] = [];
    for (let slotId = current - SLOTS + 1; slotId <= current; slotId++) {
      const base = (slotId % SLOTS) * WIDTH;
      const live = slots !== undefined && slots[base] === slotId;
      const requests = live ? slots[base + 1]! : 0;
      out.push({
        at: slotId * SLOT_MS,
        requests,
        errors: live ? slots[base + 2]! : 0,
        p99Ms:
          live && requests > 0 ? percentile(Array.from(slots.subarray(base + 3, base + WIDTH)), requests, 0.99) : null,
      });
    }
    return out;
  }

  private window(nodeId: string, slotCount: number, now: number): NodeStatsWindow {
    const slots = this.byNode.get(nodeId);
    const current = Math.floor(now / SLOT_MS);
    const histogram = new Array<number>(LATENCY_BOUNDS.length + 1).fill(0);
    let requests = 0;
    let errors = 0;
    if (slots) {
      for (let slotId = current - slotCount + 1; slotId <= current; slotId++) {
        const base = (slotId % SLOTS) * WIDTH;
        if (slots[base] !== slotId) continue;
        requests += slots[base + 1]!;
        errors += slots[base + 2]!;
        for (let b = 0; b < histogram.length; b++) histogram[b]! += slots[base + 3 + b]!;
      }
    }
    // The current slot is partly elapsed: divide by the time the window really covers.
    const seconds = (slotCount - 1) * (SLOT_MS / 1000) + (now % SLOT_MS) / 1000;
    return {
      requests,
      errors,
      rps: seconds > 0 ? requests / seconds : 0,
      errorRate: requests > 0 ? errors / requests : 0,
      p99Ms: requests > 0 ? percentile(histogram, requests, 0.99) : null,
    };
  }
}

function percentile(histogram: readonly number[], total: number, q: number): number {
  const rank = Math.ceil(total * q);
  let seen = 0;
  for (let b = 0; b < histogram.length; b++) {
    seen += histogram[b]!;
    if (seen >= rank) return LATENCY_BOUNDS[b] ?? Infinity;
  }
  return Infinity;
}
