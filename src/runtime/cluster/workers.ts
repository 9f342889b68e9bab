import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Options } from '../../config/options.js';
import type { RedisStatus } from '../../access/limits/redis.js';
import type { ConfigLoadError } from '../../snapshot/holder.js';
import type { ProcessRole } from '../../model/cluster.js';
import { resolveEntry } from '../../paths.js';
import { StartupError } from '../listen.js';
import type { SelectorBudgetView } from '../selector-status.js';
import { WORKER_IDENTITY_ENV } from './heartbeat.js';
import { TICKET_KEYS_ENV, ticketKeys } from '../../tls/settings.js';
import { WORKER_OPTIONS_ENV, type FromWorker, type ToWorker, type WorkerQuery } from './messages.js';
import { Watchdog } from './watchdog.js';
import { GATEWAY_NODE_FLAGS } from './node-flags.js';
import { WorkerAsks } from './worker-asks.js';
import { steadyNow } from '../clock.js';

/** A worker that dies sooner than this after starting counts towards crash-loop backoff. */
const EARLY_DEATH_MS = 5_000;
const RESTART_BACKOFF_MAX_MS = 30_000;

interface Slot {
  worker: Worker | null;
  /** The worker's row id in the cluster view (new for each fork). */
  processId: string;
  startedAt: number;
  /** It reported ready (whether it still answers is the watchdog's). */
  ready: boolean;
  version: number;
  /** Deaths in a row each sooner than EARLY_DEATH_MS after the fork (ready or not); a longer life resets it. */
  earlyDeaths: number;
  /** Times this slot's worker died and was forked again. */
  restarts: number;
  /** The worker's Redis link for cluster rate limits, as it last reported (null: not reported). */
  redis: RedisStatus | null;
  configError: ConfigLoadError | null;
  selectors: SelectorBudgetView | null;
}

/** What one worker reported, for /status. */
export interface WorkerView {
  pid: number | null;
  /** Its row id in the cluster view (`GET /admin/cluster`). */
  processId: string;
  /** Reported ready and answers the primary's pings. */
  ready: boolean;
  version: number;
  /** Times this slot's worker was forked again after it died (per slot). */
  restarts: number;
  /** Whether its cluster rate limits reach Redis (present once the worker reported it). */
  redis?: RedisStatus;
  /** Why its loads of the stored config fail (present while they do; it serves its last config). */
  configError?: ConfigLoadError;
  /** Its selector budget and the selectors it left out (present once reported). */
  selectors?: SelectorBudgetView;
}

/**
 * The gateway worker processes of one machine (`--workers N`), sharing the gateway port. A worker
 * that dies is forked again at once (with backoff when it keeps dying on start); the others serve on.
 */
export class WorkerSet {
  private readonly slots: Slot[];
  /** Questions to the workers waiting for their answers. */
  private readonly asks = new WorkerAsks<Worker>();
  private stopping = false;
  private pings = 0;
  /** Pings every worker; one silent too long is taken out of readiness, then killed and forked again. */
  private readonly watchdog: Watchdog<Worker>;
  private readyWaiter: { resolve: () => void; reject: (err: Error) => void } | null = null;
  /** One set of TLS session ticket keys for every worker, so a ticket resumes whichever worker accepts. */
  private readonly ticketKeys = ticketKeys();

