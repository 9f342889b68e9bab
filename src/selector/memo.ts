import type { SelectOutcome, SelectorRequest } from './types.js';

/**
 * Memoized selector results (gateway side), for memoized selector versions (isolate/runner.ts
 * MemoMode): the sandbox only traces runs whose realm it checks keeps no state, and the verifier
 * (verifier.ts) re-runs a sample of the answers given from here.
 *
 * A traced run in the sandbox returns the request reads the script made, in order: (path, value).
 * For a pure script the first read is always the same path, and each next path depends only on
 * the values found so far, so the runs of one loaded selector and candidate list form a decision
 * trie: an inner node names the path to read next, its children are keyed by the value found, a
 * leaf holds the picks. A lookup replays the reads on the current request without running the
 * script; it is exact for any request whose reads lead to a recorded leaf.
 */

/** Results (trie leaves) one loaded selector keeps at most; further results are served uncached. */
export const MAX_MEMO_ENTRIES = 1024;
/** Candidate lists one loaded selector keeps tries for (the gateway passes one per config version). */
export const MAX_MEMO_CANDIDATE_LISTS = 64;

/** Marks a path that runs through a string or null: the sandbox's view never records such a read. */
const UNREACHABLE = '!';

/**
 * The value key of one read, the same as the prelude's `valueKey` (the two must agree): the type
 * and value of a primitive, or only the kind of an object (its members are reads of their own).
 */
export function valueKey(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return 's' + v;
    case 'number':
      return Object.is(v, -0) ? 'n-0' : 'n' + v;
    case 'boolean':
      return v ? 'bt' : 'bf';
    case 'undefined':
      return 'u';
    case 'object':
      return v === null ? 'z' : Array.isArray(v) ? 'a' : 'o';
    default:
      return UNREACHABLE;
  }
}

const hasOwn = Object.prototype.hasOwnProperty;

/** The value key found at `path` in the request, reading own members only (as the sandbox's view does). */
function valueKeyAt(request: SelectorRequest, path: readonly string[]): string {
  let cur: unknown = request;
  for (let i = 0; i < path.length; i++) {
    if (cur === null || typeof cur !== 'object') return UNREACHABLE;
    const key = path[i]!;
    cur = hasOwn.call(cur, key) ? (cur as Record<string, unknown>)[key] : undefined;
  }
  return valueKey(cur);
}

/** One recorded read of a traced run. */
export interface Read {
  path: string[];
  /** The path as JSON, to compare paths on insert. */
  pathKey: string;
  value: string;
}

/** Answers of a new entry re-run by the verifier before it samples only 1 in VERIFY_EVERY. */
export const FIRST_HITS_VERIFIED = 2;

/** A trie node: an inner node reads `path` and follows `next`; a leaf (`path` null) holds its answer. */
class TrieNode {
  /** A leaf's first hits still to be re-run by the verifier. */
  unverified = FIRST_HITS_VERIFIED;

  constructor(
    readonly path: readonly string[] | null,
    readonly pathKey: string,
    readonly next: Map<string, TrieNode> | null,
    /** A leaf's answer, frozen and shared by every request it answers. */
    readonly hit: SelectOutcome | null,
  ) {}
}

/** A leaf of the trie: its recorded answer, and how many of its first hits the verifier still takes. */
export interface MemoLeaf {
  readonly hit: SelectOutcome | null;
  unverified: number;
}

/** How an insert went: a new leaf, one already there, no room, or a trace that contradicts the trie. */
export type InsertResult = 'inserted' | 'present' | 'full' | 'conflict';

/** Parses a trace from the sandbox; null when it is not the expected shape. */
export function parseTrace(json: string): Read[] | null {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return null;
  }
  if (!Array.isArray(raw)) return null;
  const reads: Read[] = [];
  for (const entry of raw as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2) return null;
    const [path, value] = entry as [unknown, unknown];
    if (
      !Array.isArray(path) ||
      path.length === 0 ||
      !path.every((k) => typeof k === 'string') ||
      typeof value !== 'string'
    ) {
      return null;
    }
    reads.push({ path: path as string[], pathKey: JSON.stringify(path), value });
  }
  return reads;
}

/** The memoized results of one loaded selector (one catalog + env), one trie per candidate list. */
export class MemoCache {
  /** Leaves held, over all candidate lists. */
  entries = 0;
  private readonly roots = new Map<string, TrieNode>();

  /** True once no further result can be stored; calls then need no trace. */
  get full(): boolean {
    return this.entries >= MAX_MEMO_ENTRIES;
  }

  /**
   * The leaf holding the cached answer for this request and candidate list (`candidatesKey`:
   * "3,0,7"), or null. Its answer is frozen and the same object for every request that reaches it.
   */
  lookup(request: SelectorRequest, candidatesKey: string): MemoLeaf | null {
    let node = this.roots.get(candidatesKey);
    if (node === undefined) return null;
    // Bounded by the trace length of the deepest insert (MAX_TRACE_READS).
    while (node.path !== null) {
      const child: TrieNode | undefined = node.next!.get(valueKeyAt(request, node.path));
      if (child === undefined) return null;
      node = child;
    }
    return node;
  }

  /** Stores the picks of one run whose reads were `trace`. */
  insert(candidatesKey: string, trace: readonly Read[], picked: readonly number[]): InsertResult {
    const root = this.roots.get(candidatesKey);
    if (root === undefined) {
      if (this.full || this.roots.size >= MAX_MEMO_CANDIDATE_LISTS) return 'full';
      this.roots.set(candidatesKey, branch(trace, 0, picked));
      this.entries++;
      return 'inserted';
    }
    let node = root;
    for (let i = 0; ; i++) {
      // A pure script cannot end at an inner node, go past a leaf or read another path here; a
      // script that does keeps state after all, and the trie keeps what it has.
      if (node.path === null) return i === trace.length ? 'present' : 'conflict';
      const read = trace[i];
      if (read === undefined || read.pathKey !== node.pathKey) return 'conflict';
      const child = node.next!.get(read.value);
      if (child === undefined) {
        if (this.full) return 'full';
        node.next!.set(read.value, branch(trace, i + 1, picked));
        this.entries++;
        return 'inserted';
      }
      node = child;
    }
  }
}

/** The chain of nodes for `trace[from..]` ending in a leaf with `picked`. */
function branch(trace: readonly Read[], from: number, picked: readonly number[]): TrieNode {
  const hit: SelectOutcome = Object.freeze({
    ok: true as const,
    picked: Object.freeze(picked.slice()),
    durationUs: 0,
    cached: true as const,
  });
  let node = new TrieNode(null, '', null, hit);
  for (let i = trace.length - 1; i >= from; i--) {
    const read = trace[i]!;
    node = new TrieNode(read.path, read.pathKey, new Map([[read.value, node]]), null);
  }
  return node;
}
