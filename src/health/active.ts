import type { LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { readCapped } from '../http/read-capped.js';
import { statusExpected, type ActiveCheck } from '../model/health.js';
import type { Snapshot } from '../snapshot/snapshot.js';
import type { NodeHealth } from './registry.js';
import type { ProbeResult } from './view.js';

/** One node's probe loop. */
interface Probe {
  /** Settings and URL it was started with: a change restarts it. */
  readonly key: string;
  readonly url: string;
  readonly settings: ActiveCheck;
  readonly health: NodeHealth;
  timer: NodeJS.Timeout | null;
  /** Aborts the probe in flight (its node went, or the process stops). */
  abort: AbortController | null;
  stopped: boolean;
}

/** Probe answers are read and dropped up to this size; a bigger body fails the probe and ends its connection. */
export const PROBE_BODY_LIMIT = 64 * 1024;

/**
 * Probes in flight at once in a process. Each holds a socket (an open file the gateway port's clients
 * also need): a config of thousands of probed nodes, all starting at once on load, would otherwise
 * open thousands of sockets together. The others wait their turn; a probe's timeout starts when it runs.
 */
export const PROBES_AT_ONCE = 64;

/**
 * Active health checks of one gateway process: a probe loop per enabled node of every API with
 * `health.active`, started as soon as a config version serves (not on the first request) and
 * reconciled with every new version: new nodes start, removed or disabled ones stop, changed
 * settings restart. Each process probes on its own, as nginx and APISIX workers do.
 */
export class ActiveChecker {
  readonly #probes = new Map<string, Probe>();
  // Probes use their own connections, so a node's traffic pool limits never delay (or hide) a probe;
  // no cap per origin, so nodes sharing a backend never wait for each other's probes (their timeout
  // would run while they wait). A node has one probe at a time, so they are bounded by the nodes.
  // Names resolve through the process's node resolver, as the traffic's connections do.
  readonly #agent: Agent;
  #closed = false;
  /** Probes in flight, at most `probesAtOnce`. */
  #running = 0;
  /** Probes waiting for a turn, oldest first (each node has one probe at a time, so at most one per node). */
  readonly #waiting: Probe[] = [];

  constructor(
    private readonly log: Logger | null = null,
    private readonly probesAtOnce = PROBES_AT_ONCE,
    /** How node names are resolved (the NodeResolver's `lookup`); null: the system's lookup. */
    lookup: LookupFunction | null = null,
  ) {
    this.#agent = new Agent({
      keepAliveTimeout: 4_000,
      connect: lookup === null ? { timeout: 10_000 } : { timeout: 10_000, lookup },
    });
  }

  /** Starts, restarts and stops probe loops to match the snapshot now serving. */
  follow(snapshot: Snapshot): void {
    if (this.#closed) return;
    const wanted = new Map<string, { url: string; settings: ActiveCheck; health: NodeHealth; key: string }>();
    for (const api of snapshot.apis.values()) {
      const active = api.api.health.active;
      if (active === null) continue;
      for (const node of api.enabled) {
        const url = node.target.origin + node.target.basePath + active.path;
        wanted.set(node.id, { url, settings: active, health: node.health, key: `${url}|${JSON.stringify(active)}` });
      }
    }
    for (const [id, probe] of this.#probes) {
      const want = wanted.get(id);
      if (want === undefined || want.key !== probe.key || want.health !== probe.health) this.#stop(id, probe);
    }
    for (const [id, want] of wanted) {
      if (this.#probes.has(id)) continue;
      const probe: Probe = { ...want, timer: null, abort: null, stopped: false };
      this.#probes.set(id, probe);
      // At once: a node that is down when the config loads should leave rotation within `unhealthyThreshold` probes.
      this.#queue(probe);
    }
  }

  /** Nodes probed now (for tests and the log). */
  get probing(): number {
    return this.#probes.size;
  }

  /** Probes in flight now (at most PROBES_AT_ONCE), and probes waiting for a turn. */
  get inFlight(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#waiting.length };
  }

  /** Stops every probe, those in flight too, and closes the probe connections at once. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [id, probe] of this.#probes) this.#stop(id, probe);
    await this.#agent.destroy().catch(() => undefined);
  }

  #stop(id: string, probe: Probe): void {
    probe.stopped = true;
    if (probe.timer) clearTimeout(probe.timer);
    probe.abort?.abort();
    this.#probes.delete(id);
  }

  /** Runs the probe now if a turn is free, else when one is. */
  #queue(probe: Probe): void {
    probe.timer = null;
    if (probe.stopped) return;
    if (this.#running < this.probesAtOnce) void this.#run(probe);
    else this.#waiting.push(probe);
  }

  async #run(probe: Probe): Promise<void> {
    this.#running++;
    try {
      probe.abort = new AbortController();
      const result = await this.#probe(probe.url, probe.settings, probe.abort.signal);
      probe.abort = null;
      if (probe.stopped) return;
      probe.health.probed(result, probe.settings);
      this.log?.debug({ node: probe.health.nodeId, ...result }, 'health probe');
      // The next probe is timed from the end of this one, so probes of one node never overlap.
      probe.timer = setTimeout(() => this.#queue(probe), probe.settings.intervalMs);
      probe.timer.unref();
    } finally {
      this.#running--;
      this.#next();
    }
  }

  /** Gives a freed turn to the oldest waiting probe still wanted. */
  #next(): void {
    while (this.#running < this.probesAtOnce && this.#waiting.length > 0) {
      const probe = this.#waiting.shift()!;
      if (!probe.stopped) void this.#run(probe);
    }
  }

  /**
   * One probe: it passes when the whole answer, at most PROBE_BODY_LIMIT bytes, arrives within the
   * timeout with an expected status. Headers then a stall, a body cut short, an endless or a larger
   * body fail it.
   */
  async #probe(url: string, settings: ActiveCheck, stop: AbortSignal): Promise<ProbeResult> {
    const started = performance.now();
    const done = (ok: boolean, status: number | null, error: string | null): ProbeResult => ({
      at: new Date().toISOString(),
      ok,
      status,
      error,
      ms: Math.round((performance.now() - started) * 100) / 100,
    });
    try {
      const res = await request(url, {
        dispatcher: this.#agent,
        method: 'GET',
        headers: { 'user-agent': 'isogate-health-check' },
        headersTimeout: settings.timeoutMs,
        bodyTimeout: settings.timeoutMs,
        signal: AbortSignal.any([stop, AbortSignal.timeout(settings.timeoutMs)]),
      });
      // The verdict needs the whole answer in time: read here, as undici's dump() would end quietly on
      // a stall cut by the timeout, a reset mid-body or the limit, and the status alone would decide.
      if ((await readCapped(res.body, PROBE_BODY_LIMIT)) === null) return done(false, res.statusCode, 'body too large');
      const ok = statusExpected(res.statusCode, settings.expectedStatuses);
      return done(ok, res.statusCode, null);
    } catch (err) {
      return done(false, null, probeError(err));
    }
  }
}

function probeError(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string } } | null;
  if (
    e?.name === 'TimeoutError' ||
    e?.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e?.code === 'UND_ERR_BODY_TIMEOUT' ||
    e?.code === 'UND_ERR_CONNECT_TIMEOUT'
  )
    return 'timeout';
  return e?.code ?? e?.cause?.code ?? e?.name ?? 'error';
}
