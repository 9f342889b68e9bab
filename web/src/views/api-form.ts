import { admin } from '../api.js';
import { h, replace, uid } from '../components/dom.js';
import { busy, checkboxField, clearErrors, field, fieldGroup, formErrorBox, showErrors } from '../components/form.js';
import { notify } from '../components/notify.js';
import { clearDraft, loadDraft, saveDraft } from '../drafts.js';
import { navigate, type ViewContext } from '../router.js';
import { can, gate } from '../session.js';
import type { Api } from '../types.js';
import { healthBody, healthDefaults, healthSection, healthValuesOf, type HealthValues } from './api-health-form.js';
import { limitDefaults, limitsBody, limitsSection, limitValuesOf, type LimitValues } from './api-limits-form.js';
import { ALGORITHMS, METHODS } from './words-ui.js';

/** The values of the API form as typed (kept flat as a draft: the limits beside the route). */
interface ApiFormValues extends LimitValues {
  name: string;
  host: string;
  path: string;
  methods: string[];
  stripPrefix: boolean;
  httpsRedirect: boolean;
  algorithm: string;
  hashSource: string;
  hashName: string;
  health: HealthValues;
}

const DEFAULTS: ApiFormValues = {
  name: '',
  host: '',
  path: '',
  methods: [...METHODS],
  stripPrefix: false,
  httpsRedirect: false,
  algorithm: 'round_robin',
  hashSource: 'header',
  hashName: '',
  ...limitDefaults(),
  health: healthDefaults(),
};

function valuesOf(api: Api): ApiFormValues {
  return {
    name: api.name,
    host: api.host ?? '',
    path: api.path,
    methods: [...api.methods],
    stripPrefix: api.stripPrefix,
    httpsRedirect: api.httpsRedirect,
    algorithm: api.algorithm,
    hashSource: api.hashOn?.source ?? 'header',
    hashName: api.hashOn?.name ?? '',
    ...limitValuesOf(api),
    health: healthValuesOf(api),
  };
}

/**
 * The API form (create and settings): name, route, methods, algorithm, under "Timeouts and limits"
 * the timeouts, retries and body limit, and under "Health checks and retries" the rest. What is
 * typed is kept as a draft until it is saved.
 */
