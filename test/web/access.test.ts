import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import {
  launchChromium,
  newContext,
  requireConsoleAndBrowser,
  screenshot,
  openPage,
  type PageWatch,
  signIn,
} from '../helpers/browser.js';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// The console's Consumers page, an API's Access tab and the access step of the test panel, driven by
// Chromium through the forms against a real isogate; traffic goes through the gateway port.

const TOKEN = 'test-token-0123456789abcdef';
let t: TestGateway;
let ups: TestUpstream[];
let browser: Browser;
let context: BrowserContext;
let page: Page;
let watch: PageWatch;
let apiId = '';
let secret = '';

beforeAll(async () => {
  requireConsoleAndBrowser();
  t = await startTestGateway();
  ups = await startUpstreams(['a']);
  apiId = await createApi(t, { name: 'orders', path: '/orders/*', algorithm: 'round_robin' });
  await addNode(t, apiId, ups[0]!);
  browser = await launchChromium();
  context = await newContext(browser, 1280, 900);
  ({ page, watch } = await openPage(context));
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

const url = (path: string) => t.adminUrl + path;
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 50 });
const errorOf = (scope: Page | Locator, label: string | RegExp) =>
  scope
    .locator('.field')
    .filter({ has: typeof label === 'string' ? page.getByLabel(label, { exact: true }) : page.getByLabel(label) })
    .locator('.field-error')
    .first();

describe('console: consumers and access', () => {
  it('creates a consumer: errors at their fields, the generated key shown once, then masked', async () => {
    await signIn(page, t.adminUrl, TOKEN);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Consumers', exact: true }).click();
    await page.getByRole('heading', { name: 'Consumers', level: 1 }).waitFor();
    const form = page.locator('form.consumer-form');
    await form.getByLabel(/^Name/).fill('bad name!');
    await form.getByLabel('Basic username').fill('acme');
    await form.getByLabel('Basic password').fill('short');
    await form.getByRole('button', { name: 'Create consumer' }).click();
    await poll(() => errorOf(form, /^Name/).textContent()).not.toBe('');
    await poll(() => errorOf(form, 'Basic password').textContent()).toMatch(/8/);
    expect(watch.takeFailures()).toEqual(['POST /admin/consumers 400']);

    await form.getByLabel(/^Name/).fill('acme');
    await form.getByLabel('Tags', { exact: true }).fill('beta, gold');
    await form.getByLabel('Basic password').fill('correct horse battery');
    await form.getByRole('button', { name: 'Create consumer' }).click();
    const shown = page.locator('.secrets code.secret');
    await shown.first().waitFor();
    secret = (await shown.first().textContent()) ?? '';
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = page.locator('tr[data-consumer="acme"]');
    await poll(() => row.textContent()).toContain(`API key …${secret.slice(-4)}`);
    expect(await row.textContent()).toContain('Basic user acme');
    await screenshot(page, 'desktop-consumers');

    await page.reload();
    await page.locator('tr[data-consumer="acme"]').waitFor();
    expect(await page.locator('.secrets').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
  });

  it('sets authentication, a limit and IP lists in the Access tab, errors at their fields, and traffic follows', async () => {
    await page.goto(url(`/apis/${apiId}/access`));
    const form = page.locator('form.access-form');
    await form.getByLabel('Require authentication').check();
    await form.getByLabel('API key', { exact: true }).check();
    await form.getByRole('button', { name: 'Add a limit' }).click();
    await form.getByLabel('Requests', { exact: true }).fill('0');
    await form.getByLabel('Deny', { exact: true }).fill('nonsense');
    await form.getByRole('button', { name: 'Save access' }).click();
    await poll(() => errorOf(form, 'Requests').textContent()).toMatch(/at least 1/i);
    await poll(() => errorOf(form, 'Deny').textContent()).toContain('not an IP address or CIDR');
    expect(watch.takeFailures()).toEqual([`PATCH /admin/apis/${apiId} 400`]);
    expect((await t.get('/orders/x')).status).toBe(200);

    await form.getByLabel('Requests', { exact: true }).fill('100');
    await form.getByLabel('Deny', { exact: true }).fill('203.0.113.0/24');
    await form.getByRole('button', { name: 'Save access' }).click();
    await page.locator('.toast').filter({ hasText: 'Access of orders saved' }).waitFor();
    const stored = (await t.admin('GET', `/admin/apis/${apiId}`)).body.access;
    expect(stored).toMatchObject({
      auth: { methods: [{ kind: 'key', header: 'x-api-key', query: null }] },
      limits: [{ by: 'consumer', rate: 100, per: 'minute', policy: 'local' }],
      ip: { allow: [], deny: ['203.0.113.0/24'] },
      cors: null,
    });
    expect((await t.get('/orders/x')).status).toBe(401);
    expect((await t.get('/orders/x', { headers: { 'x-api-key': secret } })).status).toBe(200);
    await screenshot(page, 'desktop-access', { fullPage: true });
  });

  it('shows the access decision in the test panel, with the consumer the sample credentials name', async () => {
    await page.goto(url(`/apis/${apiId}/selector`));
    const test = page.locator('.test-panel');
    await test.getByLabel('Headers', { exact: true }).fill(`x-api-key: ${secret}`);
    await test.getByRole('button', { name: 'Run test' }).click();
    await poll(() => test.locator('[data-access="auth"]').textContent()).toContain(
      'consumer acme (tags beta, gold) by key',
    );
    await poll(() => test.locator('[data-access="limit"]').textContent()).toContain('100/minute');
    await poll(() => test.locator('[data-step="pick"] .pick-name').textContent()).toBe('a');

    await test.getByLabel('Headers', { exact: true }).fill('');
    await test.getByRole('button', { name: 'Run test' }).click();
    await poll(() => test.locator('.access-explanation .step-count').textContent()).toBe('AUTH_REQUIRED');
    await poll(() => test.locator('.outcome').textContent()).toContain('AUTH_REQUIRED');
    expect(watch.takeFailures()).toEqual([]);
  });
});
