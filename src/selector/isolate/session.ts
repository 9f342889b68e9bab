import ivm from 'isolated-vm';
import { wallTimeoutMs } from '../limits.js';
import type { SelectorFailure } from '../types.js';
import { compileFailure, readConsole, runFailure, type ConsoleOutput } from './answers.js';
import { buildRealm, SCRIPT_NAME, type RealmApi } from './realm.js';
import { sourceFacts } from './source-facts.js';

/** Time the realm's own work (building it, freezing a catalog, checking kept state) may take, at least. */
export const REALM_TIMEOUT_FLOOR_MS = 2000;

/**
 * How a selector version is memoized, as far as its realm is concerned: `off` (never), `checked`
 * (memoize: "auto": refused when the top level leaves anything the sandbox cannot compare after a
 * run), `trusted` (memoize: true: the operator's word for what cannot be compared; what can still is).
 */
export type MemoMode = 'off' | 'checked' | 'trusted';

/** A built realm: its isolate and the prelude's entry points. */
export interface Session {
  isolate: ivm.Isolate;
  api: RealmApi;
}

/**
 * The lifecycle of one selector version's isolate (host side): builds the locked-down realm under
 * the version's memory limit, runs the user's script in it, holds its catalogs, and for a memoized
 * version records what the top level left and checks it after a run. After the isolate is lost to
 * its memory limit, `start` rebuilds it from the kept source and catalogs (the top level reads no
 * clock or randomness, or the version is not memoized, so the rebuilt realm answers as the lost one
 * did). Running calls is IsolateRunner's (runner.ts).
 */
export class IsolateSession {
  protected session: Session | null = null;
  private readonly datasets = new Map<number, { catalog: string; env: string }>();
  protected readonly wallMs: number;
  /** Memoized and not found stateful yet: every run is followed by a check. */
  protected checking: boolean;
  /** Shared with the realm: the index of the batch call it is running, and 1 once its calls are done. */
  protected readonly progress = new Int32Array(new SharedArrayBuffer(8));

  constructor(
    readonly code: string,
    /** CPU time a call may use. */
    readonly timeoutMs: number,
    readonly memoryMb: number,
    readonly memo: MemoMode = 'off',
  ) {
    this.wallMs = wallTimeoutMs(timeoutMs);
    this.checking = memo !== 'off';
  }

  /**
   * Builds the realm, compiles the script and runs its top level; `failure` is null when it defined
   * `select`. `notMemoized` says why a memoized version cannot be (it is then run as with
   * memoize: false), else null.
   */
  start(): { failure: SelectorFailure | null; console: ConsoleOutput | null; notMemoized: string | null } {
    this.disposeIsolate();
    const isolate = new ivm.Isolate({ memoryLimit: this.memoryMb });
    let session: Session | null = null;
    let started = false;
    const realmMs = Math.max(REALM_TIMEOUT_FLOOR_MS, this.wallMs);
    try {
      const realm = buildRealm(isolate, realmMs, this.progress.buffer as SharedArrayBuffer);
      session = { isolate, api: realm.api };
      let script: ivm.Script;
      try {
        script = isolate.compileScriptSync(this.code, { filename: SCRIPT_NAME });
      } catch (err) {
        return { failure: compileFailure(err), console: null, notMemoized: null };
      }
      script.runSync(realm.context, { timeout: this.wallMs });
      const topLevelImpure = session.api.afterTopLevel.applySync(undefined, [], { timeout: realmMs }) === true;
      const bound = session.api.bind.applySync(undefined, [], { timeout: this.wallMs });
      const output = readConsole(session.api);
      if (bound !== true) {
        const failure: SelectorFailure = {
          kind: 'compile',
          message: 'the script does not define a function named select',
        };
        return { failure, console: output, notMemoized: null };
      }
      let notMemoized: string | null = null;
      if (this.checking) {
        notMemoized = topLevelImpure
          ? 'the top level reads the clock or randomness, so every load could answer differently'
          : this.settle(session, realmMs);
        if (notMemoized !== null) this.checking = false;
      }
      for (const [id, data] of this.datasets) this.loadInto(session, id, data.catalog, data.env);
      this.session = session;
      started = true;
      return { failure: null, console: output, notMemoized };
    } catch (err) {
      const output = session !== null && !isolate.isDisposed ? readConsole(session.api) : null;
      return { failure: runFailure(err, isolate, this.timeoutMs, this.memoryMb), console: output, notMemoized: null };
    } finally {
      if (!started && !isolate.isDisposed) isolate.dispose();
    }
  }

  /** Gives the script one catalog and variable set under `id`; null when done, else the failure. */
  loadDataset(id: number, catalogJson: string, envJson: string): SelectorFailure | null {
    this.datasets.set(id, { catalog: catalogJson, env: envJson });
    const session = this.session;
    if (session === null) return null; // loaded with the next rebuild
    try {
      this.loadInto(session, id, catalogJson, envJson);
      return null;
    } catch (err) {
      this.datasets.delete(id);
      const failure = runFailure(err, session.isolate, this.timeoutMs, this.memoryMb);
      if (session.isolate.isDisposed) this.session = null;
      return failure;
    }
  }

  /** Forgets one catalog. */
  dropDataset(id: number): void {
    this.datasets.delete(id);
    const session = this.session;
    if (session === null || session.isolate.isDisposed) return;
    try {
      session.api.drop.applySync(undefined, [id], { timeout: REALM_TIMEOUT_FLOOR_MS });
    } catch {
      // The next rebuild starts without it anyway.
    }
  }

  /** Releases the isolate; the runner must not be used afterwards. */
  dispose(): void {
    this.disposeIsolate();
    this.datasets.clear();
  }

  /** Records what the top level left; why it cannot be memoized, or null. */
  private settle(session: Session, timeoutMs: number): string | null {
    const facts = sourceFacts(this.code);
    if (facts === null) return 'the sandbox could not read the script to place its functions';
    const payload = JSON.stringify({ ...facts, code: this.code, strict: this.memo === 'checked' });
    const why = session.api.settle.applySync(undefined, [payload], { timeout: timeoutMs });
    return typeof why === 'string' && why !== '' ? why : null;
  }

  protected check(session: Session): string | null {
    let why: unknown;
    try {
      why = session.api.check.applySync(undefined, [], { timeout: Math.max(REALM_TIMEOUT_FLOOR_MS, this.wallMs) });
    } catch (err) {
      if (session.isolate.isDisposed) this.session = null;
      why = `the state check failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (typeof why !== 'string' || why === '') return null;
    this.checking = false;
    return why;
  }

  private loadInto(session: Session, id: number, catalogJson: string, envJson: string): void {
    session.api.load.applySync(undefined, [id, catalogJson, envJson], {
      timeout: Math.max(REALM_TIMEOUT_FLOOR_MS, this.wallMs),
    });
  }

  private disposeIsolate(): void {
    const session = this.session;
    this.session = null;
    if (session !== null && !session.isolate.isDisposed) session.isolate.dispose();
  }
}
