import { admin, paths } from '../api.js';
import { h, replace, uid } from '../components/dom.js';
import { busy, clearErrors, field, formErrorBox, showErrors, showFieldError } from '../components/form.js';
import { notify } from '../components/notify.js';
import { clearDraft, loadDraft, saveDraft } from '../drafts.js';
import { confirmWithImpact, impactText } from '../impact.js';
import type { Variable } from '../types.js';

// The forms of the Variables page: a new variable, and the value of an existing one edited in place.

/** The new-variable form and how the page fills it in. */
export interface NewVariableForm {
  form: HTMLFormElement;
  /** Fills in a name (with the value true) and moves to the value, for a name rules use but nobody defined. */
  prefill: (name: string) => void;
}

/**
 * The new-variable form: a name and a value (true and false offered), kept as a draft while typed. A
 * name that already exists is refused at its field: creating is for new names, the list edits existing
 * ones. `reload` re-reads the page after a create.
 */
export function newVariableForm(o: {
  exists: (name: string) => boolean;
  reload: () => Promise<void>;
}): NewVariableForm {
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
    if (o.exists(n)) {
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
        await o.reload();
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

/**
 * Turns a variable's Value cell into a one-line form for its new value (kept as a draft while typed).
 * A value that would leave an API without a node asks first; `cancel` shows the value again and
 * `reload` re-reads the page after a save.
 */
export function editValue(v: Variable, cell: HTMLElement, cancel: () => void, reload: () => Promise<void>): void {
  const draftKey = `variable:${v.name}`;
  const current = loadDraft<string>(draftKey) ?? v.value;
  // A value with line breaks is edited in a text area: a one-line box would drop them on save.
  const input: HTMLInputElement | HTMLTextAreaElement = /[\r\n]/.test(current)
    ? h('textarea', {
        name: 'value',
        rows: 3,
        value: current,
        spellcheck: 'false',
        'aria-label': `Value of ${v.name}`,
      })
    : h('input', {
        type: 'text',
        name: 'value',
        value: current,
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
        await reload();
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
