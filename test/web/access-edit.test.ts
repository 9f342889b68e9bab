import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  launchChromium,
  newContext,
  openPage,
  requireConsoleAndBrowser,
  skipAfterFirstFailure,
  type PageWatch,
  signIn,
} from '../helpers/browser.js';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// The Access tab keeps what it does not change (CORS methods, the JWT clock tolerance, the order of
// the auth methods), and the Consumers page renames, re-tags and adds Basic and JWT credentials to
// an existing consumer; driven by Chromium against a real isogate, checked through the admin API
// and with traffic through the gateway port.

const TOKEN = 'test-token-0123456789abcdef';
let t: TestGateway;
let ups: TestUpstream[];
let browser: Browser;
let context: BrowserContext;
let page: Page;
let watch: PageWatch;
let ordersId = '';
let globexId = '';

/** The access config set through the admin API before the tab is opened. */
const ACCESS = {
  auth: {
    methods: [
      { kind: 'jwt', algorithms: ['HS256'], clockToleranceSec: 5 },
      { kind: 'basic' },
      { kind: 'key', header: 'x-key' },
    ],
  },
  cors: { origins: ['https://app.example.com'], methods: ['GET', 'POST'] },
};

skipAfterFirstFailure();

beforeAll(async () => {
  requireConsoleAndBrowser();
  t = await startTestGateway();
  ups = await startUpstreams(['a']);
  ordersId = await createApi(t, { name: 'orders', path: '/orders/*', algorithm: 'round_robin' });
  await addNode(t, ordersId, ups[0]!);
  const billingId = await createApi(t, {
    name: 'billing',
    path: '/billing/*',
    algorithm: 'round_robin',
    access: { auth: { methods: [{ kind: 'basic' }, { kind: 'jwt', algorithms: ['HS256', 'RS256'] }] } },
  });
  await addNode(t, billingId, ups[0]!);
  globexId = (await t.admin('POST', '/admin/consumers', { name: 'globex', tags: ['beta'] })).body.id;
  expect((await t.admin('POST', '/admin/consumers', { name: 'initech' })).status).toBe(201);
  browser = await launchChromium();
  context = await newContext(browser, 1280, 900);
  ({ page, watch } = await openPage(context));
  await signIn(page, t.adminUrl, TOKEN);
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 50 });
const errorOf = (scope: Locator, label: string | RegExp) =>
  scope
    .locator('.field')
    .filter({ has: typeof label === 'string' ? page.getByLabel(label, { exact: true }) : page.getByLabel(label) })
    .locator('.field-error')
    .first();
const storedAccess = async () => (await t.admin('GET', `/admin/apis/${ordersId}`)).body.access;
const methodOrder = (form: Locator) =>
  form.locator('li.auth-method').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.kind));

