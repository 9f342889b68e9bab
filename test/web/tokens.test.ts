import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  newContext,
  openDesktopPage,
  requireConsoleAndBrowser,
  screenshot,
  skipAfterFirstFailure,
  openPage,
  type PageWatch,
  signIn,
} from '../helpers/browser.js';
import { addNode, createApi } from '../helpers/fixtures.js';
import { spread, startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// The console's Admin tokens page and the impact dialog of an API delete, driven by Chromium against
// a real isogate: an admin makes a named token and sees its secret once, the token signs in elsewhere
// with its role, a viewer gets no tokens page, revoking ends a token's sessions (one's own too), and
// deleting an API shows what it would do first. The tests run in order and share one page.

const ADMIN_TOKEN = 'test-token-0123456789abcdef';

let t: TestGateway;
let ups: TestUpstream[];
let browser: Browser;
let context: BrowserContext;
let page: Page;
let watch: PageWatch;
let other: BrowserContext | undefined;
let otherPage: Page;
let nightShift = '';

beforeAll(async () => {
  requireConsoleAndBrowser();
  t = await startTestGateway();
  ups = await startUpstreams(['a']);
  const doomed = await createApi(t, { name: 'doomed', path: '/doomed/*', algorithm: 'round_robin' });
  await addNode(t, doomed, ups[0]!);
  ({ browser, context, page, watch } = await openDesktopPage());
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.adminUrl });
}, 60_000);

skipAfterFirstFailure();

afterAll(async () => {
  await other?.close();
  await context?.close();
  await browser?.close();
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

const url = (path: string) => t.adminUrl + path;
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 50 });
const toast = (p: Page, text: string | RegExp) => p.locator('.toast').filter({ hasText: text }).first();
const navLink = (p: Page, name: string) =>
  p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
const tokenNames = async () => (await t.admin('GET', '/admin/tokens')).body.map((x: { name: string }) => x.name);

