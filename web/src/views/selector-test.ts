import { admin } from '../api.js';
import { h, replace, uid } from '../components/dom.js';
import { busy, clearErrors, field, fieldGroup, formErrorBox, showErrors, showFieldError } from '../components/form.js';
import { loadDraft, saveDraft } from '../drafts.js';
import { can, gate } from '../session.js';
import { parseHeaders, parseQuery } from '../sample.js';
import type { Api, SampleRequest, SelectorConfig, SelectorFailure } from '../types.js';
import { renderExplanation, type TestMode } from './selector-explanation.js';
import { METHODS } from './words-ui.js';

/** The test form as typed (and kept as a draft). */
interface TestDraft {
  method: string;
  path: string;
  query: string;
  headers: string;
  body: string;
  clientIp: string;
  mode: TestMode;
}

/** The test panel of the selector tab. */
export interface TestPanel {
  element: HTMLElement;
  /** The sample request as typed, or null (with the error shown) when a field cannot be read. */
  sample(): SampleRequest | null;
  /** Whether "the saved selector" can be chosen. */
  setHasSaved(has: boolean): void;
}

/**
 * A sample request form (method, path, query, headers, body, client IP) and the nodes left after each
 * balance step for it: enabled → rules → health → selector → pick, with the selector's time, console
 * output and error. Nothing is saved by a test.
 */
