import { RSA_MAX_BITS, RSA_MIN_BITS } from '../../../src/tls/key-policy.js';
import { h } from '../components/dom.js';
import { dateTime, plural } from '../format.js';
import type { CertificateView } from '../types.js';

/** "expires in 12 days", "expired 3 days ago". */
export function expiryText(c: CertificateView): string {
  const d = c.expiresInDays;
  if (d < 0) return `expired ${plural(-d, 'day')} ago`;
  if (d === 0) return 'expires today';
  return `expires in ${plural(d, 'day')}`;
}

/** The badge of a certificate whose key an upload would be refused for today, with the reason on hover. */
export function keyWarningBadge(c: CertificateView): HTMLElement | null {
  if (c.keyWarning === null) return null;
  return h('span', { class: 'badge badge-warn cert-key-badge', title: c.keyWarning }, 'replace key');
}

/**
 * The warnings above the certificate list: certificates that expire within 30 days, and certificates
 * stored under older rules whose key an upload would be refused for today (`keyWarning`; still served:
 * refusing them at an upgrade would take their names offline). Null when there is nothing to warn of.
 */
export function certificateWarnings(certs: readonly CertificateView[]): HTMLElement[] | null {
  const banners = [expiringSoon(certs), refusedKeys(certs)].filter((b): b is HTMLElement => b !== null);
  return banners.length === 0 ? null : banners;
}

function expiringSoon(certs: readonly CertificateView[]): HTMLElement | null {
  const soon = certs.filter((c) => c.expiringSoon);
  if (soon.length === 0) return null;
  return h(
    'section',
    { class: 'card card-warn cert-warning', role: 'status', 'aria-labelledby': 'expiring-title' },
    h(
      'h2',
      { id: 'expiring-title' },
      `${plural(soon.length, 'certificate')} ${soon.length === 1 ? 'expires' : 'expire'} within 30 days`,
    ),
    h(
      'ul',
      { class: 'plain-list' },
      soon.map((c) =>
        h('li', null, h('strong', null, c.names.join(', ')), ` — ${expiryText(c)} (${dateTime(c.notAfter)})`),
      ),
    ),
    h(
      'p',
      { class: 'small' },
      'Replace each with its renewed certificate before then (Replace, on its row); clients refuse an expired one.',
    ),
  );
}

function refusedKeys(certs: readonly CertificateView[]): HTMLElement | null {
  const weak = certs.filter((c) => c.keyWarning !== null);
  if (weak.length === 0) return null;
  return h(
    'section',
    { class: 'card card-warn cert-key-warning', role: 'status', 'aria-labelledby': 'key-warning-title' },
    h(
      'h2',
      { id: 'key-warning-title' },
      `${plural(weak.length, 'certificate')} ${weak.length === 1 ? 'has a key' : 'have keys'} isogate would refuse today`,
    ),
    h(
      'ul',
      { class: 'plain-list' },
      weak.map((c) => h('li', null, h('strong', null, c.names.join(', ')), ` — ${c.keyWarning}`)),
    ),
    h(
      'p',
      { class: 'small' },
      `Stored under older rules, ${weak.length === 1 ? 'it is' : 'they are'} still served, so clients can connect, but an upload of ${weak.length === 1 ? 'it' : 'them'} would be refused. `,
      `Replace ${weak.length === 1 ? 'it' : 'them'} with a certificate whose key is RSA of ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits, ECDSA on P-256, P-384 or P-521, Ed25519 or Ed448.`,
    ),
  );
}