describe('console: access fields the form used to reset, and editing consumers', () => {
  it('keeps CORS methods, the JWT clock tolerance and the method order when an unrelated field is saved', async () => {
    expect((await t.admin('PATCH', `/admin/apis/${ordersId}`, { access: ACCESS })).status).toBe(200);
    const before = await storedAccess();
    expect(before.auth.methods.map((m: { kind: string }) => m.kind)).toEqual(['jwt', 'basic', 'key']);

    await page.goto(`${t.adminUrl}/apis/${ordersId}/access`);
    const form = page.locator('form.access-form');
    await form.getByLabel('Preflight max age (s)').waitFor();
    expect(await methodOrder(form)).toEqual(['jwt', 'basic', 'key']);
    expect(await form.getByLabel('Clock tolerance (s)').inputValue()).toBe('5');
    const corsMethods = form.getByRole('group', { name: 'Methods allowed' });
    expect(await corsMethods.getByLabel('POST', { exact: true }).isChecked()).toBe(true);
    expect(await corsMethods.getByLabel('PUT', { exact: true }).isChecked()).toBe(false);

    await form.getByLabel('Preflight max age (s)').fill('120');
    await form.getByRole('button', { name: 'Save access' }).click();
    await page.locator('.toast').filter({ hasText: 'Access of orders saved' }).waitFor();
    expect(await storedAccess()).toEqual({ ...before, cors: { ...before.cors, maxAgeSec: 120 } });
    expect(watch.takeFailures()).toEqual([]);
  });

  it('moves a method up, edits the tolerance and CORS methods, with the admin API’s errors at their fields', async () => {
    const form = page.locator('form.access-form');
    await form.getByRole('button', { name: 'Move API key up' }).click();
    await form.getByRole('button', { name: 'Move API key up' }).click();
    expect(await methodOrder(form)).toEqual(['key', 'jwt', 'basic']);
    await form.getByLabel('Clock tolerance (s)').fill('301');
    await form.getByRole('button', { name: 'Save access' }).click();
    await poll(() => errorOf(form, 'Clock tolerance (s)').textContent()).toMatch(/300/);
    expect(watch.takeFailures()).toEqual([`PATCH /admin/apis/${ordersId} 400`]);
    expect((await storedAccess()).auth.methods[0].kind).toBe('jwt');

    await form.getByLabel('Clock tolerance (s)').fill('10');
    expect(await form.getByLabel('Longest token lifetime (s)').inputValue()).toBe('');
    await form.getByLabel('Longest token lifetime (s)').fill('3600');
    const corsMethods = form.getByRole('group', { name: 'Methods allowed' });
    await corsMethods.getByLabel('POST', { exact: true }).uncheck();
    await corsMethods.getByLabel('DELETE', { exact: true }).check();
    await form.getByRole('button', { name: 'Save access' }).click();
    await poll(async () => (await storedAccess()).auth.methods[0].kind).toBe('key');
    const after = await storedAccess();
    expect(after.auth.methods).toEqual([
      { kind: 'key', header: 'x-key', query: null },
      expect.objectContaining({ kind: 'jwt', algorithms: ['HS256'], clockToleranceSec: 10, maxLifetimeSec: 3600 }),
      { kind: 'basic' },
    ]);
    expect(after.cors).toMatchObject({ methods: ['GET', 'DELETE'], maxAgeSec: 120 });
    // The tab shows what was stored: the new order after the save.
    expect(await methodOrder(page.locator('form.access-form'))).toEqual(['key', 'jwt', 'basic']);
    expect(watch.takeFailures()).toEqual([]);
  });

  it('renames and re-tags a consumer, with a bad name and a taken one shown at the Name field', async () => {
    await page.goto(t.adminUrl + '/consumers');
    await page.getByRole('button', { name: 'Edit globex' }).click();
    const dialog = page.locator('dialog.modal');
    await dialog.getByLabel(/^Name/).fill('bad name!');
    await dialog.getByRole('button', { name: 'Save consumer' }).click();
    await poll(() => errorOf(dialog, /^Name/).textContent()).not.toBe('');
    await dialog.getByLabel(/^Name/).fill('INITECH');
    await dialog.getByRole('button', { name: 'Save consumer' }).click();
    await poll(() => errorOf(dialog, /^Name/).textContent()).toMatch(/already exists/);
    expect(watch.takeFailures()).toEqual([
      `PATCH /admin/consumers/${globexId} 400`,
      `PATCH /admin/consumers/${globexId} 409`,
    ]);

    await dialog.getByLabel(/^Name/).fill('globex-corp');
    await dialog.getByLabel('Tags').fill('gold, paying');
    await dialog.getByRole('button', { name: 'Save consumer' }).click();
    const row = page.locator('tr[data-consumer="globex-corp"]');
    await poll(() => row.locator('.chip').allTextContents()).toEqual(['gold', 'paying']);
    expect(await page.locator('dialog.modal').count()).toBe(0);
    expect((await t.admin('GET', `/admin/consumers/${globexId}`)).body).toMatchObject({
      name: 'globex-corp',
      tags: ['gold', 'paying'],
    });
  });

  it('adds a Basic login and JWT credentials (generated secret, public key) that the gateway accepts', async () => {
    const dialog = page.locator('dialog.modal');
    const row = page.locator('tr[data-consumer="globex-corp"]');
    const open = () => page.getByRole('button', { name: 'Add a credential to globex-corp' }).click();

    await open();
    await dialog.getByLabel('HTTP Basic login').check();
    await dialog.getByLabel(/^Username/).fill('gx');
    await dialog.getByLabel(/^Password/).fill('short');
    await dialog.getByRole('button', { name: 'Add credential' }).click();
    await poll(() => errorOf(dialog, /^Password/).textContent()).toMatch(/8/);
    await dialog.getByLabel(/^Password/).fill('correct horse battery');
    await dialog.getByRole('button', { name: 'Add credential' }).click();
    await poll(() => row.textContent()).toContain('Basic user gx');
    expect(await page.locator('.secrets').count()).toBe(0);
    const basic = `Basic ${Buffer.from('gx:correct horse battery').toString('base64')}`;
    expect((await t.get('/billing/x', { headers: { authorization: basic } })).status).toBe(200);

    await open();
    await dialog.getByLabel('JWT', { exact: true }).check();
    await dialog.getByLabel(/^Subject/).fill('gx-hs');
    await dialog.getByLabel('My own HS secret').check();
    await dialog.getByLabel('HS secret', { exact: true }).fill('too short');
    await dialog.getByRole('button', { name: 'Add credential' }).click();
    await poll(() => errorOf(dialog, 'HS secret').textContent()).toMatch(/32/);
    await dialog.getByLabel('Generate an HS secret').check();
    await dialog.getByRole('button', { name: 'Add credential' }).click();
    const shown = page.locator('.secrets code.secret');
    await shown.first().waitFor();
    const secret = (await shown.first().textContent()) ?? '';
    expect(secret.length).toBeGreaterThanOrEqual(32);
    await poll(() => row.textContent()).toContain('JWT subject gx-hs (HS secret)');
    const hsToken = await new SignJWT({ sub: 'gx-hs' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secret));
    expect((await t.get('/billing/x', { headers: { authorization: `Bearer ${hsToken}` } })).status).toBe(200);
    await page.getByRole('button', { name: 'I have copied them' }).click();

    const rsa = await generateKeyPair('RS256');
    await open();
    await dialog.getByLabel('JWT', { exact: true }).check();
    await dialog.getByLabel(/^Subject/).fill('gx-rsa');
    await dialog.getByLabel('Public key (RS, PS or ES)').check();
    await dialog.getByLabel('Public key (PEM)').fill('not a key');
    await dialog.getByRole('button', { name: 'Add credential' }).click();
    await poll(() => errorOf(dialog, 'Public key (PEM)').textContent()).toMatch(/PEM/);
    await dialog.getByLabel('Public key (PEM)').fill(await exportSPKI(rsa.publicKey));
    await dialog.getByRole('button', { name: 'Add credential' }).click();
    await poll(() => row.textContent()).toContain('JWT subject gx-rsa (public key)');
    expect(await page.locator('.secrets').count()).toBe(0);
    const rsToken = await new SignJWT({ sub: 'gx-rsa' })
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime('5m')
      .sign(rsa.privateKey);
    expect((await t.get('/billing/x', { headers: { authorization: `Bearer ${rsToken}` } })).status).toBe(200);
    expect(watch.takeFailures()).toEqual([
      `POST /admin/consumers/${globexId}/credentials 400`,
      `POST /admin/consumers/${globexId}/credentials 400`,
      `POST /admin/consumers/${globexId}/credentials 400`,
    ]);

    // The generated secret is never shown again.
    await page.reload();
    await page.locator('tr[data-consumer="globex-corp"]').waitFor();
    expect(await page.content()).not.toContain(secret);
    expect(watch.unexpectedConsoleErrors()).toEqual([]);
    expect(watch.pageErrors).toEqual([]);
  });
});
