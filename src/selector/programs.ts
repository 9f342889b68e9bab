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

  /** Drops a version nobody uses: at once when superseded, after PROGRAM_IDLE_MS when current. */
  private maybeIdle(program: Program): void {
    if (program.datasets.size > 0 || program.state !== 'ready' || program.idleTimer !== null) return;
    if (this.current.get(program.apiId) !== program) return this.drop(program);
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
