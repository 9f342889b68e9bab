import { admin, ApiError } from '../api.js';
import { openModal } from '../components/dialog.js';
import { h, uid } from '../components/dom.js';
import { busy, clearErrors, field, fieldGroup, formErrorBox, showErrors, showFieldError } from '../components/form.js';
import type { ConsumerView, CredentialView } from '../types.js';
import { errorSentence } from '../words.js';

// The dialogs that change an existing consumer: its name and tags, and a new credential of any kind.

/** A credential as its creation answers it: with a generated secret, this once. */
export type NewCredential = CredentialView & { secret?: string };

/** A credential in words, masked: nothing in it lets anyone use it. */
export function credentialText(c: CredentialView): string {
  switch (c.kind) {
    case 'key':
      return `API key …${c.hint}`;
    case 'basic':
      return `Basic user ${c.username}`;
    case 'jwt':
      return `JWT subject ${c.subject}${c.hasSecret ? ' (HS secret)' : c.publicKey ? ' (public key)' : ' (JWKS)'}`;
  }
}

/** Splits "a, b c" into tags. */
export function tagsOf(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

const textInput = (attrs: Record<string, unknown> = {}) =>
  h('input', { type: 'text', autocomplete: 'off', spellcheck: false, ...attrs });

const actions = (submit: HTMLButtonElement, close: () => void) =>
  h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn', onclick: close }, 'Cancel'), submit);

/** Opens the dialog that renames and re-tags a consumer (PATCH); the admin API's errors land at their fields. */
export function openEditConsumer(c: ConsumerView, onSaved: (saved: ConsumerView) => void): void {
  const name = textInput({ name: 'name', value: c.name, maxlength: 100 });
  const tags = textInput({ name: 'tags', value: c.tags.join(', '), placeholder: 'beta, gold' });
  const submit = h(
    'button',
    { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Saving…' } },
    'Save consumer',
  );
  const form = h(
    'form',
    { class: 'stack consumer-edit-form', novalidate: true },
    formErrorBox(),
    field({
      label: 'Name',
      path: 'name',
      control: name,
      required: true,
      hint: 'Letters, digits, _ . @ : -. Allow lists and limits name consumers by name: check them after a rename.',
    }),
    field({ label: 'Tags', path: 'tags', control: tags, hint: 'Separated by commas or spaces.' }),
  );
  const modal = openModal({ title: `Edit consumer ${c.name}`, content: form });
  form.appendChild(actions(submit, () => modal.close()));
  name.focus();
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(form);
    void busy(submit, async () => {
      try {
        const saved = await admin.patchConsumer(c.id, { name: name.value.trim(), tags: tagsOf(tags.value) });
        modal.close();
        onSaved(saved);
      } catch (err) {
        showErrors(form, err);
      }
    });
  });
}

/** The field a CREDENTIAL_TAKEN conflict is about, by kind. */
const TAKEN_FIELD = { key: 'key', basic: 'username', jwt: 'subject' } as const;

/**
 * Opens the dialog that adds a credential to a consumer: an API key (generated, or the operator's
 * own), a Basic login, or a JWT subject with its key material (a generated or given HS secret, a PEM
 * public key, or none for an API with a JWKS URL). A generated secret goes to `onAdded` to be shown once.
 */
