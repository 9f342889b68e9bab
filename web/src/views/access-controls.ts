import { h } from '../components/dom.js';

// The small controls of the Access tab, shared by its sections.

/** Lines or commas → list. */
export function listOf(text: string): string[] {
  return text
    .split(/[\n,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A one-line text input without autocomplete or spell checking. */
export const text = (value: string, attrs: Record<string, unknown> = {}) =>
  h('input', { type: 'text', value, autocomplete: 'off', spellcheck: false, ...attrs });

/** A three-line text area holding one entry per line. */
export const area = (lines: readonly string[], placeholder: string) =>
  h('textarea', { rows: 3, spellcheck: false, placeholder }, lines.join('\n'));

/** A select of plain string options. */
export const select = (options: readonly string[], value: string) =>
  h(
    'select',
    null,
    options.map((o) => h('option', { value: o, selected: o === value }, o)),
  );

/** A whole-number input (empty for null). */
export const number = (value: number | null, min = 0, max?: number) =>
  h('input', {
    type: 'number',
    min,
    max,
    step: 1,
    inputmode: 'numeric',
    value: value === null ? '' : String(value),
  });

/** Reads a number input: a number, the raw text when it is not one (the API names it), or null when empty. */
export function numberOf(input: HTMLInputElement): number | string | null {
  const t = input.value.trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}
