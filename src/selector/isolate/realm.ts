import ivm from 'isolated-vm';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** File name the user's script is compiled under; error locations are read back from it. */
export const SCRIPT_NAME = 'selector.js';
/** console.log lines one run keeps (the rest are counted as dropped). */
export const MAX_LINES_PER_RUN = 50;
/** Longest console line kept, in characters. */
export const MAX_LINE_CHARS = 1000;
/** Candidate lists remembered per catalog before the cache starts over. */
export const MAX_CACHED_CANDIDATE_SETS = 256;
/** Distinct request reads one traced call may record; a script reading more is not memoized. */
export const MAX_TRACE_READS = 64;
/** Longest trace text a traced call may return, in characters (large header or body values). */
export const MAX_TRACE_CHARS = 8192;
/** Longest answer string accepted from an isolate's call (console JSON, positions, trace), in characters. */
export const MAX_ANSWER_CHARS = 1024 * 1024;
/** Objects a memoized selector's top level may leave reachable (walked once, when it loads). */
export const MAX_KEPT_OBJECTS = 10_000;
/** Property slots over all those objects. */
export const MAX_KEPT_SLOTS = 100_000;
/** Of those, objects not frozen, which are compared after every run (about 0.3 µs each). */
export const MAX_CHECKED_OBJECTS = 1000;

// Read once per process: SES's lockdown (a plain script defining `lockdown` and `harden`) and the
// realm prelude, a real source file next to this one (its compiled copy under dist/).
const require = createRequire(import.meta.url);
const SES_SOURCE = readFileSync(
  join(dirname(require.resolve('ses/package.json')), 'dist', 'lockdown.umd.min.js'),
  'utf8',
);
const PRELUDE_SOURCE = readFileSync(new URL('./prelude.cjs', import.meta.url), 'utf8');
const LIMITS = JSON.stringify({
  scriptName: SCRIPT_NAME,
  maxLines: MAX_LINES_PER_RUN,
  maxLineChars: MAX_LINE_CHARS,
  maxCachedCandidateSets: MAX_CACHED_CANDIDATE_SETS,
  maxTraceReads: MAX_TRACE_READS,
  maxTraceChars: MAX_TRACE_CHARS,
  maxKeptObjects: MAX_KEPT_OBJECTS,
  maxKeptSlots: MAX_KEPT_SLOTS,
  maxCheckedObjects: MAX_CHECKED_OBJECTS,
});

/** V8's code cache for the two scripts, made by the first isolate and reused by later ones. */
const codeCache = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();

function compileCached(isolate: ivm.Isolate, name: string, source: string): ivm.Script {
  const cachedData = codeCache.get(name);
  const script = isolate.compileScriptSync(
    source,
    cachedData ? { filename: name, cachedData } : { filename: name, produceCachedData: true },
  );
  const produced = (script as ivm.Script & ivm.CachedDataResult).cachedData;
  if (!cachedData && produced) codeCache.set(name, produced);
  return script;
}

type Fn = ivm.Reference<(...args: unknown[]) => unknown>;

/** The prelude's functions in one context, as references the host calls. */
export interface RealmApi {
  bind: Fn;
  afterTopLevel: Fn;
  settle: Fn;
  load: Fn;
  drop: Fn;
  batch: Fn;
  takeBatch: Fn;
  check: Fn;
  takeConsole: Fn;
}

/**
 * Builds the selector realm in a new context of `isolate`: SES, the prelude, `lockdown()`. Throws
 * when the isolate runs out of time or memory doing it. Costs tens of milliseconds of CPU (mostly
 * lockdown), paid once per selector version and per rebuild after a memory failure. `progress` is
 * shared with the prelude, which writes the index of the batch call it runs into its first cell.
 */
export function buildRealm(
  isolate: ivm.Isolate,
  timeoutMs: number,
  progress: SharedArrayBuffer,
): { context: ivm.Context; api: RealmApi } {
  const context = isolate.createContextSync();
  compileCached(isolate, 'ses-lockdown.js', SES_SOURCE).runSync(context, { timeout: timeoutMs });
  const setup = compileCached(isolate, 'isogate-prelude.js', PRELUDE_SOURCE).runSync(context, {
    timeout: timeoutMs,
    reference: true,
  }) as Fn;
  const shared = new ivm.ExternalCopy(progress).copyInto({ release: true });
  const api = setup.applySync(undefined, [LIMITS, shared], {
    timeout: timeoutMs,
    result: { reference: true },
  }) as ivm.Reference<Record<string, unknown>>;
  const ref = (name: keyof RealmApi) => api.getSync(name, { reference: true }) as Fn;
  return {
    context,
    api: {
      bind: ref('bind'),
      afterTopLevel: ref('afterTopLevel'),
      settle: ref('settle'),
      load: ref('load'),
      drop: ref('drop'),
      batch: ref('batch'),
      takeBatch: ref('takeBatch'),
      check: ref('check'),
      takeConsole: ref('takeConsole'),
    },
  };
}
