import { admin, errorText, isAbort } from '../api.js';
import { confirmDialog } from '../components/dialog.js';
import { h, replace } from '../components/dom.js';
import { busy, loadErrorBox } from '../components/form.js';
import { notify } from '../components/notify.js';
import { cell } from '../components/table.js';
import { dateTime } from '../format.js';
import type { ViewContext } from '../router.js';
import { gate } from '../session.js';
import type { CertificateView } from '../types.js';
import { certificateForm } from './certificate-form.js';
import { certificateWarnings, expiryText, keyWarningBadge } from './certificate-warnings.js';

/**
 * The Certificates page: every certificate of the TLS port with the names it serves (from its SAN),
 * its expiry (a warning within 30 days), a key an upload would be refused for today (a warning), which
 * one is the default, and upload, replace (a renewed chain and key for the same entry, with no gap
 * in service), make default, delete.
 * The private key is never shown, and unlike other forms this one keeps no draft: a key is not
 * written to the browser's storage.
 */
export async function certificatesView({ root, signal }: ViewContext): Promise<void> {
  document.title = 'Certificates · isogate';
  const listHost = h('div', null, h('div', { class: 'loading', role: 'status' }, 'Loading certificates…'));
  const warnHost = h('div');
  const upload = certificateForm(() => void load());
  replace(
    root,
    h(
      'div',
      { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', null, 'Certificates')),
      h(
        'p',
        { class: 'lead' },
        'The gateway’s TLS port picks a certificate for each connection by the name the client asks for (SNI): a certificate naming it exactly, then one with a matching ',
        h('code', null, '*.'),
        ' name, then the default. A change applies to the next handshake in every gateway process.',
      ),
      warnHost,
      h(
        'section',
        { 'aria-labelledby': 'certs-title' },
        h('h2', { id: 'certs-title', class: 'sr-only' }, 'All certificates'),
        listHost,
      ),
      h('section', { class: 'card', 'aria-labelledby': 'upload-title' }, upload.title, upload.form),
    ),
  );

  async function load(): Promise<void> {
    try {
      render(await admin.listCertificates({ signal }));
    } catch (err) {
      if (isAbort(err)) return;
      replace(listHost, loadErrorBox(err));
    }
  }

  function render(certs: CertificateView[]): void {
    replace(warnHost, certificateWarnings(certs));
    if (certs.length === 0) {
      replace(
        listHost,
        h(
          'div',
          { class: 'empty card' },
          h('h3', null, 'No certificates yet'),
          h(
            'p',
            null,
            'Until one is uploaded the TLS port refuses every handshake. The first one serves as the default.',
          ),
        ),
      );
      return;
    }
    replace(
      listHost,
      h(
        'table',
        { class: 'table table-cards certs-table' },
        h('caption', { class: 'sr-only' }, 'Certificates'),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Names', 'Expires', 'Issuer', 'Default'].map((t) => h('th', { scope: 'col' }, t)),
            h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')),
          ),
        ),
        h(
          'tbody',
          null,
          certs.map((c) => row(c)),
        ),
      ),
    );
  }

  function row(c: CertificateView): HTMLTableRowElement {
    const actions: HTMLElement[] = [];
    if (!c.servesAsDefault) {
      const makeDefault = gate(
        h(
          'button',
          { type: 'button', class: 'btn btn-small btn-quiet', dataset: { busyLabel: 'Saving…' } },
          'Make default',
        ),
        'editor',
      );
      makeDefault.addEventListener(
        'click',
        () =>
          void busy(makeDefault, async () => {
            try {
              await admin.setDefaultCertificate(c.id);
              notify(`${c.names[0]} is now the default certificate.`);
              await load();
            } catch (err) {
              notify(errorText(err), 'error');
            }
          }),
      );
      actions.push(makeDefault);
    }
    const replaceButton = gate(
      h(
        'button',
        {
          type: 'button',
          class: 'btn btn-small btn-quiet',
          'aria-label': `Replace the certificate for ${c.names.join(', ')}`,
        },
        'Replace',
      ),
      'editor',
    );
    replaceButton.addEventListener('click', () => upload.replacing(c));
    actions.push(replaceButton);
    const del = gate(
      h(
        'button',
        {
          type: 'button',
          class: 'btn btn-small btn-quiet btn-danger-text',
          'aria-label': `Delete the certificate for ${c.names.join(', ')}`,
        },
        'Delete',
      ),
      'editor',
    );
    del.addEventListener('click', () => void remove(c));
    actions.push(del);
    const expiry = h(
      'span',
      { class: c.expiringSoon ? 'text-danger cert-expiry' : 'cert-expiry', title: dateTime(c.notAfter) },
      expiryText(c),
    );
    return h(
      'tr',
      {
        dataset: { certificate: c.id, expiringSoon: String(c.expiringSoon), keyRefused: String(c.keyWarning !== null) },
      },
      cell(
        'Names',
        [
          h(
            'span',
            { class: 'cert-names' },
            c.names.map((n, i) => [i > 0 ? ', ' : '', h('code', null, n)]),
          ),
          keyWarningBadge(c),
        ],
        {},
        'th',
      ),
      cell('Expires', [
        expiry,
        c.expiringSoon ? h('span', { class: 'badge badge-warn' }, 'renew soon') : null,
        h('div', { class: 'muted small' }, dateTime(c.notAfter)),
      ]),
      cell('Issuer', [h('span', { class: 'small' }, c.issuer)]),
      cell('Default', [
        c.servesAsDefault
          ? h('span', { class: 'badge badge-ok cert-default' }, c.isDefault ? 'default' : 'default (oldest)')
          : h('span', { class: 'muted' }, '—'),
      ]),
      h('td', { class: 'row-actions' }, actions),
    );
  }

  async function remove(c: CertificateView): Promise<void> {
    const ok = await confirmDialog({
      title: 'Delete this certificate?',
      message: [
        `Clients asking for ${c.names.join(', ')} will get `,
        c.servesAsDefault
          ? 'another certificate as the default, or no handshake at all if none is left.'
          : 'the default certificate instead.',
      ],
      confirmLabel: 'Delete',
      danger: true,
    });
    if (!ok) return;
    try {
      await admin.deleteCertificate(c.id);
      upload.forget(c.id);
      notify(`Deleted the certificate for ${c.names.join(', ')}.`);
      await load();
    } catch (err) {
      notify(errorText(err), 'error');
    }
  }

  await load();
}