export function openAddCredential(c: ConsumerView, onAdded: (made: NewCredential) => void): void {
  const radios = (group: string, options: Array<[string, string]>, checked: string) =>
    options.map(([value, label]) => {
      const input = h('input', { type: 'radio', name: group, value, id: uid('r'), checked: value === checked });
      return { input, el: h('span', { class: 'check' }, input, h('label', { for: input.id }, label)) };
    });
  const kinds = radios(
    uid('kind'),
    [
      ['key', 'API key'],
      ['basic', 'HTTP Basic login'],
      ['jwt', 'JWT'],
    ],
    'key',
  );
  const ownKey = textInput({ name: 'key', placeholder: 'Empty: generate one' });
  const username = textInput({ name: 'username' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password' });
  const subject = textInput({ name: 'subject' });
  const materials = radios(
    uid('material'),
    [
      ['generate', 'Generate an HS secret'],
      ['secret', 'My own HS secret'],
      ['publicKey', 'Public key (RS, PS or ES)'],
      ['none', 'None: the API’s JWKS URL verifies tokens'],
    ],
    'generate',
  );
  const secret = h('input', { type: 'password', name: 'secret', autocomplete: 'off' });
  const publicKey = h('textarea', {
    name: 'publicKey',
    rows: 6,
    spellcheck: false,
    placeholder: '-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----',
  });

  const parts = {
    key: h(
      'div',
      { class: 'stack' },
      field({
        label: 'Own key',
        path: 'key',
        control: ownKey,
        hint: 'Optional: at least 24 printable characters. Empty: a random key, shown once.',
      }),
    ),
    basic: h(
      'div',
      { class: 'grid-2' },
      field({ label: 'Username', path: 'username', control: username, required: true }),
      field({
        label: 'Password',
        path: 'password',
        control: password,
        required: true,
        hint: 'At least 8 characters; stored as scrypt.',
      }),
    ),
    jwt: h(
      'div',
      { class: 'stack' },
      field({
        label: 'Subject',
        path: 'subject',
        control: subject,
        required: true,
        hint: 'The value of the API’s consumer claim (sub by default) that names this consumer.',
      }),
      fieldGroup({ legend: 'Key material', path: 'material', children: materials.map((m) => m.el) }),
      field({ label: 'HS secret', path: 'secret', control: secret, hint: 'At least 32 characters.' }),
      field({ label: 'Public key (PEM)', path: 'publicKey', control: publicKey, hint: 'SPKI, as PEM.' }),
    ),
  };
  const kindOf = () => (kinds.find((k) => k.input.checked)?.input.value ?? 'key') as keyof typeof parts;
  const materialOf = () => materials.find((m) => m.input.checked)?.input.value ?? 'generate';
  const secretField = secret.closest('.field') as HTMLElement;
  const publicKeyField = publicKey.closest('.field') as HTMLElement;
  const show = () => {
    for (const [kind, el] of Object.entries(parts)) el.hidden = kind !== kindOf();
    secretField.hidden = materialOf() !== 'secret';
    publicKeyField.hidden = materialOf() !== 'publicKey';
  };
  for (const r of [...kinds, ...materials]) r.input.addEventListener('change', show);
  show();

  const submit = h(
    'button',
    { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Adding…' } },
    'Add credential',
  );
  const form = h(
    'form',
    { class: 'stack credential-form', novalidate: true },
    formErrorBox(),
    fieldGroup({ legend: 'Kind', path: 'kind', class: 'methods', children: kinds.map((k) => k.el) }),
    parts.key,
    parts.basic,
    parts.jwt,
  );
  const modal = openModal({ title: `Add a credential to ${c.name}`, content: form });
  form.appendChild(actions(submit, () => modal.close()));

  const body = (): Record<string, unknown> => {
    const kind = kindOf();
    if (kind === 'key') return ownKey.value.trim() === '' ? { kind } : { kind, key: ownKey.value.trim() };
    if (kind === 'basic') return { kind, username: username.value, password: password.value };
    const material = materialOf();
    return {
      kind,
      subject: subject.value.trim(),
      ...(material === 'generate' ? { secret: 'generate' } : {}),
      ...(material === 'secret' ? { secret: secret.value } : {}),
      ...(material === 'publicKey' ? { publicKey: publicKey.value.trim() + '\n' } : {}),
    };
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors(form);
    void busy(submit, async () => {
      try {
        const made = await admin.addCredential(c.id, body());
        modal.close();
        onAdded(made);
      } catch (err) {
        if (err instanceof ApiError && err.code === 'CREDENTIAL_TAKEN') {
          showFieldError(form, TAKEN_FIELD[kindOf()], errorSentence(err.code, err.message));
        } else showErrors(form, err);
      }
    });
  });
}
