import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  launchChromium,
  newContext,
  openPage,
  requireConsoleAndBrowser,
  screenshot,
  signIn,
  skipAfterFirstFailure,
  type PageWatch,
} from '../helpers/browser.js';
import { storedRecord, TestCa } from '../helpers/certs.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { handshake } from '../helpers/tls-client.js';

// The console's Certificates page with a certificate stored under older rules (a 1024-bit RSA key, which
// an upload is refused for today): the admin API lists it with a `keyWarning`, the gateway still serves
// it, and the page says so (a warning above the list, a badge on its row) until it is gone.
const TOKEN = 'test-token-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'isogate-key-warning-'));
let t: TestGateway;
let ca: TestCa;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let watch: PageWatch;
let legacyFingerprint: string;

/** A self-signed certificate for `name` with a 1024-bit RSA key (the openssl CLI), and its key. */
function legacyPair(name: string): { certificate: string; privateKey: string } {
  const key = join(dir, 'legacy.key');
  const pem = join(dir, 'legacy.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', key, '-out', pem, '-days', '90'].concat([
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=DNS:${name}`,
    ]),
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { certificate: readFileSync(pem, 'utf8'), privateKey: readFileSync(key, 'utf8') };
}

/**
 * Writes `pair` to the store directly, as an upload accepted before the key rules existed (the admin
 * API refuses its key); returns the leaf's fingerprint.
 */
async function storeDirectly(name: string, pair: { certificate: string; privateKey: string }): Promise<string> {
  return (await t.app.store.createCertificate(storedRecord([name], pair))).fingerprint;
}

skipAfterFirstFailure();

beforeAll(async () => {
  requireConsoleAndBrowser();
  ca = new TestCa();
  t = await startTestGateway(['--gateway-tls-port', '0']);
  const good = ca.issue(['good.test']);
  expect(
    (await t.admin('POST', '/admin/certificates', { certificate: good.certificate, privateKey: good.privateKey }))
      .status,
  ).toBe(201);
  const legacy = legacyPair('legacy.test');
  expect(
    (await t.admin('POST', '/admin/certificates', { certificate: legacy.certificate, privateKey: legacy.privateKey }))
      .body.error.code,
  ).toBe('CERTIFICATE_WEAK');
  legacyFingerprint = await storeDirectly('legacy.test', legacy);
  browser = await launchChromium();
  context = await newContext(browser, 1280, 800);
  ({ page, watch } = await openPage(context));
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await t?.stop();
  ca?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const tlsPort = () => t.app.gatewayTls!.port;
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 50 });
const rowOf = (name: string) => page.locator('tr[data-certificate]').filter({ hasText: name });

describe('console: a stored certificate whose key would be refused today', () => {
  it('is still served by the TLS port', async () => {
    await poll(async () => (await handshake(tlsPort(), 'legacy.test')).fingerprint).toBe(legacyFingerprint);
  });

  it('is named in a warning above the list with the reason, and marked on its row', async () => {
    await signIn(page, t.adminUrl, TOKEN);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Certificates' }).click();
    await rowOf('legacy.test').waitFor();
    const warning = page.locator('.cert-key-warning');
    await poll(() => warning.getByRole('heading').textContent()).toBe(
      '1 certificate has a key isogate would refuse today',
    );
    const item = warning.getByRole('listitem');
    expect(await item.count()).toBe(1);
    expect(await item.textContent()).toBe('legacy.test — a 1024-bit RSA key is too weak: use at least 2048 bits');
    expect(await warning.textContent()).toContain('still served, so clients can connect');
    expect(await warning.textContent()).toContain('RSA of 2048 to 8192 bits');
    // The expiry warning is a different one: nothing expires within 30 days here.
    expect(await page.locator('.cert-warning').count()).toBe(0);

    const legacyRow = rowOf('legacy.test');
    expect(await legacyRow.getAttribute('data-key-refused')).toBe('true');
    const badge = legacyRow.locator('.cert-key-badge');
    expect(await badge.textContent()).toBe('replace key');
    expect(await badge.getAttribute('title')).toContain('1024-bit RSA key is too weak');
    expect(await rowOf('good.test').getAttribute('data-key-refused')).toBe('false');
    expect(await rowOf('good.test').locator('.cert-key-badge').count()).toBe(0);
    await screenshot(page, 'desktop-certificates-key-warning');
  });

  it('is gone from the page once the certificate is deleted', async () => {
    await rowOf('legacy.test')
      .getByRole('button', { name: /Delete the certificate for legacy.test/ })
      .click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await poll(() => rowOf('legacy.test').count()).toBe(0);
    expect(await page.locator('.cert-key-warning').count()).toBe(0);
    expect(await page.locator('.cert-key-badge').count()).toBe(0);
    expect(watch.takeFailures()).toEqual([]);
    expect(watch.unexpectedConsoleErrors()).toEqual([]);
    expect(watch.pageErrors).toEqual([]);
  });

  it('reads well on a phone with the warning shown', async () => {
    // Stored again for this check: the warning and the badge must fit a narrow screen.
    await storeDirectly('legacy2.test', legacyPair('legacy2.test'));
    const phone = await newContext(browser, 390, 844);
    const p = await phone.newPage();
    try {
      await p.goto(`${t.adminUrl}/sign-in?next=%2Fcertificates`);
      await p.getByLabel('Admin token').fill(TOKEN);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.waitForURL(/\/certificates$/);
      await p.locator('.cert-key-warning').waitFor();
      expect(await p.locator('tr[data-key-refused="true"] .cert-key-badge').count()).toBe(1);
      const overflow = await p.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow).toBeLessThanOrEqual(0);
      await screenshot(p, 'phone-certificates-key-warning');
    } finally {
      await phone.close();
    }
  });
});
