import type { SelectorBudget } from '../model/selector-budget.js';
import type { SelectorConfig } from '../model/selector.js';
import type { MemoMode } from './isolate/runner.js';
import { MemoCache } from './memo.js';
import { Dataset, Program, isFailure, unavailable, type LoadOp } from './program.js';
import type { QuarantinePolicy } from './quarantine.js';
import type { SelectorFailure, SelectorNode, SelectorSpec } from './types.js';

/** How long the current version of an API's selector stays compiled with no catalog loaded. */
export const PROGRAM_IDLE_MS = 60_000;
/** Selector versions remembered as killing their host while loading, so they are not loaded again. */
const POISONED_KEYS = 256;

/** What the registry needs from the sandbox to talk to hosts. */
export interface ProgramLink {
  nextId(): number;
  slotFor(apiId: string): number;
  /** Sends a P (dataset null) or D request; `done` gets null or the failure. */
  sendLoad(program: Program, dataset: Dataset | null, replay: boolean, done: LoadOp['done']): void;
  /** Sends a d (drop a catalog) or p (drop a version) request to the slot's host. */
  sendDrop(slot: number, tag: 'd' | 'p', target: number): void;
}

/**
 * The lifecycle of selector versions and their catalogs: one Program per API, save (revision),
 * code, limits and memoization mode, compiled once; a Dataset per config version; the current
 * version of each API; versions nobody uses dropped (at once when superseded, after PROGRAM_IDLE_MS
 * when current); versions whose load killed a host remembered (poisoned) so they are not loaded again.
 * With a ceiling, the live versions (loading, serving, idle, and superseded ones kept for requests of
 * an older config still in flight) never take more: a new one first makes room by dropping idle
 * versions, then superseded ones, oldest first, and fails `unavailable` when even that leaves none.
 */
export class Programs {
  private readonly byKey = new Map<string, Program>();
  private readonly byId = new Map<number, Program>();
  private readonly bySlot = new Map<number, Set<Program>>();
  private readonly current = new Map<string, Program>();
  private readonly poisoned = new Map<string, SelectorFailure>();

  constructor(
    private readonly link: ProgramLink,
    private readonly policy: QuarantinePolicy,
    private readonly consoleRate: number,
    /** Most the live versions may take (null: no bound); see the class comment. */
    private readonly ceiling: SelectorBudget | null = null,
  ) {}

  /**
   * The program for `spec` (compiled now unless this save, code, limits and mode already are) with
   * one new catalog; resolves once both are loaded. `refused` is the pre-filter's reason when
   * "auto" is off. Rejects with the failure when the version cannot be loaded.
   */
  async load(
    spec: SelectorSpec,
    memo: MemoMode,
    refused: string | null,
    catalog: SelectorNode[],
    env: Record<string, string>,
  ): Promise<Dataset> {
    const { apiId, config, revision } = spec;
    // Keyed by save: saving a selector again, even with the same code, starts it afresh.
    const key = `${apiId}\0${revision}\0${config.timeoutMs}\0${config.memoryMb}\0${memo}\0${config.code}`;
    const poison = this.poisoned.get(key);
    if (poison !== undefined) throw poison;
    const program = this.byKey.get(key) ?? this.create(apiId, config, key, memo);
    this.cancelIdle(program);
    const nodes = catalog.map((n) => ({ id: n.id, name: n.name, url: n.url, weight: n.weight, tags: n.tags }));
    const datasetId = this.link.nextId();
    const payload = `${program.id}\t${datasetId}\t${JSON.stringify(nodes)}\t${JSON.stringify(env)}`;
    const dataset = new Dataset(
      datasetId,
      program,
      payload,
      null,
      nodes.map((n) => n.id),
    );
    program.datasets.add(dataset);
    try {
      await program.loaded;
      const reason = refused ?? program.notMemoized;
      const active = memo !== 'off' && reason === null;
      program.memoization = { mode: config.memoize, active, reason };
      if (active) {
        dataset.memo = new MemoCache();
        program.memo ??= { hits: 0, misses: 0, refused: 0, uncacheable: 0 };
      }
      if (program.health.quarantined) dataset.state = 'ready';
      else await this.loadDataset(dataset);
    } catch (err) {
      program.datasets.delete(dataset);
      this.maybeIdle(program);
      throw isFailure(err) ? err : unavailable(err instanceof Error ? err.message : String(err));
    }
    this.makeCurrent(program);
    return dataset;
  }

  /** Lets a config version's catalog go; its version is dropped once nobody uses it. */
  release(dataset: Dataset): void {
    if (dataset.released) return;
    dataset.released = true;
    dataset.memo = null;
    const program = dataset.program;
    program.datasets.delete(dataset);
    if (dataset.state === 'ready' && program.state === 'ready') this.link.sendDrop(program.slot, 'd', dataset.id);
    this.maybeIdle(program);
  }

  /** How many versions are live: loading, serving, idle, or kept for an older config's requests. */
  get live(): number {
    return this.byId.size;
  }

  /** The program with this id, if still known. */
  get(id: number): Program | undefined {
    return this.byId.get(id);
  }

  /** The API's current selector version, if one is loaded. */
  currentOf(apiId: string): Program | undefined {
    return this.current.get(apiId);
  }

