import { admin, ApiError, isAbort } from '../api.js';
import type { CodeEditor } from '../components/code-editor.js';
import { confirmDialog } from '../components/dialog.js';
import { h, replace } from '../components/dom.js';
import { busy, clearErrors, field, formErrorBox, showErrors, showFormError } from '../components/form.js';
import { notify } from '../components/notify.js';
import { clearDraft, loadDraft, saveDraft } from '../drafts.js';
import { ago, dateTime } from '../format.js';
import { every } from '../router.js';
import type {
  Api,
  MemoizeMode,
  SelectorConfig,
  SelectorMemoization,
  SelectorTemplate,
  SelectorView,
} from '../types.js';
import { errorSentence, sentence, SELECTOR_ERROR_KINDS } from '../words.js';
import { can, gate } from '../session.js';
import { selectorTestPanel } from './selector-test.js';

const STATUS_EVERY_MS = 5000;

/** What a new selector starts from when there is no template. */
const STARTER = `// select(request, env, nodes) returns the nodes this request may go to.
// request: { method, path, query, headers, body, clientIp }
// env:     every variable, e.g. env.IP1_enable === "true"
// nodes:   [{ id, name, url, weight, tags }] after the ticks, rules and health checks
function select(request, env, nodes) {
  return nodes;
}
`;

/** The editor's text and settings as typed (and kept as a draft). */
interface SelectorDraft {
  code: string;
  onError: string;
  timeoutMs: string;
  memoryMb: string;
  memoize: MemoizeMode;
}

/** A memoize setting as stored or typed; drafts kept before the setting existed have none: "auto". */
function memoizeOf(v: unknown): MemoizeMode {
  return v === true || v === false ? v : 'auto';
}

function draftOf(config: SelectorConfig | null, code: string): SelectorDraft {
  return {
    code: config?.code ?? code,
    onError: config?.onError ?? 'use-all',
    timeoutMs: String(config?.timeoutMs ?? 20),
    memoryMb: String(config?.memoryMb ?? 32),
    memoize: memoizeOf(config?.memoize),
  };
}

function same(a: SelectorDraft, b: SelectorDraft): boolean {
  return (
    a.code === b.code &&
    a.onError === b.onError &&
    a.timeoutMs.trim() === b.timeoutMs.trim() &&
    a.memoryMb.trim() === b.memoryMb.trim() &&
    a.memoize === b.memoize
  );
}

/** The status panel's memoization verdict: "yes", or "no" with why. */
function memoizationText(m: SelectorMemoization): string {
  if (m.active) return 'yes';
  if (m.mode === false) return 'no (memoize is off)';
  return m.reason ? `no — ${m.reason}` : 'no';
}

function numberOr(text: string): number | string {
  const n = Number(text.trim());
  return text.trim() !== '' && Number.isFinite(n) ? n : text;
}

/**
 * The Selector tab: a CodeMirror editor with the templates of `scripts-examples/`, the onError, time
 * and memory settings, save (a failed trial is shown at its line and nothing is saved), the runtime
 * state with the last errors, the saved versions with roll back, and the test panel.
 */
