import { z } from 'zod';

// A surrogate half without its other half: not UTF-16 text, and changed (to U+FFFD) on its way into a store.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why `s` cannot be stored as it is by every store, or null: U+0000 (PostgreSQL text refuses it) or
 * a lone surrogate (stored as U+FFFD, so what is stored would not be what the write answered).
 */
export function unstorableText(s: string): string | null {
  if (s.includes('\u0000')) return 'holds U+0000';
  if (LONE_SURROGATE.test(s)) return 'holds a lone surrogate (not well-formed UTF-16)';
  return null;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** `bytes` as UTF-8 text, or null when they are not UTF-8 (a stray byte would otherwise be kept as U+FFFD). */
export function strictUtf8(bytes: Uint8Array): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

// Controls (C0, C1), format characters (zero-width, bidi overrides and isolates), line and paragraph separators.
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * The name of an API or node as an operator writes it: 1–100 characters once trimmed, none of them
 * invisible or reordering (so no name can look like another, or rewrite a terminal's diff).
 */
export const DisplayName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .refine((s) => !HIDDEN.test(s), 'must not hold control, format (zero-width, bidi) or line-separator characters');
