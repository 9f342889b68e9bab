import { admin, isAbort } from '../api.js';
import { h, replace } from '../components/dom.js';
import { loadErrorBox } from '../components/form.js';
import { every } from '../router.js';
import type { Api, SelectorTemplate, SelectorView } from '../types.js';
import { SELECTOR_ERROR_KINDS } from '../words.js';
import { selectorForm } from './selector-form.js';
import { renderStatus } from './selector-status.js';
import { selectorTestPanel } from './selector-test.js';
import { renderVersions } from './selector-versions.js';

const STATUS_EVERY_MS = 5000;

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
    replace(container, loadErrorBox(err));
    return;
  }
  if (signal.aborted) return;

  const editorCard = h('section', { class: 'card editor-card', 'aria-labelledby': 'code-label' });
  const statusHost = h('div');
  const versionsHost = h('div');
  const layout = h(
    'div',
    { class: 'selector-page' },
    h(
      'div',
      { class: 'selector-layout' },
      editorCard,
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

  const form = selectorForm(editorCard, {
    api,
    saved: view.selector,
    templates,
    editorModule,
    errorRoot: () => layout,
    sample: () => test.sample(),
    refresh: refreshStatus,
  });

  const test = selectorTestPanel({
    api,
    errorRoot: () => layout,
    editorSelector: () => form.config(),
    onEditorFailure: (f) => {
      if (f.line !== undefined)
        form.showError(f.line, f.column, `${SELECTOR_ERROR_KINDS[f.kind] ?? f.kind}: ${f.message}`);
    },
  });
  layout.appendChild(test.element);

  /** Shows the state and the versions of a fresh read. */
  function render(v: SelectorView): void {
    test.setHasSaved(v.selector !== null);
    renderStatus(statusHost, v, api, refreshStatus);
    renderVersions(versionsHost, v, api, {
      open: (version, selector) => form.openVersion(version, selector),
      rolledBack: (selector) => form.setSaved(selector),
      refresh: refreshStatus,
    });
  }

  async function refreshStatus(): Promise<void> {
    try {
      render(await admin.getSelector(api.id, { signal }));
    } catch (err) {
      if (!isAbort(err)) throw err;
    }
  }

  render(view);
  every(STATUS_EVERY_MS, signal, refreshStatus);
  signal.addEventListener('abort', () => form.destroy(), { once: true });
}
