import type { MemoizeMode, SelectorConfig } from '../types.js';

// The Selector tab's editor contents as typed: what a new selector starts from, the draft kept while
// it is unsaved, and the config a draft is sent as. No DOM here.

/** What a new selector starts from when there is no template. */
export const STARTER = `// select(request, env, nodes) returns the nodes this request may go to.
// request: { method, path, query, headers, body, clientIp }
// env:     every variable, e.g. env.IP1_enable === "true"
// nodes:   [{ id, name, url, weight, tags }] after the ticks, rules and health checks
function select(request, env, nodes) {
  return nodes;
}
`;

/** The editor's text and settings as typed (and kept as a draft). */
export interface SelectorDraft {
  code: string;
  onError: string;
  timeoutMs: string;
  memoryMb: string;
  memoize: MemoizeMode;
}

/** A memoize setting as stored or typed; drafts kept before the setting existed have none: "auto". */
export function memoizeOf(v: unknown): MemoizeMode {
  return v === true || v === false ? v : 'auto';
}

/** The draft that shows a stored selector, or `code` with the default settings when there is none. */
export function draftOf(config: SelectorConfig | null, code: string): SelectorDraft {
  return {
    code: config?.code ?? code,
    onError: config?.onError ?? 'use-all',
    timeoutMs: String(config?.timeoutMs ?? 20),
    memoryMb: String(config?.memoryMb ?? 32),
    memoize: memoizeOf(config?.memoize),
  };
}

/** Whether two drafts hold the same selector (numbers compared as typed, surrounding spaces aside). */
export function sameDraft(a: SelectorDraft, b: SelectorDraft): boolean {
  return (
    a.code === b.code &&
    a.onError === b.onError &&
    a.timeoutMs.trim() === b.timeoutMs.trim() &&
    a.memoryMb.trim() === b.memoryMb.trim() &&
    a.memoize === b.memoize
  );
}

/** A number when the text is one, else the text itself, so the admin API names the field. */
function numberOr(text: string): number | string {
  const n = Number(text.trim());
  return text.trim() !== '' && Number.isFinite(n) ? n : text;
}

/** A draft as the admin API takes it (for a save, or a test of the editor's code). */
export function configOf(d: SelectorDraft): SelectorConfig {
  return {
    code: d.code,
    onError: d.onError,
    timeoutMs: numberOr(d.timeoutMs),
    memoryMb: numberOr(d.memoryMb),
    memoize: d.memoize,
  } as SelectorConfig;
}
