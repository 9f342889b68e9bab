import { admin } from '../api.js';
import { h, replace, uid } from '../components/dom.js';
import { busy, checkboxField, clearErrors, field, fieldGroup, formErrorBox, showErrors } from '../components/form.js';
import { notify } from '../components/notify.js';
import { gate } from '../session.js';
import type { Api, ApiAccess, RateLimit } from '../types.js';
import { authSection } from './access-auth.js';
import { area, listOf, number, numberOf, select, text } from './access-controls.js';
import { METHODS } from './words-ui.js';

/**
 * The Access tab: authentication (methods in their configured order; allowed consumers and tags),
 * rate limits, IP lists and CORS. Saved as the API's whole `access` config, each part written over
 * the stored one so that what the form does not show is kept; the admin API's errors land at their fields.
 */
export function accessPanel(root: HTMLElement, api: Api): void {
  const a: ApiAccess = api.access;
  const auth = authSection(a.auth);

  // Limits: one row per limit, added and removed in place.
  const limitRows = h('div', { class: 'stack limit-rows' });
  const limitReaders: Array<() => Record<string, unknown>> = [];
  const addLimit = (l: Partial<RateLimit> = {}) => {
    const i = limitReaders.length;
    const by = select(['api', 'consumer', 'ip', 'header'], l.by ?? 'consumer');
    const header = text(l.header ?? '', { placeholder: 'x-tenant' });
    const rate = number(l.rate ?? 100, 1);
    const per = select(['second', 'minute', 'hour'], l.per ?? 'minute');
    const burst = number(l.burst ?? null, 1);
    const policy = select(['local', 'cluster'], l.policy ?? 'local');
    const onDown = select(['open', 'closed'], l.onRedisDown ?? 'open');
    const v6 = number(l.ipv6Prefix ?? 64, 32, 128);
    const rowEl = h(
      'fieldset',
      { class: 'limit-row grid-3', dataset: { limit: String(i) } },
      h('legend', null, `Limit ${i + 1}`),
      field({ label: 'Count by', path: `access.limits.${i}.by`, control: by }),
      field({ label: 'Header', path: `access.limits.${i}.header`, control: header, hint: 'With “header”.' }),
      field({ label: 'Requests', path: `access.limits.${i}.rate`, control: rate }),
      field({ label: 'Per', path: `access.limits.${i}.per`, control: per }),
      field({ label: 'Burst', path: `access.limits.${i}.burst`, control: burst, hint: 'Empty: the rate.' }),
      field({
        label: 'Policy',
        path: `access.limits.${i}.policy`,
        control: policy,
        hint: 'cluster: shared through Redis.',
      }),
      field({
        label: 'When Redis is down',
        path: `access.limits.${i}.onRedisDown`,
        control: onDown,
        hint: 'open: count locally; closed: 503.',
      }),
      field({
        label: 'IPv6 prefix',
        path: `access.limits.${i}.ipv6Prefix`,
        control: v6,
        hint: 'By ip: an IPv6 client counts by its network of this many bits.',
      }),
      h(
        'button',
        {
          type: 'button',
          class: 'btn btn-small',
          onclick: () => ((limitReaders[i] = () => ({ removed: true })), rowEl.remove()),
        },
        'Remove limit',
      ),
    );
    limitReaders.push(() => ({
      ...l,
      by: by.value,
      header: header.value.trim() === '' ? null : header.value.trim(),
      rate: numberOf(rate),
      per: per.value,
      burst: numberOf(burst),
      policy: policy.value,
      onRedisDown: onDown.value,
      ipv6Prefix: numberOf(v6) ?? 64,
    }));
    limitRows.appendChild(rowEl);
  };
  for (const l of a.limits) addLimit(l);

  // IP lists and CORS
  const ipAllow = area(a.ip?.allow ?? [], '10.0.0.0/8\n2001:db8::/32');
  const ipDeny = area(a.ip?.deny ?? [], '203.0.113.0/24');
  const corsOn = h('input', { type: 'checkbox', checked: a.cors !== null });
  const corsOrigins = area(a.cors?.origins ?? [], 'https://app.example.com');
  const corsHeaders = text((a.cors?.headers ?? []).join(', '), { placeholder: 'x-api-key, content-type' });
  const corsExpose = text((a.cors?.exposeHeaders ?? []).join(', '));
  const corsCredentials = h('input', { type: 'checkbox', checked: a.cors?.credentials ?? false });
  const corsMaxAge = number(a.cors?.maxAgeSec ?? 600);
  const corsMethods = METHODS.map((m) =>
    h('input', { type: 'checkbox', value: m, checked: a.cors?.methods.includes(m) ?? false, id: uid('cm') }),
  );

  const submit = gate(
    h('button', { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Saving…' } }, 'Save access'),
    'editor',
  );

  // Each section is written over its stored form: a field the form does not show survives a save.
  const read = (): Record<string, unknown> => ({
    ...a,
    auth: auth.read(),
    limits: limitReaders.map((r) => r()).filter((l) => !('removed' in l)),
    ip:
      ipAllow.value.trim() === '' && ipDeny.value.trim() === ''
        ? null
        : { ...a.ip, allow: listOf(ipAllow.value), deny: listOf(ipDeny.value) },
    cors: corsOn.checked
      ? {
          ...a.cors,
          origins: listOf(corsOrigins.value),
          methods: corsMethods.filter((b) => b.checked).map((b) => b.value),
          headers: listOf(corsHeaders.value),
          exposeHeaders: listOf(corsExpose.value),
          credentials: corsCredentials.checked,
          maxAgeSec: numberOf(corsMaxAge),
        }
      : null,
  });

  // Removed limit rows leave the body: map `access.limits.N…` back to the row's own path.
  const limitPath = (path: string): string => {
    const m = /^access\.limits\.(\d+)(.*)$/.exec(path);
    if (!m) return path;
    const kept = limitReaders.flatMap((r, i) => ('removed' in r() ? [] : [i]));
    return `access.limits.${kept[Number(m[1])] ?? Number(m[1])}${m[2]}`;
  };

  const form = h(
    'form',
    { class: 'stack access-form', novalidate: true },
    formErrorBox(),
    h(
      'p',
      { class: 'lead small' },
      'Checked on every request before a node is picked: client IP, CORS, who is calling, and how often. Leave a section off and it costs nothing.',
    ),
    auth.section,
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'access-limits' },
      h('h2', { id: 'access-limits' }, 'Rate limits'),
      h('div', { class: 'field', dataset: { path: 'access.limits' } }, h('p', { class: 'field-error', hidden: true })),
      limitRows,
      h('button', { type: 'button', class: 'btn', onclick: () => addLimit() }, 'Add a limit'),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'access-ip' },
      h('h2', { id: 'access-ip' }, 'IP lists'),
      h(
        'div',
        { class: 'grid-2' },
        field({
          label: 'Allow only',
          path: 'access.ip.allow',
          control: ipAllow,
          hint: 'Addresses or CIDRs, one per line; empty: everyone not denied.',
        }),
        field({
          label: 'Deny',
          path: 'access.ip.deny',
          control: ipDeny,
          hint: 'Wins over the allow list. The client IP is read after --trust-proxy.',
        }),
      ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'access-cors' },
      h('h2', { id: 'access-cors' }, 'CORS'),
      checkboxField({ label: 'Answer browsers’ cross-origin requests', path: 'access.cors', control: corsOn }),
      h(
        'div',
        { class: 'grid-2' },
        field({
          label: 'Origins',
          path: 'access.cors.origins',
          control: corsOrigins,
          hint: 'One per line: https://app.example.com, https://*.example.com, or *.',
        }),
        fieldGroup({
          legend: 'Methods allowed',
          path: 'access.cors.methods',
          class: 'methods',
          hint: 'None checked: the API’s methods.',
          children: corsMethods.map((b) => h('span', { class: 'check' }, b, h('label', { for: b.id }, b.value))),
        }),
        field({ label: 'Request headers allowed', path: 'access.cors.headers', control: corsHeaders }),
        field({ label: 'Response headers exposed', path: 'access.cors.exposeHeaders', control: corsExpose }),
        field({ label: 'Preflight max age (s)', path: 'access.cors.maxAgeSec', control: corsMaxAge }),
      ),
      checkboxField({
        label: 'Allow credentials (cookies, Authorization)',
        path: 'access.cors.credentials',
        control: corsCredentials,
      }),
    ),
    h('div', { class: 'actions actions-start' }, submit),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(form);
    void busy(submit, async () => {
      try {
        const saved = await admin.patchApi(api.id, { access: read() });
        // Shown again as stored (normalised, defaults filled in), so the next save starts from it.
        accessPanel(root, saved);
        root.querySelector<HTMLButtonElement>('form.access-form button[type="submit"]')?.focus();
        notify(`Access of ${api.name} saved`);
      } catch (err) {
        showErrors(form, err, { mapPath: (path) => limitPath(auth.mapPath(path)) });
      }
    });
  });
  replace(root, form);
}
