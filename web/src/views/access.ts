import { admin } from '../api.js';
import { h, replace, uid } from '../components/dom.js';
import { busy, checkboxField, clearErrors, field, fieldGroup, formErrorBox, showErrors } from '../components/form.js';
import { notify } from '../components/notify.js';
import { gate } from '../session.js';
import type { Api, ApiAccess, AuthMethod, RateLimit } from '../types.js';

const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
];

/** Lines or commas → list. */
function listOf(text: string): string[] {
  return text
    .split(/[\n,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

const text = (value: string, attrs: Record<string, unknown> = {}) =>
  h('input', { type: 'text', value, autocomplete: 'off', spellcheck: false, ...attrs });
const area = (lines: readonly string[], placeholder: string) =>
  h('textarea', { rows: 3, spellcheck: false, placeholder }, lines.join('\n'));
const select = (options: readonly string[], value: string) =>
  h(
    'select',
    null,
    options.map((o) => h('option', { value: o, selected: o === value }, o)),
  );
const number = (value: number | null, min = 0) =>
  h('input', { type: 'number', min, step: 1, inputmode: 'numeric', value: value === null ? '' : String(value) });

/** Reads a number input: a number, the raw text when it is not one (the API names it), or null when empty. */
function numberOf(input: HTMLInputElement): number | string | null {
  const t = input.value.trim();
  if (t === '') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

/**
 * The Access tab: authentication (methods in the order key, basic, JWT, anonymous; allowed consumers
 * and tags), rate limits, IP lists and CORS. Saved as the API's whole `access` config; the admin
 * API's errors land at their fields.
 */
export function accessPanel(root: HTMLElement, api: Api): void {
  const a: ApiAccess = api.access;
  const method = <K extends AuthMethod['kind']>(kind: K) =>
    a.auth?.methods.find((m): m is Extract<AuthMethod, { kind: K }> => m.kind === kind) ?? null;
  const key = method('key');
  const jwt = method('jwt');

  // Authentication
  const authOn = h('input', { type: 'checkbox', checked: a.auth !== null });
  const useKey = h('input', { type: 'checkbox', checked: key !== null });
  const keyHeader = text(key?.header ?? 'x-api-key');
  const keyQuery = text(key?.query ?? '', { placeholder: 'apikey' });
  const useBasic = h('input', { type: 'checkbox', checked: method('basic') !== null });
  const useJwt = h('input', { type: 'checkbox', checked: jwt !== null });
  const jwtAlgs = JWT_ALGORITHMS.map((alg) =>
    h('input', {
      type: 'checkbox',
      value: alg,
      checked: jwt?.algorithms.includes(alg as never) ?? alg === 'RS256',
      id: uid('alg'),
    }),
  );
  const jwksUrl = text(jwt?.jwksUrl ?? '', { placeholder: 'https://idp.example.com/.well-known/jwks.json' });
  const issuer = text(jwt?.issuer ?? '');
  const audience = text(jwt?.audience ?? '');
  const claim = text(jwt?.claim ?? 'sub');
  const useAnonymous = h('input', { type: 'checkbox', checked: method('anonymous') !== null });
  const forward = h('input', { type: 'checkbox', checked: a.auth?.forwardCredentials ?? false });
  const allowConsumers = text((a.auth?.consumers ?? []).join(', '), { placeholder: 'acme, globex' });
  const allowTags = text((a.auth?.tags ?? []).join(', '), { placeholder: 'paying' });

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
      by: by.value,
      header: header.value.trim() === '' ? null : header.value.trim(),
      rate: numberOf(rate),
      per: per.value,
      burst: numberOf(burst),
      policy: policy.value,
      onRedisDown: onDown.value,
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

  const submit = gate(
    h('button', { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Saving…' } }, 'Save access'),
    'editor',
  );
  const methodsError = h('p', { class: 'field-error', hidden: true });

  const read = (): ApiAccess | Record<string, unknown> => {
    const methods: Array<Record<string, unknown>> = [];
    if (useKey.checked)
      methods.push({ kind: 'key', header: keyHeader.value.trim() || null, query: keyQuery.value.trim() || null });
    if (useBasic.checked) methods.push({ kind: 'basic' });
    if (useJwt.checked) {
      methods.push({
        kind: 'jwt',
        algorithms: jwtAlgs.filter((b) => b.checked).map((b) => b.value),
        jwksUrl: jwksUrl.value.trim() || null,
        issuer: issuer.value.trim() || null,
        audience: audience.value.trim() || null,
        claim: claim.value.trim() || 'sub',
      });
    }
    if (useAnonymous.checked) methods.push({ kind: 'anonymous' });
    return {
      auth: authOn.checked
        ? {
            methods,
            forwardCredentials: forward.checked,
            consumers: listOf(allowConsumers.value),
            tags: listOf(allowTags.value),
          }
        : null,
      limits: limitReaders.map((r) => r()).filter((l) => !('removed' in l)),
      ip:
        ipAllow.value.trim() === '' && ipDeny.value.trim() === ''
          ? null
          : { allow: listOf(ipAllow.value), deny: listOf(ipDeny.value) },
      cors: corsOn.checked
        ? {
            origins: listOf(corsOrigins.value),
            headers: listOf(corsHeaders.value),
            exposeHeaders: listOf(corsExpose.value),
            credentials: corsCredentials.checked,
            maxAgeSec: numberOf(corsMaxAge),
          }
        : null,
    };
  };

  // The method positions in the body follow the checked boxes: map `access.auth.methods.N…` back to a kind.
  const methodPath = (path: string): string => {
    const m = /^access\.auth\.methods\.(\d+)(.*)$/.exec(path);
    if (!m) return path;
    const kinds = [useKey, useBasic, useJwt, useAnonymous].flatMap((b, i) =>
      b.checked ? [['key', 'basic', 'jwt', 'anonymous'][i]!] : [],
    );
    return `access.auth.${kinds[Number(m[1])] ?? 'methods'}${m[2]}`;
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
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'access-auth' },
      h('h2', { id: 'access-auth' }, 'Authentication'),
      checkboxField({ label: 'Require authentication', path: 'access.auth', control: authOn }),
      h('div', { class: 'field', dataset: { path: 'access.auth.methods' } }, methodsError),
      checkboxField({ label: 'API key', path: 'access.auth.key', control: useKey }),
      h(
        'div',
        { class: 'grid-2 indent' },
        field({ label: 'Key header', path: 'access.auth.key.header', control: keyHeader }),
        field({ label: 'Key query parameter', path: 'access.auth.key.query', control: keyQuery, hint: 'Optional.' }),
      ),
      checkboxField({ label: 'HTTP Basic', path: 'access.auth.basic', control: useBasic }),
      checkboxField({ label: 'JWT bearer token', path: 'access.auth.jwt', control: useJwt }),
      h(
        'div',
        { class: 'indent stack' },
        fieldGroup({
          legend: 'Algorithms accepted',
          path: 'access.auth.jwt.algorithms',
          class: 'methods',
          children: jwtAlgs.map((b) => h('span', { class: 'check' }, b, h('label', { for: b.id }, b.value))),
        }),
        h(
          'div',
          { class: 'grid-2' },
          field({
            label: 'JWKS URL',
            path: 'access.auth.jwt.jwksUrl',
            control: jwksUrl,
            hint: 'Empty: each consumer’s JWT secret or public key.',
          }),
          field({ label: 'Claim naming the consumer', path: 'access.auth.jwt.claim', control: claim }),
          field({ label: 'Issuer (iss)', path: 'access.auth.jwt.issuer', control: issuer, hint: 'Optional.' }),
          field({ label: 'Audience (aud)', path: 'access.auth.jwt.audience', control: audience, hint: 'Optional.' }),
        ),
      ),
      checkboxField({
        label: 'Anonymous callers too',
        path: 'access.auth.anonymous',
        control: useAnonymous,
        hint: 'A request without any credential passes without a consumer; a wrong credential still fails.',
      }),
      checkboxField({
        label: 'Forward credentials to the node',
        path: 'access.auth.forwardCredentials',
        control: forward,
        hint: 'Off: the gateway strips them.',
      }),
      h(
        'div',
        { class: 'grid-2' },
        field({
          label: 'Only these consumers',
          path: 'access.auth.consumers',
          control: allowConsumers,
          hint: 'Empty with no tags: every authenticated consumer.',
        }),
        field({ label: 'Or consumers with these tags', path: 'access.auth.tags', control: allowTags }),
      ),
    ),
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
        await admin.patchApi(api.id, { access: read() });
        notify(`Access of ${api.name} saved`);
      } catch (err) {
        showErrors(form, err, { mapPath: methodPath });
      }
    });
  });
  replace(root, form);
}
