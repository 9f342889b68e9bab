import type { OnSelectorError, SelectorConfig } from '../model/selector.js';

/** The `request` argument of `select(request, env, nodes)`. */
export interface SelectorRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Parsed query; repeated keys become arrays. */
  query: Record<string, string | string[]>;
  /** Lower-cased header names, as Node gives them. */
  headers: Record<string, string | string[] | undefined>;
  /** The body as UTF-8 text when it was buffered (small bodies with a known length), else null. */
  body: string | null;
  clientIp: string;
  /** The request came over TLS (HTTPS, or HTTP/2 on the TLS port); the gateway always sets it. */
  tls?: boolean;
  /** The consumer the access stage authenticated (`{ name, tags }`), or null (no authentication, or anonymous). */
  consumer?: { readonly name: string; readonly tags: readonly string[] } | null;
}

/** One entry of the `nodes` argument, as the selector sees it. */
export interface SelectorNode {
  id: string;
  name: string;
  url: string;
  weight: number;
  tags: string[];
}

/** Why a selector call failed; each kind is logged and counted. */
export type SelectorErrorKind =
  | 'compile' // syntax error or no `select` function
  | 'throw' // the script threw
  | 'timeout' // CPU time limit
  | 'memory' // isolate heap limit
  | 'crash' // the sandbox process died while running it (a V8 abort)
  | 'bad-result' // not an array of node objects / ids, or an id it was not given
  | 'quarantined' // not run: the selector is quarantined
  | 'unavailable'; // not run: no sandbox could take the call

/** A selector failure with the script's line when known. */
export interface SelectorFailure {
  kind: SelectorErrorKind;
  message: string;
  line?: number;
  column?: number;
}

/**
 * Result of one call: the picked catalog indices (a subset of the candidates passed in, in the
 * order the script returned them), or a failure. `durationUs` is the wait the caller saw;
 * `runUs`, when present, is the time spent inside the isolate; `cached` marks picks replayed from
 * a memoized selector's cache without running it (one frozen outcome per cache entry, shared by every
 * request it answers, with `durationUs` 0: a hit is not timed).
 */
export type SelectOutcome =
  | { ok: true; picked: readonly number[]; durationUs: number; runUs?: number; cached?: true }
  | { ok: false; error: SelectorFailure; durationUs: number; runUs?: number };

/** The result of a trial run (`PUT …/selector` checks and `POST …/selector/test`). */
export interface TrialResult {
  ok: boolean;
  /** Ids of the nodes the selector returned (when ok). */
  picked: string[];
  error?: SelectorFailure;
  durationUs: number;
  /** What the script printed with console.log, one string per call. */
  console: string[];
}

/** Runtime state of one API's selector, for the admin API. */
export interface SelectorStatus {
  /** `over-budget`: not started, past this process's selector budget (`notStarted` says why). */
  state: 'active' | 'quarantined' | 'over-budget';
  /** Why the selector is not started (`over-budget` only). */
  notStarted?: string;
  /** Calls and failures since this version was loaded. */
  calls: number;
  failures: number;
  quarantinedAt: string | null;
  /** Newest first, at most 10. */
  lastErrors: Array<SelectorFailure & { at: string }>;
  /** Calls answered `quarantined` without running (included in `failures`). */
  skipped?: number;
  /** console.log lines dropped by the per-API rate limit. */
  consoleDropped?: number;
  /** Whether this version's results are memoized, and why not when `memoize` is "auto". */
  memoization: SelectorMemoization;
  /** Memoized selectors only: the result cache of this version (see SelectorCacheStatus). */
  cache?: SelectorCacheStatus;
}

/** The memoization verdict of one selector version. */
export interface SelectorMemoization {
  /** The configured `memoize`. */
  mode: boolean | 'auto';
  /** Results are memoized. */
  active: boolean;
  /** Why an "auto" selector is not memoized (the first state found, with its line), else null. */
  reason: string | null;
}

/** Result cache counters of a memoized selector version (since it was loaded). */
export interface SelectorCacheStatus {
  /** Calls answered from the cache. */
  hits: number;
  /** Calls that ran in the sandbox (not quarantined). */
  misses: number;
  /** Results held by the loaded config versions. */
  entries: number;
  /** Cacheable results not stored because the cache was full. */
  refused: number;
  /** Successful runs that could not be cached (the script read structure, time, randomness or printed). */
  uncacheable: number;
  /** Answers from the cache the verifier ran again and compared (verifier.ts). */
  verified: number;
  /** Of those, answers that differed (memoization ended at the first). */
  mismatches: number;
  /** Sampled answers not run again: too many re-runs in flight, or the sandbox busy. */
  skipped: number;
}

/** Identifies one loaded selector version; the same save, code and limits share one compiled script. */
export interface SelectorSpec {
  apiId: string;
  config: SelectorConfig;
  /**
   * The save it comes from (the API's `updatedAt`, which every save of the API or its selector
   * changes): a new one compiles the selector afresh even with identical code, ending a quarantine.
   */
  revision?: string;
}

export type { OnSelectorError };

/** One API's selector loaded for one config version (catalog and env live in the sandbox). */
export interface SelectorHandle {
  /**
   * `candidates`: indices into the catalog; picked catalog indices or a failure, at once when the
   * answer is known without the sandbox (a memoized result), else as a promise. Never rejects.
   */
  select(request: SelectorRequest, candidates: readonly number[]): SelectOutcome | Promise<SelectOutcome>;
  /** Called when the config version that loaded it is retired, so the sandbox can drop its catalog. */
  release(): void;
}
