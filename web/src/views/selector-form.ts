import { admin, ApiError } from '../api.js';
import type { CodeEditor } from '../components/code-editor.js';
import { confirmDialog } from '../components/dialog.js';
import { h } from '../components/dom.js';
import { busy, clearErrors, field, formErrorBox, showErrors, showFormError } from '../components/form.js';
import { notify } from '../components/notify.js';
import { clearDraft, loadDraft, saveDraft } from '../drafts.js';
import { can, gate } from '../session.js';
import type { Api, MemoizeMode, SampleRequest, SelectorConfig, SelectorTemplate } from '../types.js';
import { sentence, SELECTOR_ERROR_KINDS } from '../words.js';
import { configOf, draftOf, memoizeOf, sameDraft, STARTER, type SelectorDraft } from './selector-draft.js';

// The editor card of the Selector tab: the script in CodeMirror with the templates, the onError, time,
// memory and memoize settings, and save, revert and remove.

/** The editor card, for the rest of the tab. */
export interface SelectorForm {
  /** The selector as typed, as the admin API takes it. */
  config(): SelectorConfig;
  /** Marks a line (1-based) and column of the script as in error. */
  showError(line: number, column: number | undefined, message: string): void;
  /** Puts a saved version's selector in the editor (not saved; Ctrl+Z undoes it). */
  openVersion(version: number, selector: SelectorConfig): void;
  /** Tells the form which selector serves now after a change made elsewhere (a roll back). */
  setSaved(selector: SelectorConfig | null): void;
  /** Frees the editor when the tab is left. */
  destroy(): void;
}

/**
 * Builds the selector form in `card`, which is already on the page (CodeMirror sets itself up in the
 * document). It starts from the draft kept from before, else the saved selector, else the starter
 * script. Saving sends the test panel's sample request for the trial run; a failed trial is shown at
 * its line and nothing is saved. What is typed is kept as a draft until it matches what is saved.
 */
