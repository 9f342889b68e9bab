import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  launchChromium,
  newContext,
  requireConsoleAndBrowser,
  screenshot,
  openPage,
  type PageWatch,
} from '../helpers/browser.js';
import { TestCa, type TestCertificate } from '../helpers/certs.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { handshake } from '../helpers/tls-client.js';

// The console's Certificates page in Chromium against a real isogate with its TLS port: upload through
// the form (a refused pair shown next to its field), the expiry warning, the default, delete; each
// change checked on the TLS port itself.
const TOKEN = 'test-token-0123456789abcdef';
let t: TestGateway;
let ca: TestCa;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let watch: PageWatch;
const c: Record<string, TestCertificate> = {};

beforeAll(async () => {
  requireConsoleAndBrowser();
  ca = new TestCa();
  c.shop = ca.issue(['shop.test', '*.shop.test']);
  c.soon = ca.issue(['soon.test'], 10);
  c.other = ca.issue(['other.test']);
  t = await startTestGateway(['--gateway-tls-port', '0']);
  browser = await launchChromium();
  context = await newContext(browser, 1280, 800);
  ({ page, watch } = await openPage(context));
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await t?.stop();
  ca?.dispose();
});

const tlsPort = () => t.app.gatewayTls!.port;
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 50 });
const form = () => page.locator('form.cert-form');
const errorOf = (label: string | RegExp) =>
  form()
    .locator('.field')
    .filter({ has: page.getByLabel(label) })
    .locator('.field-error')
    .first();
const rowOf = (name: string) => page.locator('tr[data-certificate]').filter({ hasText: name });
const idOf = async (name: string) => (await rowOf(name).getAttribute('data-certificate'))!;

async function fill(cert: string, key: string): Promise<void> {
  await form().getByLabel('Certificate chain (PEM)').fill(cert);
  await form().getByLabel('Private key (PEM, unencrypted)').fill(key);
}

