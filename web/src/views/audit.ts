import { admin, errorText, isAbort } from '../api.js';
import { confirmDialog } from '../components/dialog.js';
import { h, replace } from '../components/dom.js';
import { loadErrorBox } from '../components/form.js';
import { notify } from '../components/notify.js';
import { cell } from '../components/table.js';
import { fieldChanges } from '../../../src/model/field-diff.js';
import { ago, dateTime } from '../format.js';
import { impactLines } from '../impact.js';
import type { ViewContext } from '../router.js';
import { gate } from '../session.js';
import type { AuditEntry, ObjectKind, PlannedChange } from '../types.js';

const PAGE = 50;
const KINDS = [
  ['', 'Everything'],
  ['api', 'APIs'],
  ['node', 'Nodes'],
  ['variable', 'Variables'],
  ['certificate', 'Certificates'],
  ['consumer', 'Consumers'],
  ['token', 'Admin tokens'],
] as const satisfies ReadonlyArray<readonly [ObjectKind | '', string]>;

/** One change in words: "update node shop/a" and its fields. */
function changeItem(c: Pick<PlannedChange, 'op' | 'kind' | 'name' | 'before' | 'after'>): HTMLElement {
  const fields = c.op === 'update' ? fieldChanges(c.before, c.after) : [];
  return h(
    'li',
    null,
    h('span', { class: `op op-${c.op}` }, c.op),
    ` ${c.kind} `,
    h('strong', null, c.name),
    fields.length ? h('div', { class: 'small muted' }, fields.join('; ')) : null,
  );
}

/**
 * The audit page: every config write with who, when, what changed and the config version it made,
 * filtered by kind and token, newest first with paging; "Revert" undoes one write and "Restore"
 * brings the whole config back to a version, each after showing what it would change (issue 17).
 */