export function selectorForm(
  card: HTMLElement,
  o: {
    api: Api;
    /** The selector saved now, or null. */
    saved: SelectorConfig | null;
    templates: SelectorTemplate[];
    editorModule: typeof import('../components/code-editor.js');
    /** The element whose fields show a save's errors (the test panel's request fields included). */
    errorRoot: () => HTMLElement;
    /** The test panel's sample request, or null when one of its fields cannot be read. */
    sample: () => SampleRequest | null;
    /** Re-reads the state and the versions after a save or a removal. */
    refresh: () => Promise<void>;
  },
): SelectorForm {
  const { api, templates } = o;
  const draftKey = `selector:${api.id}`;
  let saved = o.saved;
  const savedDraft = () => draftOf(saved, STARTER);
  const kept = loadDraft<SelectorDraft>(draftKey);
  const stored = kept && { ...kept, memoize: memoizeOf(kept.memoize) };
  const start = stored ?? savedDraft();

  // Settings.
  const onError = h(
    'select',
    { name: 'onError' },
    h('option', { value: 'use-all', selected: start.onError === 'use-all' }, 'Go on with all nodes (use-all)'),
    h('option', { value: 'reject', selected: start.onError === 'reject' }, 'Reject the request with 503 (reject)'),
  );
  const timeoutMs = h('input', {
    type: 'number',
    name: 'timeoutMs',
    min: 1,
    max: 1000,
    step: 1,
    inputmode: 'numeric',
    value: start.timeoutMs,
  });
  const memoryMb = h('input', {
    type: 'number',
    name: 'memoryMb',
    min: 8,
    max: 512,
    step: 1,
    inputmode: 'numeric',
    value: start.memoryMb,
  });
  const memoize = h(
    'select',
    { name: 'memoize' },
    h('option', { value: 'auto', selected: start.memoize === 'auto' }, 'Automatic — when the script keeps no state'),
    h('option', { value: 'true', selected: start.memoize === true }, 'Always — I promise it keeps no state'),
    h('option', { value: 'false', selected: start.memoize === false }, 'Never'),
  );
  const memoizeValue = (): MemoizeMode => (memoize.value === 'auto' ? 'auto' : memoize.value === 'true');

  // Editor.
  const editorHost = h('div', { class: 'code-editor' });
  const codeError = h('p', { class: 'field-error', id: 'code-error', 'aria-live': 'polite', hidden: true });
  const codeHint = h(
    'p',
    { class: 'hint', id: 'code-hint' },
    'Tab indents; press Esc then Tab to leave the editor. Ctrl+Z undoes, also a loaded template.',
  );
  const dirtyBadge = h('span', { class: 'badge', 'aria-live': 'polite' });
  const templatePick = h(
    'select',
    { 'aria-label': 'Template' },
    h('option', { value: '' }, templates.length ? 'Start from a template…' : 'No templates in scripts-examples/'),
    templates.map((t) => h('option', { value: t.name, title: t.description }, t.title)),
  );
  templatePick.disabled = templates.length === 0;
  const loadTemplate = h('button', { type: 'button', class: 'btn btn-small', disabled: true }, 'Load template');
  const templateInfo = h('p', { class: 'hint', hidden: true });
  templatePick.addEventListener('change', () => {
    loadTemplate.disabled = templatePick.value === '';
    templateInfo.textContent = templates.find((t) => t.name === templatePick.value)?.description ?? '';
    templateInfo.hidden = templateInfo.textContent === '';
  });

  const saveButton = gate(
    h(
      'button',
      { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Checking and saving…' } },
      'Save selector',
    ),
    'editor',
  );
  const revertButton = h('button', { type: 'button', class: 'btn' }, 'Revert to saved');
  const removeButton = gate(
    h('button', { type: 'button', class: 'btn btn-quiet btn-danger-text' }, 'Remove selector'),
    'editor',
  );
  const restoredNote = h(
    'div',
    { class: 'notice', role: 'status', hidden: stored === null || sameDraft(stored, savedDraft()) },
    'Restored your unsaved changes from before. "Revert to saved" drops them.',
  );

  const form = h(
    'form',
    { class: 'selector-form stack', novalidate: true },
    restoredNote,
    formErrorBox(),
    h(
      'div',
      { class: 'editor-toolbar' },
      h('h2', { class: 'editor-label', id: 'code-label' }, 'Script'),
      dirtyBadge,
      h('span', { class: 'spacer' }),
      templatePick,
      loadTemplate,
    ),
    templateInfo,
    h('div', { class: 'field code-field', dataset: { path: 'code' } }, editorHost, codeError),
    codeHint,
    h(
      'div',
      { class: 'grid-3' },
      field({
        label: 'When the selector fails',
        path: 'onError',
        control: onError,
        hint: 'A throw, timeout, memory limit or bad result.',
      }),
      field({ label: 'Time limit (ms of CPU per call)', path: 'timeoutMs', control: timeoutMs, hint: '1–1000' }),
      field({ label: 'Memory limit (MB)', path: 'memoryMb', control: memoryMb, hint: '8–512' }),
    ),
    field({
      label: 'Memoize results',
      path: 'memoize',
      control: memoize,
      hint: 'Repeated requests are answered from a cache without running select(). Automatic: only when the gateway finds the script keeps no state between calls.',
    }),
    h(
      'div',
      { class: 'actions actions-start' },
      saveButton,
      revertButton,
      h('span', { class: 'spacer' }),
      removeButton,
    ),
  );
  card.appendChild(form);

  const current = (): SelectorDraft => ({
    code: editor.getCode(),
    onError: onError.value,
    timeoutMs: timeoutMs.value,
    memoryMb: memoryMb.value,
    memoize: memoizeValue(),
  });

  /** Puts a draft's text and settings in the form; the editor keeps the old text in its undo history. */
  function show(d: SelectorDraft): void {
    editor.setCode(d.code);
    onError.value = d.onError;
    timeoutMs.value = d.timeoutMs;
    memoryMb.value = d.memoryMb;
    memoize.value = String(d.memoize);
  }

  function refreshDirty(): void {
    const dirty = !sameDraft(current(), savedDraft());
    if (saved === null) {
      dirtyBadge.textContent = 'Not saved yet';
      dirtyBadge.className = 'badge badge-warn';
    } else {
      dirtyBadge.textContent = dirty ? 'Unsaved changes' : 'Saved';
      dirtyBadge.className = `badge ${dirty ? 'badge-warn' : 'badge-ok'}`;
    }
    revertButton.hidden = saved === null || !dirty;
    removeButton.hidden = saved === null;
    if (dirty || saved === null) saveDraft(draftKey, current());
    else clearDraft(draftKey);
  }

  const editor: CodeEditor = o.editorModule.createCodeEditor(editorHost, {
    doc: start.code,
    label: 'Selector script',
    describedBy: 'code-hint code-error',
    onChange: () => {
      refreshDirty();
    },
  });
  form.addEventListener('input', refreshDirty);
  form.addEventListener('change', refreshDirty);

  loadTemplate.addEventListener('click', () => {
    const t = templates.find((x) => x.name === templatePick.value);
    if (!t) return;
    editor.setCode(t.code);
    editor.clearError();
    notify(`Loaded the template “${t.title}”. Ctrl+Z brings back what was there.`);
    editor.focus();
  });

  revertButton.addEventListener('click', () => {
    show(savedDraft());
    editor.clearError();
    clearErrors(o.errorRoot());
    restoredNote.hidden = true;
    refreshDirty();
    notify('Back to the saved selector. Ctrl+Z in the editor brings your text back.');
  });

  removeButton.addEventListener('click', () => {
    void (async () => {
      const ok = await confirmDialog({
        title: `Remove the selector of ${api.name}?`,
        message: h(
          'p',
          null,
          'From the next request every node that is ticked and whose rules hold can be picked. The script stays in the editor and in the saved versions.',
        ),
        confirmLabel: 'Remove selector',
        danger: true,
      });
      if (!ok) return;
      try {
        await admin.deleteSelector(api.id);
        saved = null;
        notify('Selector removed.');
        refreshDirty();
        await o.refresh();
      } catch (err) {
        showErrors(o.errorRoot(), err);
      }
    })();
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const root = o.errorRoot();
    clearErrors(root);
    editor.clearError();
    const sample = o.sample();
    if (!sample || !can('editor')) return;
    const body = { ...configOf(current()), sample };
    void busy(saveButton, async () => {
      try {
        const result = await admin.putSelector(api.id, body);
        saved = result.selector;
        restoredNote.hidden = true;
        refreshDirty();
        notify('Selector saved; it serves from the next request.');
        await o.refresh();
      } catch (err) {
        // sample.* errors belong to the test panel's request fields.
        showErrors(root, err, {
          mapPath: (p) => (p.startsWith('sample.') ? `request.${p.slice('sample.'.length)}` : p),
        });
        if (err instanceof ApiError && err.code === 'SELECTOR_INVALID') {
          const detail = err.details.find((d) => d.path === 'code');
          if (detail?.line !== undefined) editor.showError(detail.line, detail.column, detail.message);
          const kind = /\(([\w-]+)\)/.exec(err.message)?.[1];
          const why =
            kind && SELECTOR_ERROR_KINDS[kind]
              ? `Nothing was saved: the trial run found that the selector ${SELECTOR_ERROR_KINDS[kind]}.`
              : sentence(err.message);
          showFormError(root, `${why} ${saved ? 'The selector saved before keeps serving.' : ''}`.trim());
          editor.focus();
        }
      }
    });
  });

  refreshDirty();

  return {
    config: () => configOf(current()),
    showError: (line, column, message) => editor.showError(line, column, message),
    openVersion(version, selector) {
      show(draftOf(selector, selector.code));
      refreshDirty();
      notify(`Version ${version} is in the editor; save to use it, or Ctrl+Z to undo.`);
      editor.focus();
    },
    setSaved(selector) {
      saved = selector;
      refreshDirty();
    },
    destroy: () => editor.view.destroy(),
  };
}
