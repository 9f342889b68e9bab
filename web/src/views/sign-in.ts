import { admin, ApiError, setToken } from '../api.js';
import { h, replace } from '../components/dom.js';
import { busy, clearErrors, field, formErrorBox, showErrors, showFieldError } from '../components/form.js';
import { navigate, type ViewContext } from '../router.js';
import { refreshSession } from '../session.js';

/** Where to go after signing in: the page that sent the user here, if it is a console page. */
function nextPath(query: URLSearchParams): string {
  const next = query.get('next');
  if (next === null || !next.startsWith('/')) return '/apis';
  // Resolved as the browser will: `/\host` or a slash, tab, slash are another origin too.
  let url: URL;
  try {
    url = new URL(next, location.origin);
  } catch {
    return '/apis';
  }
  if (url.origin !== location.origin || url.pathname.startsWith('/sign-in')) return '/apis';
  return url.pathname + url.search + url.hash;
}

/** Sign-in with the admin token; the token is checked against the API before it is kept. */
export function signInView({ root, query }: ViewContext): void {
  document.title = 'Sign in · isogate';
  const token = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
  });
  const show = h('input', { type: 'checkbox', id: 'show-token' });
  show.addEventListener('change', () => {
    token.type = show.checked ? 'text' : 'password';
  });
  const submit = h(
    'button',
    { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Checking…' } },
    'Sign in',
  );
  const form = h(
    'form',
    { class: 'stack', novalidate: true },
    formErrorBox(),
    field({
      label: 'Admin token',
      path: 'token',
      control: token,
      required: true,
      hint: [
        'Printed once on first start and kept in ',
        h('code', null, 'data/admin-token'),
        ' (or the ',
        h('code', null, 'ISOGATE_ADMIN_TOKEN'),
        ' you set), or a named token an admin made for you.',
      ],
    }),
    h('div', { class: 'check' }, show, h('label', { for: 'show-token' }, 'Show token')),
    h('div', { class: 'actions actions-start' }, submit),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(form);
    const value = token.value.trim();
    if (value === '') {
      showFieldError(form, 'token', 'Enter the admin token.');
      token.focus();
      return;
    }
    void busy(submit, async () => {
      try {
        await admin.checkToken(value);
        setToken(value);
        await refreshSession();
        navigate(nextPath(query), { replace: true });
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          showFieldError(form, 'token', 'This token was not accepted. Check it and try again.');
          token.focus();
        } else showErrors(form, err);
      }
    });
  });
  replace(
    root,
    h(
      'div',
      { class: 'sign-in' },
      h(
        'section',
        { class: 'card' },
        h('h1', null, 'Sign in to isogate'),
        query.get('expired')
          ? h(
              'p',
              { class: 'notice', role: 'status' },
              'Your session ended or the token was refused. Sign in again to go on where you were; nothing you typed is lost.',
            )
          : null,
        form,
        h(
          'p',
          { class: 'muted small' },
          'The token is kept in this browser tab only and is forgotten when the tab closes.',
        ),
      ),
    ),
  );
  token.focus();
}
