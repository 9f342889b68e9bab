import { h, uid } from '../components/dom.js';
import { checkboxField, field, fieldGroup } from '../components/form.js';
import type { ApiAccess, AuthMethod } from '../types.js';
import { JWT_ALGORITHMS } from '../jwt.js';
import { listOf, number, numberOf, text } from './access-controls.js';

/** The methods the operator may order; anonymous is always last (the admin API requires it). */
const ORDERED = ['key', 'basic', 'jwt'] as const;
type OrderedKind = (typeof ORDERED)[number];
const TITLES: Record<OrderedKind, string> = { key: 'API key', basic: 'HTTP Basic', jwt: 'JWT bearer token' };

/** The Authentication card of the Access tab, what it writes, and where the API's error paths land in it. */
export interface AuthSection {
  section: HTMLElement;
  /** `access.auth` as the form says it, over the stored config so that fields the form lacks are kept. */
  read(): Record<string, unknown> | null;
  /** `access.auth.methods.N…` → `access.auth.<kind>…`, the field of the method at that position. */
  mapPath(path: string): string;
}

/**
 * Authentication: the methods in their configured order (each movable up or down; anonymous last),
 * with their settings, then the allowed consumers and tags. Each method is written over its stored
 * form, so a setting the form does not show survives a save.
 */