export async function auditView({ root, signal }: ViewContext): Promise<void> {
  document.title = 'Audit log · isogate';
  const kind = h(
    'select',
    { name: 'kind', 'aria-label': 'Kind' },
    KINDS.map(([v, t]) => h('option', { value: v }, t)),
  );
  const actor = h('input', {
    type: 'text',
    name: 'actor',
    'aria-label': 'Token name',
    placeholder: 'token name',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const filter = h(
    'form',
    { class: 'audit-filter toolbar' },
    kind,
    actor,
    h('button', { type: 'submit', class: 'btn' }, 'Filter'),
  );
  const listHost = h(
    'div',
    { class: 'table-host' },
    h('div', { class: 'loading', role: 'status' }, 'Loading the audit log…'),
  );
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Older entries');
  replace(
    root,
    h(
      'div',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', null, 'Audit log')),
      h(
        'p',
        { class: 'lead' },
        'Every config write: which admin token made it, when, the object before and after, and the config version it made. Revert undoes one write; Restore brings the whole config back to how it was at a version. Both are new writes, logged here too.',
      ),
      filter,
      listHost,
      h('div', { class: 'actions actions-start' }, more),
    ),
  );

  let entries: AuditEntry[] = [];
  let next: number | null = null;

  async function load(append: boolean): Promise<void> {
    const query: Record<string, string> = { limit: String(PAGE) };
    if (kind.value) query.kind = kind.value;
    if (actor.value.trim()) query.actor = actor.value.trim();
    if (append && next !== null) query.before = String(next);
    try {
      const page = await admin.audit(query, { signal });
      entries = append ? [...entries, ...page.entries] : page.entries;
      next = page.next;
      render();
    } catch (err) {
      if (isAbort(err)) return;
      replace(listHost, loadErrorBox(err));
    }
  }

  function render(): void {
    more.hidden = next === null;
    if (entries.length === 0) {
      replace(
        listHost,
        h(
          'div',
          { class: 'empty card' },
          h('h3', null, 'Nothing logged yet'),
          h('p', null, 'Config writes show here as they are made.'),
        ),
      );
      return;
    }
    const firstOfVersion = new Set<number>();
    const seen = new Set<number>();
    for (const e of entries) {
      if (e.version !== null && !seen.has(e.version)) {
        seen.add(e.version);
        firstOfVersion.add(e.id);
      }
    }
    replace(
      listHost,
      h(
        'table',
        { class: 'table table-cards audit-table' },
        h('caption', { class: 'sr-only' }, 'Audit log'),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Version', 'When', 'Who', 'Change', 'Details'].map((t) => h('th', { scope: 'col' }, t)),
            h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
          ),
        ),
        h(
          'tbody',
          null,
          entries.map((e) => row(e, firstOfVersion.has(e.id))),
        ),
      ),
    );
  }

  function row(e: AuditEntry, actions: boolean): HTMLTableRowElement {
    const fields = e.op === 'update' ? fieldChanges(e.before, e.after) : [];
    const revert = gate(
      h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Revert version ${e.version}` }, 'Revert'),
      'editor',
    );
    revert.addEventListener('click', () => void run('revert', e.version!, revert));
    const restore = gate(
      h(
        'button',
        { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Restore version ${e.version}` },
        'Restore',
      ),
      'editor',
    );
    restore.title ||= `Bring the whole config back to how it was right after version ${e.version}`;
    restore.addEventListener('click', () => void run('restore', e.version!, restore));
    return h(
      'tr',
      { dataset: { version: String(e.version ?? ''), entry: String(e.id) } },
      cell(
        'Version',
        [e.version === null ? h('span', { class: 'muted' }, '—') : h('strong', null, String(e.version))],
        { class: 'num' },
      ),
      cell('When', [ago(e.at)], { title: dateTime(e.at), class: 'small' }),
      cell('Who', [h('span', { class: 'audit-actor' }, e.actor.name)]),
      cell('Change', [
        h('span', { class: `op op-${e.op}` }, e.op),
        ` ${e.kind} `,
        h('strong', { class: 'audit-object' }, e.objectName),
        e.cause ? h('div', { class: 'small muted audit-cause' }, e.cause) : null,
      ]),
      cell('Details', [
        fields.length ? h('div', { class: 'small audit-fields' }, fields.join('; ')) : null,
        h(
          'details',
          { class: 'small' },
          h('summary', null, 'Before and after'),
          h(
            'div',
            { class: 'json-pair' },
            h('pre', null, JSON.stringify(e.before, null, 2) ?? 'null'),
            h('pre', null, JSON.stringify(e.after, null, 2) ?? 'null'),
          ),
        ),
      ]),
      h('td', { class: 'row-actions' }, actions && e.version !== null ? [revert, restore] : null),
    );
  }

  /** Shows what a revert or restore would change (a dry run), then does it once confirmed. */
  async function run(what: 'revert' | 'restore', version: number, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      const path = what === 'revert' ? '/admin/audit/revert' : '/admin/config/restore';
      const preview = await admin.preview('POST', path, { version });
      if (preview.changes.length === 0) {
        notify(
          what === 'revert'
            ? `Version ${version} changed nothing that is still there.`
            : `The config is already as it was at version ${version}.`,
        );
        return;
      }
      const ok = await confirmDialog({
        title:
          what === 'revert'
            ? `Revert the write that made version ${version}?`
            : `Restore the config of version ${version}?`,
        message: [
          h(
            'p',
            null,
            what === 'revert'
              ? 'These objects go back to how they were before it:'
              : 'Everything changed since goes back to how it was then:',
          ),
          h('ul', { class: 'plain-list change-list' }, preview.changes.map(changeItem)),
          impactLines(preview.impact),
        ],
        confirmLabel: what === 'revert' ? 'Revert' : `Restore version ${version}`,
        danger: (preview.impact?.losesLastNode.length ?? 0) > 0,
      });
      if (!ok) return;
      const result = what === 'revert' ? await admin.revert(version) : await admin.restore(version);
      notify(
        `${what === 'revert' ? `Reverted version ${version}` : `Restored version ${version}`}: ${result.changes.length} ${result.changes.length === 1 ? 'object' : 'objects'} changed, now version ${result.version}.`,
      );
      await load(false);
    } catch (err) {
      notify(errorText(err), 'error');
    } finally {
      if (button.isConnected) button.disabled = false;
    }
  }

  filter.addEventListener('submit', (e) => {
    e.preventDefault();
    void load(false);
  });
  more.addEventListener('click', () => void load(true));
  await load(false);
}