  constructor(
    private readonly options: Options,
    private readonly log: Logger,
    /** The command the workers serve for (their role in the cluster view). */
    private readonly role: ProcessRole = 'start',
    /** Called with the cluster-view row id of a worker that died, so its row goes at once rather than going stale. */
    private readonly onWorkerGone: (processId: string) => void = () => undefined,
  ) {
    this.slots = Array.from({ length: options.workers }, () => ({
      worker: null,
      processId: '',
      startedAt: 0,
      ready: false,
      version: 0,
      earlyDeaths: 0,
      restarts: 0,
      redis: null,
      configError: null,
      selectors: null,
    }));
    this.watchdog = new Watchdog<Worker>({
      ping: (worker) => this.ping(worker),
      onUnresponsive: (worker, silentMs) => this.onUnresponsive(worker, silentMs),
      onResponsive: (worker) =>
        this.log.warn({ pid: worker.process.pid }, 'gateway worker answers again; it counts as ready again'),
      onKill: (worker, silentMs) => {
        this.log.error({ pid: worker.process.pid, silentMs }, 'gateway worker stuck; killing it to fork it again');
        worker.process.kill('SIGKILL');
      },
    });
    // Workers accept from the shared socket themselves: the primary never holds a connection, so a
    // dying worker cannot strand one it was being handed (round-robin hand-off), and costs no CPU.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    const entry = resolveEntry(import.meta.url, 'worker-main');
    cluster.setupPrimary({ exec: entry.entry, execArgv: [...entry.execArgv, ...GATEWAY_NODE_FLAGS], silent: false });
  }

  /** Forks every worker; resolves once all report ready, rejects if one fails before that. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.readyWaiter = { resolve, reject };
      for (let i = 0; i < this.slots.length; i++) this.fork(i);
      this.watchdog.start();
    });
  }

  /** True while every worker is up and serving. */
  allReady(): boolean {
    return this.slots.every((s) => this.isReady(s));
  }

  /** Workers up and serving now. */
  serving(): number {
    return this.slots.filter((s) => this.isReady(s)).length;
  }

  /** Worker processes still running (serving, starting or draining). */
  running(): number {
    return this.slots.filter((s) => s.worker !== null && !s.worker.isDead()).length;
  }

  /** Kills every worker at once (a stop cut short: they would otherwise drain on their own once this process is gone). */
  kill(): void {
    this.stopping = true;
    this.watchdog.stop();
    for (const s of this.slots) if (s.worker !== null && !s.worker.isDead()) s.worker.process.kill('SIGKILL');
  }

  /** Per-worker state for /status. */
  views(): WorkerView[] {
    return this.slots.map((s) => ({
      pid: s.worker?.process.pid ?? null,
      processId: s.processId,
      ready: this.isReady(s),
      version: s.version,
      restarts: s.restarts,
      ...(s.redis === null ? {} : { redis: s.redis }),
      ...(s.configError === null ? {} : { configError: s.configError }),
      ...(s.selectors === null ? {} : { selectors: s.selectors }),
    }));
  }

  /** Asks every ready worker and collects their answers (a worker that does not answer in time is left out). */
  async ask(message: WorkerQuery): Promise<unknown[]> {
    return [...(await this.collect(message)).values()];
  }

  /** Like `ask`, each answer under the process id of the worker that gave it. */
  async askEach(message: WorkerQuery): Promise<Map<string, unknown>> {
    const answers = await this.collect(message);
    const byProcess = new Map<string, unknown>();
    for (const s of this.slots)
      if (s.worker !== null && answers.has(s.worker)) byProcess.set(s.processId, answers.get(s.worker));
    return byProcess;
  }

  /** Process ids of the workers alive now, ready or not. */
  liveProcessIds(): string[] {
    return this.slots.filter((s) => s.worker !== null && !s.worker.isDead()).map((s) => s.processId);
  }

  private collect(message: WorkerQuery): Promise<Map<Worker, unknown>> {
    const ready = this.slots.filter((s) => this.isReady(s)).map((s) => s.worker!);
    return this.asks.ask(ready, (worker, id) => worker.send({ ...message, id } as ToWorker));
  }

