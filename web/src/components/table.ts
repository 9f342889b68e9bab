import { isAbort } from '../api.js';
import { loadErrorBox } from './form.js';
import { h, replace, type Attrs, type Child } from './dom.js';

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

/** What `listTable` loads and how it shows it; the texts and columns are each page's own. */
export interface ListTableOptions<T> {
  /** The status line until the first load ends ('Loading consumers…'). */
  loading: string;
  /** Fetches the items, e.g. `() => admin.listConsumers({ signal })`. */
  fetch: () => Promise<T[]>;
  /** The line shown in place of the table when there are no items. */
  empty: string;
  /** The table's class. */
  tableClass: string;
  /** The column heads in order: a text, or a node such as `srOnly('Actions')`. */
  columns: Child[];
  /** The row of one item. */
  row: (item: T) => HTMLTableRowElement;
}

/**
 * A list page's table from the admin API: `host` shows the loading line until the first `load` ends,
 * then the table, the `empty` line, or the failed-load alert (`loadErrorBox`); a load aborted because
 * the view was left changes nothing. Call `load` again after a change to redraw the list.
 */
export function listTable<T>(o: ListTableOptions<T>): { host: HTMLDivElement; load: () => Promise<void> } {
  const host = h('div', null, h('div', { class: 'loading', role: 'status' }, o.loading));
  async function load(): Promise<void> {
    let items: T[];
    try {
      items = await o.fetch();
    } catch (err) {
      if (isAbort(err)) return;
      replace(host, loadErrorBox(err));
      return;
    }
    if (items.length === 0) {
      replace(host, h('p', { class: 'empty muted' }, o.empty));
      return;
    }
    replace(
      host,
      h(
        'table',
        { class: o.tableClass },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            o.columns.map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        h(
          'tbody',
          null,
          items.map((item) => o.row(item)),
        ),
      ),
    );
  }
  return { host, load };
}
