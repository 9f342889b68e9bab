import { admin, errorText } from '../api.js';
import { confirmDialog } from '../components/dialog.js';
import { h, replace, srOnly } from '../components/dom.js';
import { busy, clearErrors, field, formErrorBox, showErrors } from '../components/form.js';
import { notify } from '../components/notify.js';
import { cell, listTable } from '../components/table.js';
import type { ViewContext } from '../router.js';
import { gate } from '../session.js';
import type { ConsumerView } from '../types.js';
import { credentialText, openAddCredential, openEditConsumer, tagsOf } from './consumer-forms.js';

/**
 * The Consumers page: named callers with tags and credentials; each can be renamed, re-tagged and
 * given credentials of any kind. A new consumer (or credential) shows its generated API key or JWT
 * secret once, in a box to copy it from; afterwards credentials are listed masked.
 */
export async function consumersView({ root, signal }: ViewContext): Promise<void> {
  document.title = 'Consumers · isogate';
  const { host: listHost, load } = listTable({
    loading: 'Loading consumers…',
    fetch: () => admin.listConsumers({ signal }),
    empty: 'No consumers yet.',
    tableClass: 'table consumers',
    columns: ['Name', 'Tags', 'Credentials', srOnly('Actions')],
    row,
  });
  const secretsHost = h('div', { role: 'status', 'aria-live': 'polite' });
  const createForm = newConsumerForm((created) => {
    showSecrets(
      created.name,
      created.credentials.flatMap((c) => (c.secret ? [{ label: credentialText(c), secret: c.secret }] : [])),
    );
    void load();
  });
  replace(
    root,
    h(
      'div',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', null, 'Consumers')),
      h(
        'p',
        { class: 'lead' },
        'A consumer is a named caller with credentials. APIs with authentication tell which consumer calls, and selectors see it as ',
        h('code', null, 'request.consumer'),
        ' (name and tags), so one customer or every consumer tagged beta can go to a canary.',
      ),
      secretsHost,
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'new-consumer-title' },
        h('h2', { id: 'new-consumer-title' }, 'New consumer'),
        createForm,
      ),
      h(
        'section',
        { 'aria-labelledby': 'consumers-title' },
        h('h2', { id: 'consumers-title', class: 'sr-only' }, 'All consumers'),
        listHost,
      ),
    ),
  );

  function showSecrets(name: string, secrets: Array<{ label: string; secret: string }>): void {
    if (secrets.length === 0) {
      replace(secretsHost);
      return;
    }
    replace(
      secretsHost,
      h(
        'div',
        { class: 'notice secrets' },
        h(
          'p',
          null,
          h('strong', null, `Copy the secrets of ${name} now: `),
          'they are shown this once and only their hashes are kept.',
        ),
        h(
          'ul',
          null,
          secrets.map((s) => h('li', null, `${s.label}: `, h('code', { class: 'secret' }, s.secret))),
        ),
        h('button', { type: 'button', class: 'btn', onclick: () => replace(secretsHost) }, 'I have copied them'),
      ),
    );
  }

  function row(c: ConsumerView): HTMLTableRowElement {
    const edit = gate(
      h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Edit ${c.name}` }, 'Edit'),
      'editor',
    );
    edit.addEventListener('click', () =>
      openEditConsumer(c, (saved) => {
        notify(`Consumer ${saved.name} saved`);
        void load();
      }),
    );
    const addCredential = gate(
      h(
        'button',
        { type: 'button', class: 'btn btn-small', 'aria-label': `Add a credential to ${c.name}` },
        'Add credential',
      ),
      'editor',
    );
    addCredential.addEventListener('click', () =>
      openAddCredential(c, (made) => {
        notify(`Added ${credentialText(made)} to ${c.name}`);
        if (made.secret) showSecrets(c.name, [{ label: credentialText(made), secret: made.secret }]);
        void load();
      }),
    );
    const remove = gate(h('button', { type: 'button', class: 'btn btn-small btn-danger' }, 'Delete'), 'editor');
    remove.addEventListener('click', async () => {
      if (
        !(await confirmDialog({
          title: `Delete consumer ${c.name}?`,
          message: 'Its credentials stop working at the next request.',
          confirmLabel: 'Delete',
          danger: true,
        }))
      )
        return;
      try {
        await admin.deleteConsumer(c.id);
        notify(`Consumer ${c.name} deleted`);
        await load();
      } catch (err) {
        notify(errorText(err), 'error');
      }
    });
    const creds = c.credentials.length
      ? h(
          'ul',
          { class: 'plain-list' },
          c.credentials.map((cr) =>
            h(
              'li',
              null,
              credentialText(cr),
              ' ',
              gate(
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn-link',
                    'aria-label': `Remove ${credentialText(cr)} of ${c.name}`,
                    onclick: async () => {
                      try {
                        await admin.deleteCredential(c.id, cr.id);
                        notify(`Removed ${credentialText(cr)}`);
                        await load();
                      } catch (err) {
                        notify(errorText(err), 'error');
                      }
                    },
                  },
                  'Remove',
                ),
                'editor',
              ),
            ),
          ),
        )
      : h('span', { class: 'muted' }, 'None');
    return h(
      'tr',
      { dataset: { consumer: c.name } },
      cell('Name', [h('strong', null, c.name)], {}, 'th'),
      cell('Tags', [
        c.tags.length ? c.tags.map((t) => h('span', { class: 'chip' }, t)) : h('span', { class: 'muted' }, '—'),
      ]),
      cell('Credentials', [creds]),
      cell('Actions', [h('div', { class: 'actions' }, edit, addCredential, remove)]),
    );
  }

  await load();
}

/** The new-consumer form: name, tags and the first credentials (a generated key, a Basic login, a JWT subject). */
function newConsumerForm(
  onCreated: (created: Awaited<ReturnType<typeof admin.createConsumer>>) => void,
): HTMLFormElement {
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', spellcheck: false, maxlength: 100 });
  const tags = h('input', {
    type: 'text',
    name: 'tags',
    autocomplete: 'off',
    spellcheck: false,
    placeholder: 'beta, gold',
  });
  const withKey = h('input', { type: 'checkbox', name: 'withKey', checked: true, id: 'consumer-with-key' });
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'off', spellcheck: false });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password' });
  const subject = h('input', { type: 'text', name: 'subject', autocomplete: 'off', spellcheck: false });
  const submit = gate(
    h('button', { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Creating…' } }, 'Create consumer'),
    'editor',
  );
  const form = h(
    'form',
    { class: 'stack consumer-form', novalidate: true },
    formErrorBox(),
    h(
      'div',
      { class: 'grid-2' },
      field({
        label: 'Name',
        path: 'name',
        control: name,
        required: true,
        hint: 'Letters, digits, _ . @ : - (selectors see it as request.consumer.name).',
      }),
      field({ label: 'Tags', path: 'tags', control: tags, hint: 'Separated by commas or spaces.' }),
    ),
    h(
      'div',
      { class: 'field field-check', dataset: { path: 'credentials.0' } },
      h('div', { class: 'check' }, withKey, h('label', { for: withKey.id }, 'Generate an API key')),
      h('p', { class: 'field-error', hidden: true }),
    ),
    h(
      'div',
      { class: 'grid-3' },
      field({
        label: 'Basic username',
        path: 'basic.username',
        control: username,
        hint: 'Optional: a login for HTTP Basic.',
      }),
      field({
        label: 'Basic password',
        path: 'basic.password',
        control: password,
        hint: 'At least 8 characters; stored as scrypt.',
      }),
      field({
        label: 'JWT subject',
        path: 'jwt.subject',
        control: subject,
        hint: 'Optional: the token claim (sub) naming this consumer; verified by the API’s JWKS.',
      }),
    ),
    h('div', { class: 'actions actions-start' }, submit),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(form);
    const credentials: Array<Record<string, unknown>> = [];
    const where: string[] = [];
    if (withKey.checked) {
      credentials.push({ kind: 'key' });
      where.push('credentials.0');
    }
    if (username.value !== '' || password.value !== '') {
      credentials.push({ kind: 'basic', username: username.value, password: password.value });
      where.push('basic');
    }
    if (subject.value.trim() !== '') {
      credentials.push({ kind: 'jwt', subject: subject.value.trim() });
      where.push('jwt');
    }
    void busy(submit, async () => {
      try {
        const created = await admin.createConsumer({ name: name.value.trim(), tags: tagsOf(tags.value), credentials });
        notify(`Consumer ${created.name} created`);
        form.reset();
        withKey.checked = true;
        onCreated(created);
      } catch (err) {
        // credentials.1.password → basic.password: the details name the list position, the form its kind.
        showErrors(form, err, {
          mapPath: (path) => {
            const m = /^credentials\.(\d+)(.*)$/.exec(path);
            return m ? `${where[Number(m[1])] ?? 'credentials'}${m[2]}` : path;
          },
        });
      }
    });
  });
  return form;
}