  /** Stops every worker (each drains its in-flight requests) and waits for them to exit. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    // A stopped worker is ended by the grace's SIGKILL below, not forked again.
    this.watchdog.stop();
    const alive = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== null && !w.isDead());
    await Promise.all(
      alive.map(
        (worker) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => worker.process.kill('SIGKILL'), graceMs + 5_000);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            worker.process.kill('SIGTERM');
          }),
      ),
    );
  }

  private fork(index: number): void {
    const slot = this.slots[index]!;
    slot.processId = randomUUID();
    const worker = cluster.fork({
      [WORKER_OPTIONS_ENV]: JSON.stringify(this.options),
      [WORKER_IDENTITY_ENV]: JSON.stringify({ id: slot.processId, role: this.role, worker: index + 1 }),
      [TICKET_KEYS_ENV]: this.ticketKeys.toString('hex'),
    });
    slot.worker = worker;
    slot.startedAt = steadyNow();
    slot.ready = false;
    slot.configError = null;
    slot.selectors = null;
    this.watchdog.track(worker);
    worker.on('message', (message: FromWorker) => {
      this.watchdog.seen(worker);
      this.onMessage(slot, worker, message);
    });
    worker.on('exit', (code, signal) => this.onExit(index, worker, code, signal));
  }

  /** Reported ready, still running, and answering pings. */
  private isReady(slot: Slot): boolean {
    return slot.ready && slot.worker !== null && !this.watchdog.isUnresponsive(slot.worker);
  }

  private ping(worker: Worker): void {
    if (worker.isDead() || !worker.isConnected()) return;
    try {
      worker.send({ t: 'ping', id: ++this.pings } satisfies ToWorker);
    } catch {
      // The channel just closed: its exit follows.
    }
  }

  /** A silent worker: out of readiness at once, and asks stop waiting for it. */
  private onUnresponsive(worker: Worker, silentMs: number): void {
    this.log.error(
      { pid: worker.process.pid, silentMs },
      'gateway worker does not answer; it counts as not ready until it does',
    );
    this.asks.forget(worker);
  }

  private onMessage(slot: Slot, worker: Worker, message: FromWorker): void {
    if (message.t === 'pong') return;
    if (message.t === 'failed') {
      const err = message.flag
        ? new StartupError(message.flag, message.message.replace(`${message.flag}: `, ''))
        : new Error(message.message);
      if (this.readyWaiter) {
        this.stopping = true;
        this.readyWaiter.reject(err);
        this.readyWaiter = null;
      }
      return;
    }
    if (message.t === 'redis') {
      slot.redis = message.status;
      return;
    }
    if (message.t === 'config') {
      slot.configError = message.error;
      return;
    }
    if (message.t === 'selectors') {
      slot.selectors = message.view;
      return;
    }
    if (message.t === 'ready' || message.t === 'version') {
      slot.version = message.version;
      if (message.t === 'ready') {
        // earlyDeaths is not reset here: a worker that dies a moment after it got ready is in a
        // crash loop as much as one that never gets there (onExit resets it after a longer life).
        slot.ready = true;
        if (this.allReady() && this.readyWaiter) {
          this.readyWaiter.resolve();
          this.readyWaiter = null;
        }
      }
      return;
    }
    if (message.error) this.log.warn({ pid: worker.process.pid, error: message.error }, 'worker could not answer');
    this.asks.answer(message.id, worker, message.error ? undefined : message.value, !message.error);
  }

  private onExit(index: number, worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.slots[index]!;
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    this.watchdog.forget(worker);
    this.asks.forget(worker);
    if (this.stopping) return;
    this.onWorkerGone(slot.processId);
    if (this.readyWaiter) {
      this.readyWaiter.reject(new Error(`gateway worker exited during start (code ${code}, signal ${signal})`));
      this.readyWaiter = null;
      this.stopping = true;
      return;
    }
    slot.restarts++;
    const early = steadyNow() - slot.startedAt < EARLY_DEATH_MS;
    slot.earlyDeaths = early ? slot.earlyDeaths + 1 : 0;
    const delay = slot.earlyDeaths <= 1 ? 0 : Math.min(RESTART_BACKOFF_MAX_MS, 250 * 2 ** (slot.earlyDeaths - 2));
    this.log.error({ pid: worker.process.pid, code, signal, restartInMs: delay }, 'gateway worker died; restarting it');
    setTimeout(() => {
      if (!this.stopping) this.fork(index);
    }, delay).unref();
  }
}
