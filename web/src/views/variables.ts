import { admin, ApiError, isAbort, paths } from '../api.js';
import { confirmDialog } from '../components/dialog.js';
import { h, replace, uid } from '../components/dom.js';
import { cell, cellBody } from '../components/table.js';
import { busy, clearErrors, field, formErrorBox, showErrors, showFieldError } from '../components/form.js';
import { notify } from '../components/notify.js';
import { toggleSwitch } from '../components/switch.js';
import { clearDraft, loadDraft, saveDraft } from '../drafts.js';
import { ago, dateTime, plural } from '../format.js';
import type { ViewContext } from '../router.js';
import type { Variable, VariableNodeUse, VariableUsage } from '../types.js';
import { confirmWithImpact, impactLines, impactText } from '../impact.js';
import { can, gate } from '../session.js';
import { errorSentence } from '../words.js';

/** "4 nodes in 3 APIs", or "No rule uses it". */
export function usageText(uses: readonly VariableNodeUse[]): string {
  if (uses.length === 0) return 'No rule uses it';
  const apis = new Set(uses.map((u) => u.apiId)).size;
  return `${plural(uses.length, 'node')} in ${plural(apis, 'API')}`;
}

/** Whether a value is shown as a switch. */
function isBoolean(value: string): boolean {
  return value === 'true' || value === 'false';
}

/**
 * The Variables page: each variable with its value (true/false as a switch that applies at once),
 * the nodes of which APIs its rules control, and create, edit and delete. Names that rules use but
 * that are not defined are listed too, since such rules never hold.
 */