export async function selectorPanel(container: HTMLElement, api: Api, signal: AbortSignal): Promise<void> {
  replace(container, h('div', { class: 'loading', role: 'status' }, 'Loading the selector…'));
  let view: SelectorView;
  let templates: SelectorTemplate[];
  let editorModule: typeof import('../components/code-editor.js');
  try {
    [view, templates, editorModule] = await Promise.all([
      admin.getSelector(api.id, { signal }),
      admin.selectorTemplates({ signal }).catch((err: unknown) => {
        if (isAbort(err)) throw err;
        return [] as SelectorTemplate[];
      }),
      // CodeMirror is the biggest part of the console: loaded only when a selector is opened.
      import('../components/code-editor.js'),
    ]);
  } catch (err) {
    if (isAbort(err)) return;
    replace(
      container,
      h(
        'div',
        { class: 'form-error', role: 'alert' },
        err instanceof ApiError ? errorSentence(err.code, err.message) : String(err),
      ),
    );
    return;
  }
  if (signal.aborted) return;

  const draftKey = `selector:${api.id}`;
  let saved: SelectorConfig | null = view.selector;
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
    { class: 'notice', role: 'status', hidden: stored === null || same(stored, savedDraft()) },
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

  const statusHost = h('div');
  const versionsHost = h('div');
  const layout = h(
    'div',
    { class: 'selector-page' },
    h(
      'div',
      { class: 'selector-layout' },
      h('section', { class: 'card editor-card', 'aria-labelledby': 'code-label' }, form),
      h(
        'aside',
        { class: 'selector-side' },
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'status-title' },
          h('h2', { id: 'status-title' }, 'State'),
          statusHost,
        ),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'versions-title' },
          h('h2', { id: 'versions-title' }, 'Saved versions'),
          versionsHost,
        ),
      ),
    ),
  );
  replace(container, layout);

  const current = (): SelectorDraft => ({
    code: editor.getCode(),
    onError: onError.value,
    timeoutMs: timeoutMs.value,
    memoryMb: memoryMb.value,
    memoize: memoizeValue(),
  });
  const configOf = (d: SelectorDraft) =>
    ({
      code: d.code,
      onError: d.onError,
      timeoutMs: numberOr(d.timeoutMs),
      memoryMb: numberOr(d.memoryMb),
      memoize: d.memoize,
    }) as SelectorConfig;

  function refreshDirty(): void {
    const dirty = !same(current(), savedDraft());
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

  const editor: CodeEditor = editorModule.createCodeEditor(editorHost, {
    doc: start.code,
    label: 'Selector script',
    describedBy: 'code-hint code-error',
    onChange: () => {
      refreshDirty();
    },
  });
  form.addEventListener('input', refreshDirty);
  form.addEventListener('change', refreshDirty);

  const test = selectorTestPanel({
    api,
    errorRoot: () => layout,
    editorSelector: () => configOf(current()),
    onEditorFailure: (f) => {
      if (f.line !== undefined)
        editor.showError(f.line, f.column, `${SELECTOR_ERROR_KINDS[f.kind] ?? f.kind}: ${f.message}`);
    },
  });
  layout.appendChild(test.element);

  loadTemplate.addEventListener('click', () => {
    const t = templates.find((x) => x.name === templatePick.value);
    if (!t) return;
    editor.setCode(t.code);
    editor.clearError();
    notify(`Loaded the template “${t.title}”. Ctrl+Z brings back what was there.`);
    editor.focus();
  });

  revertButton.addEventListener('click', () => {
    const d = savedDraft();
    editor.setCode(d.code);
    onError.value = d.onError;
    timeoutMs.value = d.timeoutMs;
    memoryMb.value = d.memoryMb;
    memoize.value = String(d.memoize);
    editor.clearError();
    clearErrors(layout);
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
        await refreshStatus();
      } catch (err) {
        showErrors(layout, err);
      }
    })();
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(layout);
    editor.clearError();
    const sample = test.sample();
    if (!sample || !can('editor')) return;
    const body = { ...configOf(current()), sample };
    void busy(saveButton, async () => {
      try {
        const result = await admin.putSelector(api.id, body);
        saved = result.selector;
        restoredNote.hidden = true;
        refreshDirty();
        notify('Selector saved; it serves from the next request.');
        await refreshStatus();
      } catch (err) {
        // sample.* errors belong to the test panel's request fields.
        showErrors(layout, err, {
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
          showFormError(layout, `${why} ${saved ? 'The selector saved before keeps serving.' : ''}`.trim());
          editor.focus();
        }
      }
    });
  });

  function renderStatus(v: SelectorView): void {
    test.setHasSaved(v.selector !== null);
    if (!v.selector) {
      replace(
        statusHost,
        h('p', null, h('span', { class: 'badge badge-off' }, 'No selector')),
        h('p', { class: 'small muted' }, 'Every request can go to any node that is ticked and whose rules hold.'),
      );
      return;
    }
    const s = v.status;
    if (!s) {
      replace(statusHost, h('p', null, h('span', { class: 'badge' }, 'Loading in the gateway…')));
      return;
    }
    replace(
      statusHost,
      h(
        'p',
        null,
        s.state === 'active'
          ? h('span', { class: 'badge badge-ok' }, 'Active')
          : h('span', { class: 'badge badge-danger' }, 'Quarantined'),
      ),
      s.state === 'quarantined'
        ? [
            h(
              'p',
              { class: 'small' },
              `Quarantined ${s.quarantinedAt ? ago(s.quarantinedAt) : ''}: the gateway stopped running it after repeated failures and treats every request as a selector failure (onError: ${v.selector.onError}). Save a fixed version, or lift the quarantine to start this one afresh.`,
            ),
            liftButton(),
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

  function renderVersions(v: SelectorView): void {
    if (v.versions.length === 0) {
      replace(
        versionsHost,
        h('p', { class: 'muted small' }, 'None yet. Every save and removal is kept here (the last 20).'),
      );
      return;
    }
    replace(
      versionsHost,
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
            editor.setCode(ver.selector.code);
            onError.value = ver.selector.onError;
            timeoutMs.value = String(ver.selector.timeoutMs);
            memoryMb.value = String(ver.selector.memoryMb);
            memoize.value = String(memoizeOf(ver.selector.memoize));
            refreshDirty();
            notify(`Version ${ver.version} is in the editor; save to use it, or Ctrl+Z to undo.`);
            editor.focus();
          });
          const rollback = gate(
            h(
              'button',
              { type: 'button', class: 'btn btn-small', 'aria-label': `Roll back to version ${ver.version}` },
              'Roll back',
            ),
            'editor',
          );
          rollback.addEventListener('click', () => void doRollback(ver.version, ver.selector === null, rollback));
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

  /** Lifts a quarantine: the same selector is saved again, and every gateway process starts it afresh. */
  function liftButton(): HTMLButtonElement {
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
          await refreshStatus();
        } catch (err) {
          notify(err instanceof ApiError ? errorSentence(err.code, err.message) : String(err), 'error');
        }
      });
    });
    return button;
  }

  async function doRollback(version: number, removes: boolean, button: HTMLButtonElement): Promise<void> {
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
      saved = result.selector;
      refreshDirty();
      notify(`Rolled back to version ${version}.`);
      await refreshStatus();
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

  async function refreshStatus(): Promise<void> {
    try {
      const v = await admin.getSelector(api.id, { signal });
      renderStatus(v);
      renderVersions(v);
    } catch (err) {
      if (!isAbort(err)) throw err;
    }
  }

  renderStatus(view);
  renderVersions(view);
  refreshDirty();
  every(STATUS_EVERY_MS, signal, refreshStatus);
  signal.addEventListener('abort', () => editor.view.destroy(), { once: true });
}