describe('console: admin tokens', () => {
  it('makes a named token and shows its secret once, with a copy button', async () => {
    await signIn(page, t.adminUrl, ADMIN_TOKEN);
    await navLink(page, 'Tokens').click();
    await page.getByRole('heading', { name: 'Admin tokens', level: 1 }).waitFor();
    await page.getByText('No named tokens yet.').waitFor();

    await page.getByRole('textbox', { name: 'Name' }).fill('night-shift');
    await page.getByRole('combobox', { name: 'Role' }).selectOption('operator');
    await page.getByRole('button', { name: 'Create token' }).click();
    const box = page.locator('.token-secret');
    await box.waitFor();
    nightShift = (await box.locator('code.secret').textContent()) ?? '';
    expect(nightShift).toMatch(/^isg_[A-Za-z0-9_-]{43}$/);
    expect(await box.textContent()).toContain('Copy the secret of night-shift now: it will not be shown again.');
    await box.getByRole('button', { name: 'Copy the secret of night-shift' }).click();
    await toast(page, 'Copied to the clipboard.').waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(nightShift);

    const row = page.locator('tr[data-token="night-shift"]');
    await poll(() => row.locator('.token-role').textContent()).toBe('operator');
    expect(await row.locator('.token-created').textContent()).toBe('just now by admin-token');
    await screenshot(page, 'desktop-tokens');

    // Dismissed or reloaded, the secret is gone from the page for good; the list never had it.
    await box.getByRole('button', { name: 'I have copied it' }).click();
    expect(await page.locator('.token-secret').count()).toBe(0);
    await page.reload();
    await row.waitFor();
    expect(await page.content()).not.toContain(nightShift);
    expect(JSON.stringify((await t.admin('GET', '/admin/tokens')).body)).not.toContain(nightShift);
  });

  it('fits the page and a new secret on a 390-px wide screen without sideways scrolling', async () => {
    const narrow = await newContext(browser, 390, 844);
    try {
      const { page: phone, watch: phoneWatch } = await openPage(narrow);
      await signIn(phone, t.adminUrl, ADMIN_TOKEN);
      await phone.goto(url('/tokens'));
      await phone.getByRole('textbox', { name: 'Name' }).fill('phone');
      await phone.getByRole('button', { name: 'Create token' }).click();
      await phone.locator('.token-secret').waitFor();
      await phone.locator('tr[data-token="phone"]').waitFor();
      expect(await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(
        0,
      );
      await screenshot(phone, 'narrow-tokens');
      expect(phoneWatch.pageErrors).toEqual([]);
      expect(phoneWatch.failures).toEqual([]);
    } finally {
      await narrow.close();
    }
    const phoneToken = (await t.admin('GET', '/admin/tokens')).body.find((x: { name: string }) => x.name === 'phone');
    expect(phoneToken.role).toBe('viewer');
    expect((await t.admin('DELETE', `/admin/tokens/${phoneToken.id}`)).status).toBe(204);
  });

  it('says at the name field when the name is taken, and makes nothing', async () => {
    await page.getByRole('textbox', { name: 'Name' }).fill('Night-Shift');
    await page.getByRole('button', { name: 'Create token' }).click();
    await poll(() => page.locator('.field[data-path="name"] .field-error').textContent()).toBe(
      'Another admin token has this name (names are unique regardless of case).',
    );
    expect(await page.locator('.token-secret').count()).toBe(0);
    expect(await tokenNames()).toEqual(['night-shift']);
    expect(watch.takeFailures()).toEqual(['POST /admin/tokens 409']);
  });

  it('signs in with the new token in another browser context, which shows its role and no tokens page', async () => {
    other = await newContext(browser, 1280, 800);
    ({ page: otherPage } = await openPage(other));
    await signIn(otherPage, t.adminUrl, nightShift);
    await poll(() => otherPage.locator('.topbar .who').textContent()).toBe('night-shift · operator');
    expect(await navLink(otherPage, 'Audit').isVisible()).toBe(true);
    expect(await navLink(otherPage, 'Tokens').count()).toBe(0);
  });

  it('gives a viewer no tokens link, and the page says it needs the admin role', async () => {
    const viewer = (await t.admin('POST', '/admin/tokens', { name: 'viewer-bot', role: 'viewer' })).body.secret;
    const ctx = await newContext(browser, 1280, 800);
    try {
      const { page: p, watch: w } = await openPage(ctx);
      await signIn(p, t.adminUrl, viewer);
      await poll(() => p.locator('.topbar .who').textContent()).toBe('viewer-bot · viewer');
      expect(await navLink(p, 'Tokens').count()).toBe(0);
      await p.goto(url('/tokens'));
      const notice = p.locator('.needs-admin');
      await notice.waitFor();
      expect(await notice.textContent()).toBe(
        'This page needs the admin role. Needs the admin role; you are signed in as viewer-bot (viewer).' +
          'Ask an admin for a token with more rights, or sign in with one.',
      );
      expect(await p.getByRole('button', { name: 'Create token' }).count()).toBe(0);
      // The page asked nothing it would be refused.
      expect(w.failures).toEqual([]);
      expect(w.pageErrors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });

  it('revokes a token after a confirmation; its sessions go back to sign-in', async () => {
    await page.reload();
    const row = page.locator('tr[data-token="night-shift"]');
    await row.getByRole('button', { name: 'Revoke token night-shift' }).click();
    const dialog = page.getByRole('dialog');
    await poll(() => dialog.getByRole('heading').textContent()).toBe('Revoke the token “night-shift”?');
    expect(await dialog.locator('.token-self-warning').count()).toBe(0);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await tokenNames()).toContain('night-shift');

    await row.getByRole('button', { name: 'Revoke token night-shift' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click();
    await toast(page, 'Token night-shift revoked.').waitFor();
    await poll(() => row.count()).toBe(0);
    expect(await tokenNames()).toEqual(['viewer-bot']);

    await navLink(otherPage, 'Variables').click();
    await otherPage.waitForURL(/\/sign-in\?expired=1&next=%2Fvariables$/);
  });

  it('warns when revoking the token this tab is signed in with, then signs out', async () => {
    const own = (await t.admin('POST', '/admin/tokens', { name: 'ops-admin', role: 'admin' })).body.secret;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, t.adminUrl, own);
    await navLink(page, 'Tokens').click();
    const row = page.locator('tr[data-token="ops-admin"]');
    expect(await row.locator('.token-self').textContent()).toBe('you');
    expect(await page.locator('tr[data-token="viewer-bot"] .token-self').count()).toBe(0);
    await row.getByRole('button', { name: 'Revoke token ops-admin' }).click();
    const dialog = page.getByRole('dialog');
    await poll(() => dialog.locator('.token-self-warning').textContent()).toBe(
      'This is the token you are signed in with: this tab is signed out once it is revoked.',
    );
    await dialog.getByRole('button', { name: 'Revoke token' }).click();
    await page.waitForURL(/\/sign-in$/);
    await toast(page, 'Token ops-admin revoked; you are signed out.').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('isogate.token'))).toBeNull();
    expect(await tokenNames()).toEqual(['viewer-bot']);
  });

  it('shows what deleting an API would do before deleting it', async () => {
    await signIn(page, t.adminUrl, ADMIN_TOKEN);
    const row = page.locator('tr[data-api="doomed"]');
    await row.getByRole('button', { name: 'Delete API doomed' }).click();
    const dialog = page.getByRole('dialog');
    await poll(() => dialog.locator('.impact-line').allTextContents()).toEqual([
      'deletes doomed: its route answers ROUTE_NOT_FOUND.',
    ]);
    expect(await dialog.getByRole('heading').textContent()).toBe('Delete the API “doomed”?');
    expect(await dialog.locator('.confirm-message').textContent()).toBe(
      'Its node is deleted with it. Requests to /doomed/* get ROUTE_NOT_FOUND (404) from the next request on.' +
        'deletes doomed: its route answers ROUTE_NOT_FOUND.',
    );
    await screenshot(page, 'desktop-api-delete-impact', { fullPage: false });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await spread(t, '/doomed/x', 2)).toEqual({ a: 2 });

    await row.getByRole('button', { name: 'Delete API doomed' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete API' }).click();
    await toast(page, 'API doomed deleted. Impact: deletes doomed: its route answers ROUTE_NOT_FOUND.').waitFor();
    await poll(() => row.count()).toBe(0);
    expect(await spread(t, '/doomed/x', 1)).toEqual({ 'error:ROUTE_NOT_FOUND': 1 });
  });

  it('logged no console errors and threw no page errors along the way', () => {
    expect(watch.pageErrors).toEqual([]);
    expect(watch.unexpectedConsoleErrors()).toEqual([]);
    expect(watch.takeFailures()).toEqual([]);
  });
});
