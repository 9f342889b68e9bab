import { admin, ApiError } from '../api.js';
import { confirmDialog } from '../components/dialog.js';
import { h, replace } from '../components/dom.js';
import { notify } from '../components/notify.js';
import { ago, dateTime } from '../format.js';
import { gate } from '../session.js';
import type { Api, SelectorConfig, SelectorView } from '../types.js';
import { errorSentence } from '../words.js';

// The Saved versions card of the Selector tab: every save and removal, each to open in the editor or
// to roll back to.

/** What the versions card does to the rest of the tab. */
export interface VersionActions {
  /** Puts a version's selector in the editor (not saved). */
  open(version: number, selector: SelectorConfig): void;
  /** Tells the editor which selector serves after a roll back (null: none). */
  rolledBack(selector: SelectorConfig | null): void;
  /** Re-reads the state and the versions. */
  refresh(): Promise<void>;
}

/**
 * Shows the saved versions of the API's selector in `host`, newest (current) first, each with its
 * size and settings; the older ones can be opened in the editor or rolled back to.
 */
export function renderVersions(host: HTMLElement, v: SelectorView, api: Api, actions: VersionActions): void {
  if (v.versions.length === 0) {
    replace(host, h('p', { class: 'muted small' }, 'None yet. Every save and removal is kept here (the last 20).'));
    return;
  }
  replace(
    host,
    h(
      'ol',
      { class: 'versions' },
      v.versions.map((ver, i) => {
        const isCurrent = i === 0;
        const open = h(
          'button',
          {
            type: 'button',
            class: 'btn btn-small btn-quiet',
            'aria-label': `Open version ${ver.version} in the editor`,
          },
          'Open',
        );
        open.disabled = ver.selector === null;
        open.addEventListener('click', () => {
          if (!ver.selector) return;
          actions.open(ver.version, ver.selector);
        });
        const rollback = gate(
          h(
            'button',
            { type: 'button', class: 'btn btn-small', 'aria-label': `Roll back to version ${ver.version}` },
            'Roll back',
          ),
          'editor',
        );
        rollback.addEventListener(
          'click',
          () => void doRollback(api, ver.version, ver.selector === null, rollback, actions),
        );
        return h(
          'li',
          { dataset: { version: String(ver.version) } },
          h(
            'div',
            { class: 'version-line' },
            h('strong', null, `v${ver.version}`),
            isCurrent ? h('span', { class: 'badge badge-ok' }, 'current') : null,
            h('span', { class: 'small muted', title: dateTime(ver.savedAt) }, ago(ver.savedAt)),
          ),
          h(
            'div',
            { class: 'small muted' },
            ver.selector
              ? `${ver.selector.code.split('\n').length} lines · ${ver.selector.onError} · ${ver.selector.timeoutMs} ms · ${ver.selector.memoryMb} MB`
              : 'Removed the selector',
          ),
          isCurrent ? null : h('div', { class: 'version-actions' }, open, rollback),
        );
      }),
    ),
  );
}

/** Rolls back to a version after asking; the admin API trial-runs it first. */
async function doRollback(
  api: Api,
  version: number,
  removes: boolean,
  button: HTMLButtonElement,
  actions: VersionActions,
): Promise<void> {
  const ok = await confirmDialog({
    title: `Roll back to version ${version}?`,
    message: h(
      'p',
      null,
      removes
        ? 'That version had no selector: the selector is removed from the next request on.'
        : 'It is trial-run first; if it passes, it serves from the next request on. Your editor text is not touched.',
    ),
    confirmLabel: 'Roll back',
  });
  if (!ok) return;
  button.disabled = true;
  try {
    const result = await admin.rollbackSelector(api.id, version);
    actions.rolledBack(result.selector);
    notify(`Rolled back to version ${version}.`);
    await actions.refresh();
  } catch (err) {
    button.disabled = false;
    notify(
      err instanceof ApiError
        ? `${errorSentence(err.code, err.message)}${err.details[0] ? ` ${err.details[0].message}` : ''}`
        : String(err),
      'error',
    );
  }
}