  /** The versions a slot's host holds. */
  inSlot(slot: number): Iterable<Program> {
    return this.bySlot.get(slot) ?? [];
  }

  /** Every known version (for closing). */
  all(): Iterable<Program> {
    return this.byId.values();
  }

  /** Whether the slot's host holds a loaded version that is not quarantined. */
  hasLive(slot: number): boolean {
    for (const program of this.inSlot(slot)) if (program.state === 'ready' && !program.health.quarantined) return true;
    return false;
  }

  /** Remembers a version whose load killed its host, so the next config versions fail at once. */
  poison(program: Program, failure: SelectorFailure): void {
    this.poisoned.set(program.key, failure);
    if (this.poisoned.size > POISONED_KEYS) this.poisoned.delete(this.poisoned.keys().next().value!);
  }

  /** Stops every idle timer (the sandbox is closing). */
  stopTimers(): void {
    for (const program of this.byId.values()) this.cancelIdle(program);
  }

  private create(apiId: string, config: SelectorConfig, key: string, memo: MemoMode): Program {
    this.makeRoom(config.memoryMb);
    const program = new Program(
      this.link.nextId(),
      key,
      apiId,
      config,
      this.link.slotFor(apiId),
      this.policy,
      this.consoleRate,
      memo,
    );
    this.byKey.set(key, program);
    this.byId.set(program.id, program);
    let inSlot = this.bySlot.get(program.slot);
    if (!inSlot) this.bySlot.set(program.slot, (inSlot = new Set()));
    inSlot.add(program);
    program.loaded = new Promise<void>((resolve, reject) => {
      this.link.sendLoad(program, null, false, (failure) => {
        if (failure === null) {
          program.state = 'ready';
          resolve();
        } else {
          program.state = 'failed';
          this.forget(program);
          reject(failure);
        }
      });
    });
    program.loaded.catch(() => {});
    return program;
  }

  private loadDataset(dataset: Dataset): Promise<void> {
    return new Promise((resolve, reject) => {
      this.link.sendLoad(dataset.program, dataset, false, (failure) => {
        if (failure === null) {
          dataset.state = 'ready';
          resolve();
        } else {
          dataset.state = 'failed';
          reject(failure);
        }
      });
    });
  }

  private makeCurrent(program: Program): void {
    const previous = this.current.get(program.apiId);
    this.current.set(program.apiId, program);
    if (previous !== undefined && previous !== program) this.maybeIdle(previous);
  }

  /**
   * Under the ceiling, drops what a new version of `memoryMb` needs: idle versions first, then
   * superseded ones still held by an older config (whose requests not yet at their selector then get
   * `unavailable`, their API's onError), oldest first; throws `unavailable` when that is not enough.
   */
  private makeRoom(memoryMb: number): void {
    const ceiling = this.ceiling;
    if (ceiling === null) return;
    const live = { programs: this.byId.size, memoryMb: 0 };
    for (const p of this.byId.values()) live.memoryMb += p.config.memoryMb;
    const fits = () =>
      live.programs + 1 <= ceiling.programs &&
      (ceiling.memoryDerived === true || live.memoryMb + memoryMb <= ceiling.memoryMb);
    if (fits()) return;
    const ready = [...this.byId.values()].filter((p) => p.state === 'ready');
    const idle = ready.filter((p) => p.datasets.size === 0);
    const superseded = ready.filter((p) => p.datasets.size > 0 && this.current.get(p.apiId) !== p);
    for (const victim of [...idle, ...superseded]) {
      if (fits()) return;
      for (const dataset of victim.datasets) {
        dataset.released = true;
        dataset.memo = null;
      }
      victim.datasets.clear();
      this.drop(victim);
      live.programs--;
      live.memoryMb -= victim.config.memoryMb;
    }
    if (!fits())
      throw unavailable(
        `the sandbox holds as many selector versions as it may (${ceiling.programs} versions, ${ceiling.memoryMb} MB of memoryMb: twice the selector budget)`,
      );
  }

  /** Drops a version nobody uses: at once when superseded, after PROGRAM_IDLE_MS when current. */
  private maybeIdle(program: Program): void {
    if (program.datasets.size > 0 || program.state !== 'ready') return;
    // Superseded: dropped even while an idle timer runs (a selector removed and added again, over and
    // over, would otherwise keep every version for PROGRAM_IDLE_MS).
    if (this.current.get(program.apiId) !== program) return this.drop(program);
    if (program.idleTimer !== null) return;
    program.idleTimer = setTimeout(() => {
      program.idleTimer = null;
      if (program.datasets.size === 0) this.drop(program);
    }, PROGRAM_IDLE_MS);
    program.idleTimer.unref();
  }

  private cancelIdle(program: Program): void {
    if (program.idleTimer !== null) clearTimeout(program.idleTimer);
    program.idleTimer = null;
  }

  private drop(program: Program): void {
    this.cancelIdle(program);
    program.state = 'dropped';
    this.forget(program);
    if (this.current.get(program.apiId) === program) this.current.delete(program.apiId);
    this.link.sendDrop(program.slot, 'p', program.id);
  }

  private forget(program: Program): void {
    if (this.byKey.get(program.key) === program) this.byKey.delete(program.key);
    this.byId.delete(program.id);
    this.bySlot.get(program.slot)?.delete(program);
  }
}