export async function variablesView({ root, signal }: ViewContext): Promise<void> {
  document.title = 'Variables · isogate';
  let variables: Variable[] = [];
  let usage: VariableUsage[] = [];
  const listHost = h('div', null, h('div', { class: 'loading', role: 'status' }, 'Loading variables…'));
  const missingHost = h('div');
  const createForm = newVariableForm();
  replace(
    root,
    h(
      'div',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', null, 'Variables')),
      h(
        'p',
        { class: 'lead' },
        'A variable is a global name and value that node rules read. Set ',
        h('code', null, 'IP1_enable'),
        ' to false and every node whose rule wants it true stops taking traffic, in every API, from the next request.',
      ),
      can('operator')
        ? h(
            'section',
            { class: 'card', 'aria-labelledby': 'new-var-title' },
            h('h2', { id: 'new-var-title' }, 'New variable'),
            createForm.form,
          )
        : null,
      missingHost,
      h(
        'section',
        { 'aria-labelledby': 'vars-title' },
        h('h2', { id: 'vars-title', class: 'sr-only' }, 'All variables'),
        listHost,
      ),
    ),
  );

  async function load(): Promise<void> {
    try {
      const [v, u] = await Promise.all([admin.listVariables({ signal }), admin.variableUsage({ signal })]);
      variables = v;
      usage = u;
      render();
    } catch (err) {
      if (isAbort(err)) return;
      replace(
        listHost,
        h(
          'div',
          { class: 'form-error', role: 'alert' },
          err instanceof ApiError ? errorSentence(err.code, err.message) : String(err),
        ),
      );
    }
  }

  function usesOf(name: string): VariableNodeUse[] {
    return usage.find((u) => u.name === name)?.uses ?? [];
  }

  function render(): void {
    const missing = usage.filter((u) => u.value === null);
    replace(
      missingHost,
      missing.length === 0
        ? null
        : h(
            'section',
            { class: 'card card-warn', 'aria-labelledby': 'missing-title' },
            h('h2', { id: 'missing-title' }, 'Used by rules but not defined'),
            h(
              'p',
              { class: 'small' },
              'A rule on a variable that does not exist never holds, so these nodes take no traffic.',
            ),
            h(
              'ul',
              { class: 'plain-list' },
              missing.map((m) =>
                h(
                  'li',
                  null,
                  h('code', null, m.name),
                  ` — ${usageText(m.uses)} `,
                  gate(
                    h(
                      'button',
                      { type: 'button', class: 'btn btn-small', onclick: () => createForm.prefill(m.name) },
                      `Define ${m.name}`,
                    ),
                    'operator',
                  ),
                ),
              ),
            ),
          ),
    );
    if (variables.length === 0) {
      replace(
        listHost,
        h(
          'div',
          { class: 'empty card' },
          h('h3', null, 'No variables yet'),
          h('p', null, 'Create one above, for example IP1_enable = true, then give nodes a rule on it.'),
        ),
      );
      return;
    }
    replace(
      listHost,
      h(
        'table',
        { class: 'table table-cards vars-table' },
        h('caption', { class: 'sr-only' }, 'Variables'),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Name', 'Value', 'Controls', 'Updated'].map((t) => h('th', { scope: 'col' }, t)),
            h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
          ),
        ),
        h(
          'tbody',
          null,
          variables.map((v) => row(v)),
        ),
      ),
    );
  }

  function row(v: Variable): HTMLTableRowElement {
    const uses = usesOf(v.name);
    const valueTd = cell('Value', [], { class: 'value-cell' });
    const valueCell = cellBody(valueTd);
    const error = h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true });
    const showValue = () => {
      if (isBoolean(v.value)) {
        const sw = gate(
          toggleSwitch({
            checked: v.value === 'true',
            label: v.name,
            onchange: (checked, input) => void setValue(v, checked ? 'true' : 'false', input, error),
          }),
          'operator',
        );
        replace(
          valueCell,
          h('span', { class: 'switch-line' }, sw, h('code', { class: 'switch-value' }, v.value)),
          error,
        );
      } else replace(valueCell, h('code', { class: 'wrap' }, v.value === '' ? '""' : v.value), error);
    };
    showValue();
    const edit = gate(
      h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Edit ${v.name}` }, 'Edit'),
      'operator',
    );
    edit.addEventListener('click', () => editValue(v, valueCell, showValue));
    const del = gate(
      h(
        'button',
        { type: 'button', class: 'btn btn-small btn-quiet btn-danger-text', 'aria-label': `Delete ${v.name}` },
        'Delete',
      ),
      'operator',
    );
    del.addEventListener('click', () => void remove(v, del));
    return h(
      'tr',
      { dataset: { variable: v.name } },
      cell('Name', [h('code', { class: 'strong' }, v.name)], {}, 'th'),
      valueTd,
      cell('Controls', [usageCell(v.name, uses)], { class: 'usage' }),
      cell('Updated', [ago(v.updatedAt)], { class: 'muted small', title: dateTime(v.updatedAt) }),
      h('td', { class: 'row-actions' }, edit, del),
    );
  }

  function usageCell(name: string, uses: VariableNodeUse[]): HTMLElement {
    const text = `${name}: ${usageText(uses)}`;
    if (uses.length === 0) return h('span', { class: 'muted' }, text);
    const byApi = new Map<string, VariableNodeUse[]>();
    for (const u of uses) byApi.set(u.apiId, [...(byApi.get(u.apiId) ?? []), u]);
    return h(
      'details',
      { class: 'usage-details' },
      h('summary', null, text),
      h(
        'ul',
        { class: 'plain-list small' },
        [...byApi.values()].map((list) =>
          h(
            'li',
            null,
            h('a', { href: `/apis/${encodeURIComponent(list[0]!.apiId)}/nodes` }, list[0]!.apiName),
            ': ',
            list.map((u, i) => [
              i > 0 ? ', ' : '',
              h(
                'span',
                { class: u.holds ? 'text-ok' : 'text-muted' },
                u.nodeName,
                h('span', { class: 'sr-only' }, u.holds ? ' (rule holds)' : ' (rule does not hold)'),
                h('span', { 'aria-hidden': 'true' }, u.holds ? ' ✓' : ' ✗'),
              ),
            ]),
          ),
        ),
      ),
    );
  }

  async function setValue(v: Variable, value: string, input: HTMLInputElement, error: HTMLElement): Promise<void> {
    input.disabled = true;
    error.hidden = true;
    try {
      // What the flip would do first; one that leaves an API without a node asks before it applies.
      const { go, impact } = await confirmWithImpact({
        method: 'PUT',
        path: paths.variable(v.name),
        body: { value },
        title: `Set ${v.name} to ${value}?`,
        confirmLabel: `Set ${v.name} to ${value}`,
      });
      if (!go) {
        input.checked = !input.checked;
        input.disabled = false;
        input.focus();
        return;
      }
      await admin.putVariable(v.name, value);
      const uses = usesOf(v.name);
      await load();
      notify(
        `${v.name} is now ${value}: ${uses.length ? `${usageText(uses)} follow` : 'no rule uses it'} from the next request.${impactText(impact)}`,
      );
      listHost.querySelector<HTMLElement>(`tr[data-variable="${CSS.escape(v.name)}"] [role="switch"]`)?.focus();
    } catch (err) {
      input.checked = !input.checked;
      input.disabled = false;
      error.textContent = err instanceof ApiError ? errorSentence(err.code, err.message) : String(err);
      error.hidden = false;
    }
  }

  function editValue(v: Variable, cell: HTMLElement, cancel: () => void): void {
    const draftKey = `variable:${v.name}`;
    const input = h('input', {
      type: 'text',
      name: 'value',
      value: loadDraft<string>(draftKey) ?? v.value,
      autocomplete: 'off',
      spellcheck: 'false',
      'aria-label': `Value of ${v.name}`,
    });
    const save = h(
      'button',
      { type: 'submit', class: 'btn btn-small btn-primary', dataset: { busyLabel: 'Saving…' } },
      'Save',
    );
    const back = h('button', { type: 'button', class: 'btn btn-small' }, 'Cancel');
    const form = h(
      'form',
      { class: 'inline-edit', novalidate: true },
      formErrorBox(),
      h(
        'div',
        { class: 'field', dataset: { path: 'value' } },
        input,
        h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true }),
      ),
      h('div', { class: 'actions actions-start' }, save, back),
    );
    input.addEventListener('input', () => saveDraft(draftKey, input.value));
    back.addEventListener('click', () => {
      clearDraft(draftKey);
      cancel();
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      clearErrors(form);
      void busy(save, async () => {
        try {
          const { go, impact } = await confirmWithImpact({
            method: 'PUT',
            path: paths.variable(v.name),
            body: { value: input.value },
            title: `Set ${v.name} to “${input.value}”?`,
            confirmLabel: 'Save',
          });
          if (!go) return;
          await admin.putVariable(v.name, input.value);
          clearDraft(draftKey);
          await load();
          notify(`${v.name} saved; it applies from the next request.${impactText(impact)}`);
        } catch (err) {
          showErrors(form, err);
        }
      });
    });
    replace(cell, form);
    input.focus();
    input.select();
  }

  async function remove(v: Variable, button: HTMLButtonElement): Promise<void> {
    const uses = usesOf(v.name);
    let impact;
    try {
      impact = (await admin.preview('DELETE', paths.variable(v.name))).impact;
    } catch (err) {
      notify(err instanceof ApiError ? errorSentence(err.code, err.message) : String(err), 'error');
      return;
    }
    const ok = await confirmDialog({
      title: `Delete the variable ${v.name}?`,
      message:
        uses.length === 0
          ? h('p', null, 'No rule uses it.')
          : [
              h('p', null, `Rules of ${usageText(uses)} read it:`),
              h(
                'ul',
                { class: 'plain-list' },
                uses.map((u) => h('li', null, h('strong', null, u.apiName), ' › ', u.nodeName)),
              ),
              h(
                'p',
                null,
                'Once it is gone these rules never hold, so those nodes stop taking traffic from the next request.',
              ),
              impactLines(impact),
            ],
      confirmLabel: 'Delete variable',
      danger: true,
    });
    if (!ok) return;
    button.disabled = true;
    try {
      await admin.deleteVariable(v.name);
      await load();
      notify(`${v.name} deleted.`);
    } catch (err) {
      button.disabled = false;
      notify(err instanceof ApiError ? errorSentence(err.code, err.message) : String(err), 'error');
    }
  }

  function newVariableForm(): { form: HTMLFormElement; prefill: (name: string) => void } {
    const draftKey = 'variable:new';
    const draft = loadDraft<{ name: string; value: string }>(draftKey) ?? { name: '', value: '' };
    const name = h('input', {
      type: 'text',
      name: 'name',
      value: draft.name,
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'IP1_enable',
      maxlength: 64,
    });
    const value = h('input', {
      type: 'text',
      name: 'value',
      value: draft.value,
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'true',
      list: uid('vals'),
    });
    const values = h(
      'datalist',
      { id: value.getAttribute('list')! },
      h('option', { value: 'true' }),
      h('option', { value: 'false' }),
    );
    const submit = h(
      'button',
      { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Creating…' } },
      'Create variable',
    );
    const form = h(
      'form',
      { class: 'new-variable', novalidate: true },
      formErrorBox(),
      h(
        'div',
        { class: 'grid-inline' },
        field({
          label: 'Name',
          path: 'name',
          control: name,
          required: true,
          hint: 'Letters, digits and _, not starting with a digit.',
        }),
        field({ label: 'Value', path: 'value', control: value, hint: 'Always text; true and false show as a switch.' }),
        h('div', { class: 'field field-submit' }, submit),
      ),
      values,
    );
    form.addEventListener('input', () => saveDraft(draftKey, { name: name.value, value: value.value }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      clearErrors(form);
      const n = name.value.trim();
      if (n === '') {
        showFieldError(form, 'name', 'Required.');
        name.focus();
        return;
      }
      // PUT would silently replace it: creating is for new names, the list below edits existing ones.
      if (variables.some((v) => v.name === n)) {
        showFieldError(form, 'name', `${n} already exists; change its value in the list below.`);
        name.focus();
        return;
      }
      void busy(submit, async () => {
        try {
          await admin.putVariable(n, value.value);
          clearDraft(draftKey);
          name.value = '';
          value.value = '';
          await load();
          notify(`Variable ${n} created.`);
          name.focus();
        } catch (err) {
          showErrors(form, err);
        }
      });
    });
    return {
      form,
      prefill(n) {
        name.value = n;
        value.value = 'true';
        saveDraft(draftKey, { name: n, value: 'true' });
        value.focus();
        value.select();
      },
    };
  }

  await load();
}