export function authSection(auth: ApiAccess['auth']): AuthSection {
  const stored = (kind: AuthMethod['kind']): Record<string, unknown> | null =>
    (auth?.methods.find((m) => m.kind === kind) as Record<string, unknown> | undefined) ?? null;
  const method = <K extends AuthMethod['kind']>(kind: K) =>
    auth?.methods.find((m): m is Extract<AuthMethod, { kind: K }> => m.kind === kind) ?? null;
  const key = method('key');
  const jwt = method('jwt');

  const authOn = h('input', { type: 'checkbox', checked: auth !== null });
  const keyHeader = text(key?.header ?? 'x-api-key');
  const keyQuery = text(key?.query ?? '', { placeholder: 'apikey' });
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
  const tolerance = number(jwt?.clockToleranceSec ?? 30, 0, 300);
  const maxLifetime = number(jwt?.maxLifetimeSec ?? null, 1, 31_536_000);
  const useAnonymous = h('input', { type: 'checkbox', checked: method('anonymous') !== null });
  const forward = h('input', { type: 'checkbox', checked: auth?.forwardCredentials ?? false });
  const allowConsumers = text((auth?.consumers ?? []).join(', '), { placeholder: 'acme, globex' });
  const allowTags = text((auth?.tags ?? []).join(', '), { placeholder: 'paying' });

  const uses: Record<OrderedKind, HTMLInputElement> = {
    key: h('input', { type: 'checkbox', checked: key !== null }),
    basic: h('input', { type: 'checkbox', checked: method('basic') !== null }),
    jwt: h('input', { type: 'checkbox', checked: jwt !== null }),
  };
  const settings: Record<OrderedKind, HTMLElement | null> = {
    key: h(
      'div',
      { class: 'grid-2 indent' },
      field({ label: 'Key header', path: 'access.auth.key.header', control: keyHeader }),
      field({ label: 'Key query parameter', path: 'access.auth.key.query', control: keyQuery, hint: 'Optional.' }),
    ),
    basic: null,
    jwt: h(
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
        field({
          label: 'Clock tolerance (s)',
          path: 'access.auth.jwt.clockToleranceSec',
          control: tolerance,
          hint: 'Skew allowed on exp and nbf: 0 to 300; empty: 30.',
        }),
        field({
          label: 'Longest token lifetime (s)',
          path: 'access.auth.jwt.maxLifetimeSec',
          control: maxLifetime,
          hint: 'Optional: tokens must then carry exp, at most this far ahead.',
        }),
      ),
    ),
  };

  // The movable methods: configured ones in their stored order, then the others.
  const configured = (auth?.methods ?? []).map((m) => m.kind).filter((k): k is OrderedKind => k !== 'anonymous');
  const order = [...configured, ...ORDERED.filter((k) => !configured.includes(k))];
  const list = h('ol', { class: 'auth-methods plain-list' });
  const items = new Map<OrderedKind, HTMLLIElement>();
  const current = (): OrderedKind[] => [...list.children].map((li) => (li as HTMLElement).dataset.kind as OrderedKind);
  const refreshMoves = () => {
    const kinds = current();
    kinds.forEach((k, i) => {
      const li = items.get(k)!;
      li.querySelector<HTMLButtonElement>('[data-move="up"]')!.disabled = i === 0;
      li.querySelector<HTMLButtonElement>('[data-move="down"]')!.disabled = i === kinds.length - 1;
    });
  };
  const move = (kind: OrderedKind, by: -1 | 1, button: HTMLButtonElement) => {
    const li = items.get(kind)!;
    const other = by < 0 ? li.previousElementSibling : li.nextElementSibling;
    if (!other) return;
    if (by < 0) list.insertBefore(li, other);
    else list.insertBefore(other, li);
    refreshMoves();
    // Moving the item takes focus off its button in some browsers; put it back (or on the other one at an end).
    const target = button.disabled ? li.querySelector<HTMLButtonElement>('[data-move]:not(:disabled)') : button;
    target?.focus();
  };
  for (const kind of order) {
    const moveButton = (dir: 'up' | 'down') => {
      const b: HTMLButtonElement = h(
        'button',
        {
          type: 'button',
          class: 'btn btn-small',
          dataset: { move: dir },
          'aria-label': `Move ${TITLES[kind]} ${dir}`,
          onclick: () => move(kind, dir === 'up' ? -1 : 1, b),
        },
        dir === 'up' ? '↑ Earlier' : '↓ Later',
      );
      return b;
    };
    const li = h(
      'li',
      { class: 'auth-method', dataset: { kind } },
      h(
        'div',
        { class: 'auth-method-head' },
        checkboxField({ label: TITLES[kind], path: `access.auth.${kind}`, control: uses[kind] }),
        h('span', { class: 'actions' }, moveButton('up'), moveButton('down')),
      ),
      settings[kind],
    );
    items.set(kind, li);
    list.appendChild(li);
  }
  refreshMoves();

  const checkedKinds = (): AuthMethod['kind'][] => [
    ...current().filter((k) => uses[k].checked),
    ...(useAnonymous.checked ? (['anonymous'] as const) : []),
  ];

  const methodOf = (kind: AuthMethod['kind']): Record<string, unknown> => {
    const base = { ...stored(kind), kind };
    switch (kind) {
      case 'key':
        return { ...base, header: keyHeader.value.trim() || null, query: keyQuery.value.trim() || null };
      case 'jwt': {
        const m: Record<string, unknown> = {
          ...base,
          algorithms: jwtAlgs.filter((b) => b.checked).map((b) => b.value),
          jwksUrl: jwksUrl.value.trim() || null,
          issuer: issuer.value.trim() || null,
          audience: audience.value.trim() || null,
          claim: claim.value.trim() || 'sub',
          clockToleranceSec: numberOf(tolerance),
          maxLifetimeSec: numberOf(maxLifetime),
        };
        // Empty: the admin API's default.
        if (m.clockToleranceSec === null) delete m.clockToleranceSec;
        return m;
      }
      default:
        return base;
    }
  };

  const section = h(
    'section',
    { class: 'card', 'aria-labelledby': 'access-auth' },
    h('h2', { id: 'access-auth' }, 'Authentication'),
    checkboxField({ label: 'Require authentication', path: 'access.auth', control: authOn }),
    h(
      'div',
      { class: 'field', dataset: { path: 'access.auth.methods' } },
      h('p', { class: 'hint' }, 'Methods are tried from the top; the first that recognises a credential decides.'),
      h('p', { class: 'field-error', hidden: true }),
    ),
    list,
    checkboxField({
      label: 'Anonymous callers too',
      path: 'access.auth.anonymous',
      control: useAnonymous,
      hint: 'Tried last: a request without any credential passes without a consumer; a wrong credential still fails.',
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
  );

  return {
    section,
    read: () =>
      authOn.checked
        ? {
            ...auth,
            methods: checkedKinds().map(methodOf),
            forwardCredentials: forward.checked,
            consumers: listOf(allowConsumers.value),
            tags: listOf(allowTags.value),
          }
        : null,
    mapPath: (path) => {
      const m = /^access\.auth\.methods\.(\d+)(.*)$/.exec(path);
      if (!m) return path;
      return `access.auth.${checkedKinds()[Number(m[1])] ?? 'methods'}${m[2]}`;
    },
  };
}
