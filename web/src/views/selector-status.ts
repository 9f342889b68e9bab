import { admin, errorText } from '../api.js';
import { h, replace } from '../components/dom.js';
import { busy } from '../components/form.js';
import { notify } from '../components/notify.js';
import { ago, dateTime } from '../format.js';
import type { Api, SelectorMemoization, SelectorView } from '../types.js';
import { SELECTOR_ERROR_KINDS } from '../words.js';

// The State card of the Selector tab: whether the saved selector runs, is quarantined or is not started
// (past the gateway's selector budget), its counts, memoization and cache, and its last errors.

/** The status panel's memoization verdict: "yes", or "no" with why. */
function memoizationText(m: SelectorMemoization): string {
  if (m.active) return 'yes';
  if (m.mode === false) return 'no (memoize is off)';
  return m.reason ? `no — ${m.reason}` : 'no';
}

/**
 * Shows the runtime state of the API's selector in `host`: none, loading, active or quarantined (with a
 * button that lifts the quarantine), calls, failures, memoization and cache figures, the last errors.
 * `refresh` re-reads the tab after the quarantine is lifted.
 */
export function renderStatus(host: HTMLElement, v: SelectorView, api: Api, refresh: () => Promise<void>): void {
  if (!v.selector) {
    replace(
      host,
      h('p', null, h('span', { class: 'badge badge-off' }, 'No selector')),
      h('p', { class: 'small muted' }, 'Every request can go to any node that is ticked and whose rules hold.'),
    );
    return;
  }
  const s = v.status;
  if (!s) {
    replace(host, h('p', null, h('span', { class: 'badge' }, 'Loading in the gateway…')));
    return;
  }
  replace(
    host,
    h(
      'p',
      null,
      s.state === 'active'
        ? h('span', { class: 'badge badge-ok' }, 'Active')
        : s.state === 'over-budget'
          ? h('span', { class: 'badge badge-danger' }, 'Not started')
          : h('span', { class: 'badge badge-danger' }, 'Quarantined'),
    ),
    s.state === 'over-budget'
      ? h(
          'p',
          { class: 'small' },
          `The gateway does not run this selector, ${s.notStarted?.replace(/^not started: /, '') ?? 'past its selector budget'}. Every request to this API is answered 503 SELECTOR_OVER_BUDGET until the selectors fit: delete one or lower a memoryMb (or raise the gateway's --selector-max-programs / --selector-memory-mb).`,
        )
      : null,
    s.state === 'quarantined'
      ? [
          h(
            'p',
            { class: 'small' },
            `Quarantined ${s.quarantinedAt ? ago(s.quarantinedAt) : ''}: the gateway stopped running it after repeated failures and treats every request as a selector failure (onError: ${v.selector.onError}). Save a fixed version, or lift the quarantine to start this one afresh.`,
          ),
          liftButton(api, refresh),
        ]
      : null,
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Calls'),
      h('dd', null, String(s.calls)),
      h('dt', null, 'Failures'),
      h('dd', { class: s.failures > 0 ? 'text-danger' : '' }, String(s.failures)),
      s.skipped ? [h('dt', null, 'Not run (quarantined)'), h('dd', null, String(s.skipped))] : null,
      s.consoleDropped ? [h('dt', null, 'Console lines dropped'), h('dd', null, String(s.consoleDropped))] : null,
      h('dt', null, 'Memoized'),
      h('dd', { class: 'memoization' }, memoizationText(s.memoization)),
      s.cache
        ? [
            h('dt', null, 'Answered from the cache'),
            h('dd', null, `${s.cache.hits} of ${s.cache.hits + s.cache.misses} (${s.cache.entries} results kept)`),
            s.cache.uncacheable
              ? [h('dt', null, 'Runs not cacheable'), h('dd', null, String(s.cache.uncacheable))]
              : null,
            h('dt', null, 'Checked by running again'),
            h(
              'dd',
              { class: s.cache.mismatches > 0 ? 'text-danger' : '' },
              `${s.cache.verified} (${s.cache.mismatches} differed)`,
            ),
          ]
        : null,
    ),
    h('h3', { class: 'small-head' }, 'Last errors'),
    s.lastErrors.length === 0
      ? h('p', { class: 'muted small' }, 'None since this version was loaded.')
      : h(
          'ul',
          { class: 'error-list' },
          s.lastErrors.map((e) =>
            h(
              'li',
              null,
              h('span', { class: 'small muted', title: dateTime(e.at) }, ago(e.at)),
              ' ',
              h('strong', null, SELECTOR_ERROR_KINDS[e.kind] ?? e.kind),
              e.line !== undefined ? ` (line ${e.line})` : '',
              h('div', { class: 'small' }, e.message),
            ),
          ),
        ),
  );
}

/** Lifts a quarantine: the same selector is saved again, and every gateway process starts it afresh. */
function liftButton(api: Api, refresh: () => Promise<void>): HTMLButtonElement {
  const button = h(
    'button',
    { type: 'button', class: 'btn btn-small', dataset: { busyLabel: 'Restarting…' } },
    'Lift quarantine',
  );
  button.addEventListener('click', () => {
    void busy(button, async () => {
      try {
        await admin.restartSelector(api.id);
        notify('Quarantine lifted: the selector starts afresh from the next request.');
        await refresh();
      } catch (err) {
        notify(errorText(err), 'error');
      }
    });
  });
  return button;
}
