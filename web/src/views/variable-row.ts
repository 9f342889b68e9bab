import { admin, errorText, paths } from '../api.js';
import { confirmDialog } from '../components/dialog.js';
import { h, replace } from '../components/dom.js';
import { notify } from '../components/notify.js';
import { toggleSwitch } from '../components/switch.js';
import { cell, cellBody } from '../components/table.js';
import { ago, dateTime } from '../format.js';
import { confirmWithImpact, impactLines, impactText } from '../impact.js';
import { gate } from '../session.js';
import type { Variable, VariableNodeUse } from '../types.js';
import { editValue } from './variable-forms.js';
import { usageCell, usageText } from './variable-usage.js';

// A row of the Variables table and what its controls do: flip, edit and delete.

/** What a row needs from the Variables page. */
export interface VariablesPage {
  /** The nodes whose rules read a variable, as last loaded. */
  usesOf: (name: string) => VariableNodeUse[];
  /** Reads the variables and their usage again and shows them. */
  reload: () => Promise<void>;
  /** The element the table is in (after a flip the new row's switch takes the focus). */
  list: HTMLElement;
}

/** Whether a value is shown as a switch. */
function isBoolean(value: string): boolean {
  return value === 'true' || value === 'false';
}

/**
 * A variable's row: its name, its value (true/false as a switch that applies at once, after asking when
 * the flip would leave an API without a node), the nodes it controls, when it changed, and Edit and
 * Delete.
 */
export function variableRow(v: Variable, page: VariablesPage): HTMLTableRowElement {
  const uses = page.usesOf(v.name);
  const valueTd = cell('Value', [], { class: 'value-cell' });
  const valueCell = cellBody(valueTd);
  const error = h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true });
  const showValue = () => {
    if (isBoolean(v.value)) {
      const sw = gate(
        toggleSwitch({
          checked: v.value === 'true',
          label: v.name,
          onchange: (checked, input) => void setValue(v, checked ? 'true' : 'false', input, error, page),
        }),
        'operator',
      );
      replace(valueCell, h('span', { class: 'switch-line' }, sw, h('code', { class: 'switch-value' }, v.value)), error);
    } else replace(valueCell, h('code', { class: 'wrap' }, v.value === '' ? '""' : v.value), error);
  };
  showValue();
  const edit = gate(
    h('button', { type: 'button', class: 'btn btn-small btn-quiet', 'aria-label': `Edit ${v.name}` }, 'Edit'),
    'operator',
  );
  edit.addEventListener('click', () => editValue(v, valueCell, showValue, page.reload));
  const del = gate(
    h(
      'button',
      { type: 'button', class: 'btn btn-small btn-quiet btn-danger-text', 'aria-label': `Delete ${v.name}` },
      'Delete',
    ),
    'operator',
  );
  del.addEventListener('click', () => void remove(v, del, page));
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

/** Sets a variable from its switch; on a refusal or an error the switch goes back and the error shows under it. */
async function setValue(
  v: Variable,
  value: string,
  input: HTMLInputElement,
  error: HTMLElement,
  page: VariablesPage,
): Promise<void> {
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
    const uses = page.usesOf(v.name);
    await page.reload();
    notify(
      `${v.name} is now ${value}: ${uses.length ? `${usageText(uses)} follow` : 'no rule uses it'} from the next request.${impactText(impact)}`,
    );
    page.list.querySelector<HTMLElement>(`tr[data-variable="${CSS.escape(v.name)}"] [role="switch"]`)?.focus();
  } catch (err) {
    input.checked = !input.checked;
    input.disabled = false;
    error.textContent = errorText(err);
    error.hidden = false;
  }
}

/** Deletes a variable after a dialog that names the nodes whose rules read it and what the delete would do. */
async function remove(v: Variable, button: HTMLButtonElement, page: VariablesPage): Promise<void> {
  const uses = page.usesOf(v.name);
  let impact;
  try {
    impact = (await admin.preview('DELETE', paths.variable(v.name))).impact;
  } catch (err) {
    notify(errorText(err), 'error');
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
    await page.reload();
    notify(`${v.name} deleted.`);
  } catch (err) {
    button.disabled = false;
    notify(errorText(err), 'error');
  }
}
