import { admin } from '../api.js';
import { h, replace } from '../components/dom.js';
import { busy, checkboxField, clearErrors, field, formErrorBox, showErrors } from '../components/form.js';
import { notify } from '../components/notify.js';
import { gate } from '../session.js';
import type { CertificateView } from '../types.js';

/** The certificate form of the Certificates page, and how the page switches it to replacing one entry. */
export interface CertificateForm {
  /** The section's heading: "Upload a certificate", or "Replace the certificate for …". */
  readonly title: HTMLHeadingElement;
  readonly form: HTMLFormElement;
  /** Turns the form into a replacement of this certificate (`PUT`), scrolled into view. */
  replacing(certificate: CertificateView): void;
  /** Back to uploading a new certificate if the form was replacing this one (it was deleted). */
  forget(id: string): void;
}

/**
 * The PEM chain and key, pasted or read from files, and whether the certificate is the default. It
 * uploads a new certificate, or replaces one: a renewed chain and key for the same entry in one
 * write (`PUT /admin/certificates/:id`), so its names are never without a certificate, as they would
 * be between a delete and an upload (an upload naming a stored certificate's names is refused).
 */
export function certificateForm(saved: () => void): CertificateForm {
  let target: CertificateView | null = null;
  const title = h('h2', { id: 'upload-title' }, 'Upload a certificate');
  const certificate = h('textarea', {
    name: 'certificate',
    rows: 6,
    spellcheck: 'false',
    placeholder: '-----BEGIN CERTIFICATE-----',
    class: 'mono',
  });
  const privateKey = h('textarea', {
    name: 'privateKey',
    rows: 6,
    spellcheck: 'false',
    placeholder: '-----BEGIN PRIVATE KEY-----',
    class: 'mono',
    autocomplete: 'off',
  });
  const isDefault = h('input', { type: 'checkbox', name: 'isDefault' });
  const fromFile = (into: HTMLTextAreaElement, label: string) => {
    const input = h('input', {
      type: 'file',
      accept: '.pem,.crt,.key,.cer,text/plain',
      'aria-label': label,
      class: 'file-input',
    });
    input.addEventListener('change', () => {
      const file = input.files?.[0];
      if (file) void file.text().then((text) => (into.value = text));
    });
    return input;
  };
  const submit = gate(
    h('button', { type: 'submit', class: 'btn btn-primary', dataset: { busyLabel: 'Checking…' } }, 'Upload'),
    'editor',
  );
  const cancel = h('button', { type: 'button', class: 'btn btn-quiet', hidden: true }, 'Cancel');
  const note = h('p', { class: 'muted small', hidden: true });
  const form = h(
    'form',
    { class: 'cert-form', novalidate: true },
    note,
    formErrorBox(),
    field({
      label: 'Certificate chain (PEM)',
      path: 'certificate',
      control: certificate,
      required: true,
      hint: [
        'The certificate first, then each intermediate. ',
        fromFile(certificate, 'Read the certificate chain from a file'),
      ],
    }),
    field({
      label: 'Private key (PEM, unencrypted)',
      path: 'privateKey',
      control: privateKey,
      required: true,
      hint: ['Never shown again after upload. ', fromFile(privateKey, 'Read the private key from a file')],
    }),
    checkboxField({
      label: 'Default certificate',
      path: 'isDefault',
      control: isDefault,
      hint: 'Served to clients whose name no certificate has, and to clients that send none.',
    }),
    h('div', { class: 'actions actions-start' }, submit, cancel),
  );

  const reset = () => {
    target = null;
    certificate.value = '';
    privateKey.value = '';
    isDefault.checked = false;
    replace(title, 'Upload a certificate');
    submit.textContent = 'Upload';
    cancel.hidden = true;
    note.hidden = true;
    form.dataset.replacing = '';
    clearErrors(form);
  };
  cancel.addEventListener('click', reset);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors(form);
    const replacing = target;
    void busy(submit, async () => {
      try {
        const body = { certificate: certificate.value, privateKey: privateKey.value, isDefault: isDefault.checked };
        const cert =
          replacing === null ? await admin.uploadCertificate(body) : await admin.replaceCertificate(replacing.id, body);
        reset();
        notify(
          `${replacing === null ? 'Uploaded' : 'Replaced'} the certificate for ${cert.names.join(', ')}; it serves the next handshake.`,
        );
        saved();
      } catch (err) {
        showErrors(form, err);
      }
    });
  });

  return {
    title,
    form,
    replacing(c) {
      reset();
      target = c;
      replace(title, `Replace the certificate for ${c.names.join(', ')}`);
      replace(
        note,
        'Paste the renewed chain and its key. The names may change; until the replacement is saved, the current certificate keeps serving.',
      );
      note.hidden = false;
      submit.textContent = 'Replace';
      cancel.hidden = false;
      isDefault.checked = c.isDefault;
      form.dataset.replacing = c.id;
      form.scrollIntoView({ block: 'start' });
      certificate.focus();
    },
    forget(id) {
      if (target?.id === id) reset();
    },
  };
}
