import { h, type Attrs, type Child } from './dom.js';

/**
 * A table cell whose content sits in one wrapper, labelled by its column: on narrow screens tables
 * turn into cards and the label shows beside the content (`data-label`).
 */
export function cell(
  label: string,
  children: Child[],
  attrs: Attrs = {},
  tag: 'td' | 'th' = 'td',
): HTMLTableCellElement {
  const { dataset, ...rest } = attrs as { dataset?: Record<string, string> } & Attrs;
  return h(
    tag,
    { ...rest, ...(tag === 'th' ? { scope: 'row' } : {}), dataset: { label, ...dataset } },
    h('div', { class: 'cell' }, children),
  );
}

/** The inner wrapper of a cell made by `cell`, for updating its content in place. */
export function cellBody(td: HTMLElement): HTMLElement {
  return td.querySelector<HTMLElement>(':scope > .cell') ?? td;
}