function apiForm(o: {
  initial: ApiFormValues;
  draftKey: string;
  submitLabel: string;
  onSubmit: (body: Record<string, unknown>) => Promise<void>;
  cancelHref: string;
}): HTMLFormElement {
  const draft = loadDraft<ApiFormValues>(o.draftKey);
  const start = { ...o.initial, ...(draft ?? {}) };
  const name = h('input', { type: 'text', name: 'name', value: start.name, autocomplete: 'off', maxlength: 100 });
  const path = h('input', {
    type: 'text',
    name: 'path',
    value: start.path,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: '/orders/*',
  });
  const host = h('input', {
    type: 'text',
    name: 'host',
    value: start.host,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'api.example.com',
  });
  const methodBoxes = METHODS.map((m) =>
    h('input', { type: 'checkbox', name: 'methods', value: m, checked: start.methods.includes(m), id: uid('m') }),
  );
  const strip = h('input', { type: 'checkbox', name: 'stripPrefix', checked: start.stripPrefix });
  const httpsRedirect = h('input', { type: 'checkbox', name: 'httpsRedirect', checked: start.httpsRedirect });
  const algorithmRadios = ALGORITHMS.map((a) =>
    h('input', {
      type: 'radio',
      name: `algorithm-${o.draftKey}`,
      value: a.name,
      checked: start.algorithm === a.name,
      id: uid('alg'),
    }),
  );
  const hashSource = h(
    'select',
    { name: 'hashSource' },
    ['header', 'query', 'cookie'].map((v) =>
      h('option', { value: v, selected: start.hashSource === v }, v === 'query' ? 'query parameter' : v),
    ),
  );
  const hashName = h('input', {
    type: 'text',
    name: 'hashName',
    value: start.hashName,
    autocomplete: 'off',
    spellcheck: false,
  });
  const health = healthSection(
    start.health,
    draft !== null && JSON.stringify(start.health) !== JSON.stringify(o.initial.health),
  );
  const submit = gate(
    h('button', { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Saving…' } }, o.submitLabel),
    'editor',
  );

  const read = (): ApiFormValues => ({
    name: name.value,
    host: host.value,
    path: path.value,
    methods: methodBoxes.filter((b) => b.checked).map((b) => b.value),
    stripPrefix: strip.checked,
    httpsRedirect: httpsRedirect.checked,
    algorithm: algorithmRadios.find((r) => r.checked)?.value ?? '',
    hashSource: hashSource.value,
    hashName: hashName.value,
    ...limits.read(),
    health: health.read(),
  });

  const restored = draft
    ? h(
        'div',
        { class: 'notice', role: 'status' },
        'Restored what you typed before. ',
        h('button', { type: 'button', class: 'btn-link', onclick: () => discard() }, 'Discard it'),
      )
    : null;

  const limits = limitsSection(
    start,
    draft !== null && (start.retries !== o.initial.retries || start.maxBodyBytes !== o.initial.maxBodyBytes),
  );

  const form = h(
    'form',
    { class: 'stack api-form', novalidate: true },
    restored,
    formErrorBox(),
    h(
      'div',
      { class: 'grid-2' },
      field({ label: 'Name', path: 'name', control: name, required: true }),
      field({
        label: 'Path',
        path: 'path',
        control: path,
        required: true,
        hint: [
          h('code', null, '/orders/*'),
          ' matches /orders and everything under it; ',
          h('code', null, '/orders/list'),
          ' only itself.',
        ],
      }),
      field({
        label: 'Host',
        path: 'host',
        control: host,
        hint: ['Leave empty for any host. ', h('code', null, '*.example.com'), ' matches its subdomains.'],
      }),
      checkboxField({
        label: 'Strip the prefix',
        path: 'stripPrefix',
        control: strip,
        hint: 'Send /orders/1 upstream as /1 when the path is /orders/*.',
      }),
      checkboxField({
        label: 'Redirect HTTP to HTTPS',
        path: 'httpsRedirect',
        control: httpsRedirect,
        hint: 'Plain requests get a redirect to the same URL on the TLS port.',
      }),
    ),
    fieldGroup({
      legend: 'Methods',
      path: 'methods',
      class: 'methods',
      children: methodBoxes.map((box) => h('span', { class: 'check' }, box, h('label', { for: box.id }, box.value))),
    }),
    fieldGroup({
      legend: 'Algorithm',
      path: 'algorithm',
      hint: 'How one node is picked from the nodes that are left after the ticks, rules and selector.',
      class: 'choice-cards',
      children: algorithmRadios.map((radio, i) => {
        const a = ALGORITHMS[i]!;
        return h(
          'label',
          { class: 'choice', for: radio.id },
          radio,
          h('span', null, h('strong', null, a.title), h('span', { class: 'muted small' }, a.words)),
        );
      }),
    }),
    h(
      'div',
      { class: 'grid-2' },
      field({
        label: 'Hash key source',
        path: 'hashOn.source',
        control: hashSource,
        hint: 'Used by “Hash on a key” only.',
      }),
      field({
        label: 'Hash key',
        path: 'hashOn',
        control: hashName,
        hint: ['The header, query parameter or cookie to hash, e.g. ', h('code', null, 'X-User-Id'), '.'],
      }),
    ),
    limits.element,
    health.element,
    h('div', { class: 'actions actions-start' }, submit, h('a', { class: 'btn', href: o.cancelHref }, 'Cancel')),
  );

  function discard(): void {
    clearDraft(o.draftKey);
    const fresh = apiForm({ ...o });
    form.replaceWith(fresh);
    fresh.querySelector<HTMLInputElement>('input')?.focus();
  }

  form.addEventListener('input', () => saveDraft(o.draftKey, read()));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(form);
    const v = read();
    const body: Record<string, unknown> = {
      name: v.name.trim(),
      host: v.host.trim() === '' ? null : v.host.trim(),
      path: v.path.trim(),
      methods: v.methods,
      stripPrefix: v.stripPrefix,
      httpsRedirect: v.httpsRedirect,
      ...(v.algorithm ? { algorithm: v.algorithm } : {}),
      hashOn: v.hashName.trim() === '' ? null : { source: v.hashSource, name: v.hashName.trim() },
    };
    Object.assign(body, limitsBody(v), healthBody(v.health));
    if (!can('editor')) return;
    void busy(submit, async () => {
      try {
        await o.onSubmit(body);
        clearDraft(o.draftKey);
        restored?.remove();
      } catch (err) {
        // Errors under a closed <details> would be invisible: open it when one lands there.
        showErrors(form, err, { focus: false });
        for (const part of [limits.element, health.element])
          if (part.querySelector('[aria-invalid="true"]')) part.open = true;
        form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      }
    });
  });
  return form;
}

/** `/apis/new`: the form that creates an API, then goes to its nodes. */
export function apiCreateView({ root }: ViewContext): void {
  document.title = 'New API · isogate';
  const form = apiForm({
    initial: DEFAULTS,
    draftKey: 'api:new',
    submitLabel: 'Create API',
    cancelHref: '/apis',
    async onSubmit(body) {
      const api = await admin.createApi(body);
      clearDraft('api:new');
      notify(`API ${api.name} created. Add its nodes next.`);
      navigate(`/apis/${encodeURIComponent(api.id)}/nodes`);
    },
  });
  replace(
    root,
    h(
      'div',
      { class: 'page page-narrow' },
      h(
        'nav',
        { class: 'crumbs', 'aria-label': 'Breadcrumb' },
        h('a', { href: '/apis' }, 'APIs'),
        h('span', { 'aria-hidden': 'true' }, ' / '),
        h('span', { 'aria-current': 'page' }, 'New API'),
      ),
      h('h1', null, 'New API'),
      h('section', { class: 'card' }, form),
    ),
  );
  form.querySelector<HTMLInputElement>('input[name="name"]')?.focus();
}

/** The settings tab of an API: the same form, saved with PATCH. */
export function apiSettingsPanel(container: HTMLElement, api: Api, onSaved: (api: Api) => void): void {
  const form = apiForm({
    initial: valuesOf(api),
    draftKey: `api:${api.id}`,
    submitLabel: 'Save changes',
    cancelHref: `/apis/${encodeURIComponent(api.id)}/nodes`,
    async onSubmit(body) {
      const saved = await admin.patchApi(api.id, body);
      notify(`API ${saved.name} saved; it applies from the next request.`);
      onSaved(saved);
    },
  });
  replace(container, h('section', { class: 'card' }, form));
}
