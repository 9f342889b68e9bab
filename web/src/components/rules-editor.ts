import { OPERATORS, ruleState } from '../rules.js';
import type { Rule } from '../types.js';
import { h, uid } from './dom.js';
import { splitList } from './schema-form.js';

/** The rules part of the node form. */
export interface RulesEditor {
  element: HTMLElement;
  /** The rules as typed (blank rows included, so the API can say what is missing). */
  read(): Rule[];
}

/** A rule as the form holds it while it is typed. */
type RuleDraft = { variable: string; op: string; value: string | string[] };

/**
 * Rows of `variable · operator · value` with a live "holds now" state each. The variable box offers
 * the existing variables and accepts a new name. Paths are `rules.N.field`, matching the API's errors.
 */
export function rulesEditor(
  initial: readonly RuleDraft[],
  variables: ReadonlyMap<string, string>,
  onInput: () => void,
): RulesEditor {
  const listId = uid('vars');
  const datalist = h(
    'datalist',
    { id: listId },
    [...variables.keys()].sort().map((name) => h('option', { value: name })),
  );
  const rows = h('div', { class: 'rules-rows' });
  const empty = h('p', { class: 'muted rules-empty' }, 'No rules: the node takes traffic whenever it is ticked.');
  const addButton = h('button', { type: 'button', class: 'btn btn-small' }, '+ Add rule');

  const readers: Array<() => RuleDraft> = [];

  function renumber(): void {
    readers.length = 0;
    [...rows.children].forEach((row, i) => {
      const r = row as HTMLElement & { readRule?: () => RuleDraft; renumber?: (i: number) => void };
      r.renumber?.(i);
      if (r.readRule) readers.push(r.readRule);
    });
    empty.hidden = rows.children.length > 0;
  }

  function addRow(rule: RuleDraft, focus = false): void {
    const variable = h('input', {
      type: 'text',
      list: listId,
      value: rule.variable,
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: 'IP1_enable',
    });
    const op = h(
      'select',
      null,
      OPERATORS.map((o) => h('option', { value: o.op, selected: o.op === rule.op }, o.words)),
    );
    const value = h('input', {
      type: 'text',
      value: Array.isArray(rule.value) ? rule.value.join(', ') : rule.value,
      autocomplete: 'off',
      spellcheck: 'false',
    });
    const state = h('p', { class: 'rule-state', 'aria-live': 'polite' });
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-quiet' }, 'Remove');
    const labels = {
      variable: h('label', null, 'Variable'),
      op: h('label', null, 'Operator'),
      value: h('label', null, 'Value'),
    };
    const cells = {
      variable: h(
        'div',
        { class: 'field rule-cell' },
        labels.variable,
        variable,
        h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true }),
      ),
      op: h(
        'div',
        { class: 'field rule-cell' },
        labels.op,
        op,
        h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true }),
      ),
      value: h(
        'div',
        { class: 'field rule-cell' },
        labels.value,
        value,
        h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true }),
      ),
    };
    const row = h(
      'div',
      { class: 'rule-row', role: 'group' },
      cells.variable,
      cells.op,
      cells.value,
      h('div', { class: 'rule-side' }, remove),
      state,
    ) as HTMLElement & {
      readRule?: () => RuleDraft;
      renumber?: (i: number) => void;
    };

    const isList = () => OPERATORS.find((o) => o.op === op.value)?.list === true;
    // A row nobody touched reads back its rule as it came: the boxes cannot hold every value as it
    // is (a comma or spaces inside a list item, an empty item, a line break), and an edit elsewhere in
    // the form must not rewrite it.
    let touched = false;
    const read = (): RuleDraft =>
      touched
        ? { variable: variable.value.trim(), op: op.value, value: isList() ? splitList(value.value) : value.value }
        : { ...rule, value: Array.isArray(rule.value) ? [...rule.value] : rule.value };
    function refresh(): void {
      value.placeholder = isList() ? 'true, yes' : 'true';
      const r = read();
      if (r.variable === '') {
        state.textContent = 'Pick a variable or type a new name.';
        state.className = 'rule-state';
        return;
      }
      const s = ruleState(r as Rule, variables);
      state.textContent = s.text;
      state.className = `rule-state ${s.holds ? 'rule-holds' : 'rule-fails'}`;
    }
    row.readRule = read;
    row.renumber = (i) => {
      row.setAttribute('aria-label', `Rule ${i + 1}`);
      for (const [key, cell] of Object.entries(cells)) {
        cell.dataset.path = `rules.${i}.${key}`;
        const control = cell.querySelector('input, select')!;
        control.id = `rule-${listId}-${i}-${key}`;
        cell.querySelector('label')!.htmlFor = control.id;
        const err = cell.querySelector('.field-error')!;
        err.id = `${control.id}-error`;
        control.setAttribute('aria-describedby', err.id);
      }
      remove.setAttribute('aria-label', `Remove rule ${i + 1}`);
    };
    for (const el of [variable, op, value])
      el.addEventListener('input', () => {
        touched = true;
        refresh();
      });
    op.addEventListener('change', () => {
      touched = true;
      refresh();
    });
    remove.addEventListener('click', () => {
      const next = (row.nextElementSibling ?? row.previousElementSibling) as HTMLElement | null;
      row.remove();
      renumber();
      onInput();
      (next?.querySelector('input') ?? addButton).focus();
    });
    rows.appendChild(row);
    refresh();
    renumber();
    if (focus) variable.focus();
  }

  addButton.addEventListener('click', () => {
    addRow({ variable: '', op: 'eq', value: '' }, true);
    onInput();
  });
  for (const r of initial) addRow(r);
  renumber();

  const element = h(
    'fieldset',
    { class: 'field field-group rules-editor', dataset: { path: 'rules' } },
    h('legend', null, 'Rules'),
    h(
      'p',
      { class: 'hint' },
      'The node takes traffic only while all its rules hold. A rule on a variable that is not defined never holds.',
    ),
    datalist,
    rows,
    empty,
    h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true }),
    addButton,
  );
  element.addEventListener('input', onInput);
  return { element, read: () => readers.map((r) => r()) as Rule[] };
}