export function selectorTestPanel(o: {
  api: Api;
  /** The root whose fields show errors (the editor's settings fields included). */
  errorRoot: () => HTMLElement;
  /** The editor's selector, for "the code in the editor". */
  editorSelector: () => SelectorConfig;
  /** Shows a selector failure of the editor's code at its line. */
  onEditorFailure: (failure: SelectorFailure) => void;
}): TestPanel {
  const draftKey = `test:${o.api.id}`;
  const d: TestDraft = {
    method: 'GET',
    path: o.api.path.replace(/\*$/, ''),
    query: '',
    headers: '',
    body: '',
    clientIp: '127.0.0.1',
    mode: 'editor',
    ...loadDraft<TestDraft>(draftKey),
  };
  const method = h(
    'select',
    { name: 'method' },
    METHODS.map((m) => h('option', { value: m, selected: m === d.method }, m)),
  );
  const path = h('input', { type: 'text', name: 'path', value: d.path, autocomplete: 'off', spellcheck: 'false' });
  const query = h('input', {
    type: 'text',
    name: 'query',
    value: d.query,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'select_code=temp_node',
  });
  const headers = h(
    'textarea',
    { name: 'headers', rows: 3, spellcheck: 'false', placeholder: 'X-User-Id: 42\nUser-Agent: Mozilla/5.0 (iPhone)' },
    d.headers,
  );
  const body = h('textarea', { name: 'body', rows: 3, spellcheck: 'false', placeholder: '{"userId": 42}' }, d.body);
  const clientIp = h('input', {
    type: 'text',
    name: 'clientIp',
    value: d.clientIp,
    autocomplete: 'off',
    spellcheck: 'false',
    inputmode: 'decimal',
  });
  const modeName = uid('mode');
  const modes: Array<[TestMode, string]> = [
    ['editor', 'The code in the editor (not saved)'],
    ['saved', 'The saved selector'],
    ['none', 'No selector'],
  ];
  const modeRadios = modes.map(([value]) =>
    h('input', { type: 'radio', name: modeName, value, id: uid('mode'), checked: d.mode === value }),
  );
  // Running code that is not saved is an editor's: a viewer tests the saved selector (no selector
  // while there is none known), whatever mode a draft had.
  const mayRunEditor = can('editor');
  gate(modeRadios[0]!, 'editor');
  let standIn = !mayRunEditor && modeRadios[0]!.checked;
  if (standIn) modeRadios[2]!.checked = true;
  for (const r of modeRadios) r.addEventListener('change', () => (standIn = false));
  const run = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Running…' } }, 'Run test');
  const results = h(
    'div',
    { class: 'test-results', 'aria-live': 'polite' },
    h('p', { class: 'muted' }, 'Fill in a request and run the test to see which nodes it would reach.'),
  );

  const read = (): TestDraft => ({
    method: method.value,
    path: path.value,
    query: query.value,
    headers: headers.value,
    body: body.value,
    clientIp: clientIp.value,
    mode: (modeRadios.find((r) => r.checked)?.value ?? 'editor') as TestMode,
  });

  const form = h(
    'form',
    { class: 'test-form stack', novalidate: true },
    formErrorBox(),
    h(
      'div',
      { class: 'grid-test' },
      field({ label: 'Method', path: 'request.method', control: method }),
      field({ label: 'Path', path: 'request.path', control: path }),
      field({
        label: 'Query',
        path: 'request.query',
        control: query,
        hint: ['As in a URL: ', h('code', null, 'a=1&b=2')],
      }),
      field({ label: 'Client IP', path: 'request.clientIp', control: clientIp }),
      field({
        label: 'Headers',
        path: 'request.headers',
        control: headers,
        hint: 'One "Name: value" per line.',
        class: 'span-2',
      }),
      field({ label: 'Body', path: 'request.body', control: body, class: 'span-2' }),
    ),
    fieldGroup({
      legend: 'Run with',
      path: 'selector',
      class: 'inline-radios',
      children: modeRadios.map((r, i) => h('span', { class: 'check' }, r, h('label', { for: r.id }, modes[i]![1]))),
    }),
    h('div', { class: 'actions actions-start' }, run),
  );

  function sample(): SampleRequest | null {
    const v = read();
    const parsedHeaders = parseHeaders(v.headers);
    if ('badLine' in parsedHeaders) {
      showFieldError(form, 'request.headers', `Line ${parsedHeaders.badLine} has no "Name: value" form.`);
      return null;
    }
    const out: SampleRequest = {
      method: v.method,
      path: v.path.trim(),
      query: parseQuery(v.query),
      headers: parsedHeaders.headers,
      body: v.body === '' ? null : v.body,
    };
    if (v.clientIp.trim() !== '') out.clientIp = v.clientIp.trim();
    return out;
  }

  form.addEventListener('input', () => saveDraft(draftKey, read()));
  form.addEventListener('change', () => saveDraft(draftKey, read()));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const root = o.errorRoot();
    clearErrors(form);
    const request = sample();
    if (!request) return;
    const mode = read().mode;
    const payload: { request: SampleRequest; selector?: SelectorConfig | null } = { request };
    if (mode === 'editor') payload.selector = o.editorSelector();
    else if (mode === 'none') payload.selector = null;
    void busy(run, async () => {
      try {
        const explanation = await admin.testSelector(o.api.id, payload);
        replace(results, renderExplanation(explanation, mode));
        if (mode === 'editor' && explanation.selector.error) o.onEditorFailure(explanation.selector.error);
      } catch (err) {
        // Field paths: request.* are this form's, selector.* the editor's settings.
        showErrors(root, err, { mapPath: (p) => (p.startsWith('selector.') ? p.slice('selector.'.length) : p) });
        replace(results, h('p', { class: 'muted' }, 'The test did not run; see the messages above.'));
      }
    });
  });

  return {
    element: h(
      'section',
      { class: 'card test-panel', 'aria-labelledby': 'test-title' },
      h('h2', { id: 'test-title' }, 'Test a request'),
      h(
        'p',
        { class: 'small muted' },
        'Runs the balance steps for a sample request against the current nodes and variables. Nothing is saved and no traffic is sent.',
      ),
      h('div', { class: 'test-layout' }, form, results),
    ),
    sample,
    setHasSaved(has) {
      const saved = modeRadios[1]!;
      saved.disabled = !has;
      if (!has && saved.checked) modeRadios[mayRunEditor ? 0 : 2]!.checked = true;
      else if (has && standIn) saved.checked = true;
    },
  };
}
