import { admin, clearToken, errorText } from '../api.js';
import { copyButton } from '../components/copy.js';
import { confirmDialog } from '../components/dialog.js';
import { h, replace, srOnly } from '../components/dom.js';
import { busy, clearErrors, field, formErrorBox, showErrors } from '../components/form.js';
import { notify } from '../components/notify.js';
import { cell, listTable } from '../components/table.js';
import { ago, dateTime } from '../format.js';
import { navigate, type ViewContext } from '../router.js';
import { can, clearSession, currentActor, needsRole } from '../session.js';
import type { AdminToken, Role } from '../types.js';

/** The roles in order, each with what it may do (the same ladder as `src/model/token.ts`). */
const ROLES: ReadonlyArray<readonly [Role, string]> = [
  ['viewer', 'reads everything and tests selectors'],
  ['operator', 'also ticks nodes and sets variables'],
  ['editor', 'also changes any config'],
  ['admin', 'also manages admin tokens and exports secrets'],
];

/**
 * The Admin tokens page (admins only): the named tokens with their role and who made them, a form to
 * make one (its secret is shown once, with a copy button) and revoke with a confirmation that warns
 * when it is the token this tab is signed in with. Other roles get a page saying it needs the admin role.
 */
export async function tokensView({ root, signal }: ViewContext): Promise<void> {
  document.title = 'Admin tokens · isogate';
  if (!can('admin')) {
    replace(
      root,
      h(
        'div',
        { class: 'page' },
        h('div', { class: 'page-head' }, h('h1', null, 'Admin tokens')),
        h(
          'div',
          { class: 'notice needs-admin', role: 'status' },
          h('p', null, h('strong', null, 'This page needs the admin role. '), needsRole('admin')),
          h('p', null, 'Ask an admin for a token with more rights, or sign in with one.'),
        ),
      ),
    );
    return;
  }

  const { host: listHost, load } = listTable({
    loading: 'Loading admin tokens…',
    fetch: () => admin.listTokens({ signal }),
    empty: 'No named tokens yet.',
    tableClass: 'table table-cards tokens-table',
    columns: ['Name', 'Role', 'Created', srOnly('Actions')],
    row,
  });
  const secretHost = h('div', { role: 'status', 'aria-live': 'polite' });
  replace(
    root,
    h(
      'div',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', null, 'Admin tokens')),
      h(
        'p',
        { class: 'lead' },
        'Named tokens for the admin API and this console, each with a role. The audit log names the token behind every write. isogate keeps only a hash of each secret: it is shown once, when the token is made.',
      ),
      secretHost,
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'new-token-title' },
        h('h2', { id: 'new-token-title' }, 'New token'),
        newTokenForm((created) => {
          showSecret(created);
          void load();
        }),
      ),
      h(
        'section',
        { 'aria-labelledby': 'tokens-title' },
        h('h2', { id: 'tokens-title' }, 'Named tokens'),
        listHost,
        h(
          'p',
          { class: 'muted small' },
          'The bootstrap token (',
          h('code', null, 'admin-token'),
          ': the data dir’s ',
          h('code', null, 'admin-token'),
          ' file or ',
          h('code', null, 'ISOGATE_ADMIN_TOKEN'),
          ') is always an admin and is not listed here.',
        ),
      ),
    ),
  );

  function showSecret(token: AdminToken & { secret: string }): void {
    const secret = h('code', { class: 'secret' }, token.secret);
    replace(
      secretHost,
      h(
        'div',
        { class: 'notice secrets token-secret' },
        h(
          'p',
          null,
          h('strong', null, `Copy the secret of ${token.name} now: `),
          'it will not be shown again. isogate keeps only its hash; a lost secret means a new token.',
        ),
        h('p', { class: 'secret-line' }, secret, ' ', copyButton(secret, `Copy the secret of ${token.name}`)),
        h(
          'p',
          { class: 'small' },
          'Sign in to the console with it, or send it to the admin API as ',
          h('code', null, 'Authorization: Bearer <secret>'),
          '.',
        ),
        h('button', { type: 'button', class: 'btn', onclick: () => replace(secretHost) }, 'I have copied it'),
      ),
    );
  }

  function row(t: AdminToken): HTMLTableRowElement {
    const self = currentActor()?.id === t.id;
    const revoke = h(
      'button',
      { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Revoke token ${t.name}` },
      'Revoke',
    );
    revoke.addEventListener('click', () => void remove(t, self, revoke));
    return h(
      'tr',
      { dataset: { token: t.name } },
      cell('Name', [h('strong', null, t.name), self ? h('span', { class: 'chip token-self' }, 'you') : null], {}, 'th'),
      cell('Role', [h('span', { class: `chip role-${t.role}` }, t.role)], { class: 'token-role' }),
      cell('Created', [h('span', { title: dateTime(t.createdAt) }, ago(t.createdAt)), ` by ${t.createdBy}`], {
        class: 'token-created',
      }),
      cell('Actions', [h('div', { class: 'actions' }, revoke)]),
    );
  }

  async function remove(t: AdminToken, self: boolean, button: HTMLButtonElement): Promise<void> {
    const ok = await confirmDialog({
      title: `Revoke the token “${t.name}”?`,
      message: [
        h('p', null, 'Requests with it get 401 UNAUTHORIZED from the next one on. The audit log keeps its name.'),
        self
          ? h(
              'p',
              { class: 'impact-line impact-loses token-self-warning' },
              h('strong', null, 'This is the token you are signed in with: this tab is signed out once it is revoked.'),
            )
          : null,
      ],
      confirmLabel: 'Revoke token',
      danger: true,
    });
    if (!ok) return;
    button.disabled = true;
    try {
      await admin.deleteToken(t.id);
    } catch (err) {
      button.disabled = false;
      notify(errorText(err), 'error');
      return;
    }
    if (self) {
      // The next call would be refused anyway; say why rather than "your session ended".
      clearToken();
      clearSession();
      notify(`Token ${t.name} revoked; you are signed out.`);
      navigate('/sign-in', { replace: true });
      return;
    }
    await load();
    notify(`Token ${t.name} revoked.`);
  }

  await load();
}

/** The new-token form: a name and a role (viewer first, the least that may be enough). */
function newTokenForm(onCreated: (created: AdminToken & { secret: string }) => void): HTMLFormElement {
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', spellcheck: false, maxlength: 64 });
  const role = h(
    'select',
    { name: 'role' },
    ROLES.map(([r, what]) => h('option', { value: r }, `${r} — ${what}`)),
  );
  const submit = h(
    'button',
    { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Creating…' } },
    'Create token',
  );
  const form = h(
    'form',
    { class: 'stack token-form', novalidate: true },
    formErrorBox(),
    h(
      'div',
      { class: 'grid-2' },
      field({
        label: 'Name',
        path: 'name',
        control: name,
        required: true,
        hint: 'Who uses it (night-shift, deploy-bot): the audit log names it. Letters, digits, spaces, . _ @ -.',
      }),
      field({
        label: 'Role',
        path: 'role',
        control: role,
        required: true,
        hint: 'Each role may do what the ones before it in this list may, and more.',
      }),
    ),
    h('div', { class: 'actions actions-start' }, submit),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(form);
    void busy(submit, async () => {
      try {
        const created = await admin.createToken({ name: name.value.trim(), role: role.value as Role });
        notify(`Token ${created.name} created`);
        form.reset();
        onCreated(created);
      } catch (err) {
        showErrors(form, err);
      }
    });
  });
  return form;
}