describe('console: certificates', () => {
  it('signs in and shows that no certificate exists yet', async () => {
    await page.goto(`${t.adminUrl}/certificates`);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/certificates$/);
    await page.getByRole('heading', { name: 'No certificates yet' }).waitFor();
    expect(
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Certificates' })
        .getAttribute('aria-current'),
    ).toBe('page');
  });

  it('shows a refused upload next to its field and stores nothing', async () => {
    await fill(c.shop!.certificate, c.other!.privateKey);
    await form().getByRole('button', { name: 'Upload' }).click();
    await poll(() => errorOf('Private key (PEM, unencrypted)').textContent()).toMatch(
      /does not belong to the certificate/,
    );
    expect(watch.takeFailures()).toEqual(['POST /admin/certificates 400']);
    expect((await t.admin('GET', '/admin/certificates')).body).toEqual([]);
    await screenshot(page, 'desktop-certificates-error');
  });

  it('uploads certificates that serve the next handshake, lists names and expiry, and warns of one expiring within 30 days', async () => {
    await fill(c.shop!.certificate, c.shop!.privateKey);
    await form().getByRole('button', { name: 'Upload' }).click();
    await rowOf('shop.test').waitFor();
    expect(await form().getByLabel('Private key (PEM, unencrypted)').inputValue()).toBe('');
    expect((await handshake(tlsPort(), 'a.shop.test')).san).toBe('DNS:shop.test, DNS:*.shop.test');
    expect(await rowOf('shop.test').locator('.cert-names').textContent()).toBe('shop.test, *.shop.test');
    expect(await rowOf('shop.test').locator('.cert-default').textContent()).toBe('default (oldest)');
    await expect.poll(() => page.locator('.cert-warning').count()).toBe(0);

    await fill(c.soon!.certificate, c.soon!.privateKey);
    await form().getByRole('button', { name: 'Upload' }).click();
    await rowOf('soon.test').waitFor();
    const warning = page.locator('.cert-warning');
    await poll(() => warning.textContent()).toMatch(/1 certificate expires within 30 days/);
    expect(await warning.textContent()).toContain('soon.test');
    expect(await rowOf('soon.test').locator('.cert-expiry').textContent()).toMatch(/expires in (9|10) days/);
    expect(await rowOf('soon.test').getAttribute('data-expiring-soon')).toBe('true');
    expect(await rowOf('shop.test').locator('.cert-expiry').textContent()).toMatch(/expires in 36[45] days/);
    // No private key is anywhere in the page.
    const html = await page.content();
    for (const cert of Object.values(c)) expect(html).not.toContain(cert.privateKey.split('\n')[1]!);
    await screenshot(page, 'desktop-certificates');
  });

  it('makes another certificate the default, which clients without a matching name then get', async () => {
    expect((await handshake(tlsPort(), 'unknown.test')).san).toBe('DNS:shop.test, DNS:*.shop.test');
    await rowOf('soon.test').getByRole('button', { name: 'Make default' }).click();
    await poll(() => rowOf('soon.test').locator('.cert-default').textContent()).toBe('default');
    expect(await rowOf('shop.test').locator('.cert-default').count()).toBe(0);
    expect((await handshake(tlsPort(), 'unknown.test')).san).toBe('DNS:soon.test');
  });

  it('replaces a certificate in place: the renewed chain serves the next handshake, never a gap', async () => {
    const renewed = ca.issue(['soon.test', 'www.soon.test'], 90);
    const before = (await handshake(tlsPort(), 'soon.test')).fingerprint;
    await rowOf('soon.test')
      .getByRole('button', { name: /Replace the certificate for soon.test/ })
      .click();
    await page.getByRole('heading', { name: 'Replace the certificate for soon.test' }).waitFor();
    expect(await form().getByLabel('Default certificate').isChecked()).toBe(true);
    // A refused replacement keeps the stored one serving.
    await fill(renewed.certificate, c.other!.privateKey);
    await form().getByRole('button', { name: 'Replace' }).click();
    await poll(() => errorOf('Private key (PEM, unencrypted)').textContent()).toMatch(
      /does not belong to the certificate/,
    );
    expect(watch.takeFailures()).toEqual([`PUT /admin/certificates/${await idOf('soon.test')} 400`]);
    expect((await handshake(tlsPort(), 'soon.test')).fingerprint).toBe(before);

    await fill(renewed.certificate, renewed.privateKey);
    await form().getByRole('button', { name: 'Replace' }).click();
    await poll(() => rowOf('www.soon.test').locator('.cert-names').textContent()).toBe('soon.test, www.soon.test');
    await page.getByRole('heading', { name: 'Upload a certificate' }).waitFor();
    expect(await page.locator('tr[data-certificate]').count()).toBe(2);
    expect(await rowOf('www.soon.test').locator('.cert-default').textContent()).toBe('default');
    expect(await rowOf('www.soon.test').getAttribute('data-expiring-soon')).toBe('false');
    await expect.poll(() => page.locator('.cert-warning').count()).toBe(0);
    const after = await handshake(tlsPort(), 'www.soon.test');
    expect(after.san).toBe('DNS:soon.test, DNS:www.soon.test');
    expect(after.fingerprint).not.toBe(before);
    expect(watch.takeFailures()).toEqual([]);
    c.soon = renewed;
  });

  it('deletes a certificate after a confirmation', async () => {
    await rowOf('shop.test')
      .getByRole('button', { name: /Delete the certificate for shop.test/ })
      .click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await poll(() => rowOf('shop.test').count()).toBe(0);
    expect((await handshake(tlsPort(), 'a.shop.test')).san).toBe('DNS:soon.test, DNS:www.soon.test');
    expect(watch.takeFailures()).toEqual([]);
    expect(watch.unexpectedConsoleErrors()).toEqual([]);
    expect(watch.pageErrors).toEqual([]);
  });

  it('reads well on a phone', async () => {
    const phone = await newContext(browser, 390, 844);
    const p = await phone.newPage();
    await p.goto(`${t.adminUrl}/sign-in?next=%2Fcertificates`);
    await p.getByLabel('Admin token').fill(TOKEN);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.waitForURL(/\/certificates$/);
    await p.locator('tr[data-certificate]').first().waitFor();
    const overflow = await p.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(p, 'phone-certificates');
    await phone.close();
  });
});
