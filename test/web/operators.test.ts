import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  newContext,
  openDesktopPage,
  requireConsoleAndBrowser,
  screenshot,
  skipAfterFirstFailure,
  watchPage,
  type PageWatch,
  signIn,
} from '../helpers/browser.js';
import { spread, startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// What an operator needs on a bad night (issue 17), driven through the console in Chromium against a
// real isogate and real upstreams: the impact of a flip, a tick or a rules edit before it applies, the
// outage banner and the API's own error rate by code, the audit log with revert, and roles (a viewer
// cannot flip; an operator can flip but not edit a selector). The tests run in order and share one page.

const ADMIN_TOKEN = 'test-token-0123456789abcdef';

let t: TestGateway;
let ups: TestUpstream[];
let browser: Browser;
let context: BrowserContext;
let page: Page;
let watch: PageWatch;
const ids: Record<string, string> = {};
const secrets: Record<string, string> = {};

beforeAll(async () => {
  requireConsoleAndBrowser();
  t = await startTestGateway();
  ups = await startUpstreams(['ip1-a', 'ip2-a', 'ip1-b']);
  const up = (name: string) => ups.find((u) => u.name === name)!.url;
  for (const name of ['IP1_enable', 'IP2_enable']) await t.admin('PUT', `/admin/variables/${name}`, { value: 'true' });
  ids.demo = (
    await t.admin('POST', '/admin/apis', { name: 'demo', path: '/demo/*', algorithm: 'round_robin' })
  ).body.id;
  ids.sticky = (
    await t.admin('POST', '/admin/apis', { name: 'sticky', path: '/sticky/*', algorithm: 'ip_hash' })
  ).body.id;
  const rule = (v: string) => [{ variable: v, op: 'eq', value: 'true' }];
  await t.admin('POST', `/admin/apis/${ids.demo}/nodes`, {
    name: 'ip1-a',
    connector: { kind: 'simple-url', url: up('ip1-a') },
    rules: rule('IP1_enable'),
  });
  await t.admin('POST', `/admin/apis/${ids.demo}/nodes`, {
    name: 'ip2-a',
    connector: { kind: 'simple-url', url: up('ip2-a') },
    rules: rule('IP2_enable'),
  });
  ids.ip1b = (
    await t.admin('POST', `/admin/apis/${ids.sticky}/nodes`, {
      name: 'ip1-b',
      connector: { kind: 'simple-url', url: up('ip1-b') },
      rules: rule('IP1_enable'),
    })
  ).body.id;
  for (const role of ['viewer', 'operator'])
    secrets[role] = (await t.admin('POST', '/admin/tokens', { name: `${role}-bot`, role })).body.secret;
  ({ browser, context, page, watch } = await openDesktopPage());
});

skipAfterFirstFailure();

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

const url = (path: string) => t.adminUrl + path;
const toast = (text: string | RegExp) => page.locator('.toast').filter({ hasText: text }).first();
const navLink = (name: string) =>
  page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 50 });
const variable = async (name: string) => (await t.admin('GET', `/admin/variables/${name}`)).body.value;

describe('the console on a bad night', () => {
  it('shows who is signed in', async () => {
    await signIn(page, t.adminUrl, ADMIN_TOKEN);
    await poll(() => page.locator('.topbar .who').textContent()).toBe('admin-token · admin');
  });

  it('asks before a flip that leaves an API without a node, saying which, and applies nothing on cancel', async () => {
    await navLink('Variables').click();
    const sw = page.locator('tr[data-variable="IP1_enable"]').getByRole('switch', { name: 'IP1_enable' });
    await sw.click();
    const dialog = page.getByRole('dialog');
    await poll(() => dialog.getByRole('heading').textContent()).toBe('Set IP1_enable to false?');
    expect(await dialog.locator('.impact-loses').textContent()).toBe(
      'This leaves sticky with 0 nodes that take traffic (rules).',
    );
    expect(await dialog.locator('.impact-line').allTextContents()).toContain('demo: nodes that take traffic 2 → 1.');
    await screenshot(page, 'desktop-impact-confirm', { fullPage: false });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await poll(() => sw.isChecked()).toBe(true);
    expect(await variable('IP1_enable')).toBe('true');
    expect(await spread(t, '/sticky/x', 2)).toEqual({ 'ip1-b': 2 });

    // The same on a node's tick: unticking sticky's only node asks first.
    await page.goto(url(`/apis/${ids.sticky}/nodes`));
    await page.getByRole('checkbox', { name: 'Enabled: ip1-b' }).click();
    await poll(() => page.getByRole('dialog').locator('.impact-loses').textContent()).toBe(
      'This leaves sticky with 0 nodes that take traffic (unticked).',
    );
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await poll(() => page.getByRole('checkbox', { name: 'Enabled: ip1-b' }).isChecked()).toBe(true);
    expect((await t.admin('GET', `/admin/apis/${ids.sticky}/nodes/${ids.ip1b}`)).body.enabled).toBe(true);

    await navLink('Variables').click();
    await sw.click();
    await page.getByRole('dialog').getByRole('button', { name: 'Set IP1_enable to false' }).click();
    await toast(/IP1_enable is now false/).waitFor();
    expect(await variable('IP1_enable')).toBe('false');
    expect(await spread(t, '/sticky/x', 3)).toEqual({ 'error:RULES_EXCLUDED_ALL': 3 });
  });

  it('shows the outage: a banner with the reason on the API, its state in the list, its 503s by code in Traffic', async () => {
    await navLink('APIs').click();
    const sticky = page.locator('tr[data-api="sticky"]');
    await poll(() => sticky.locator('.api-state .badge').textContent()).toBe('Down: rules exclude all');
    expect(await page.locator('tr[data-api="demo"] .api-state .badge').textContent()).toBe('Takes traffic');
    // 2 served before the flip, 3 refused after it.
    await poll(() => sticky.locator('.api-errors').textContent()).toBe('60% errors');
    await screenshot(page, 'desktop-apis-outage');

    await sticky.getByRole('link', { name: 'sticky', exact: true }).click();
    const banner = page.locator('.outage-banner');
    await poll(() => banner.getAttribute('data-reason')).toBe('rules');
    expect(await banner.textContent()).toContain('This API takes no traffic.');
    expect(await banner.textContent()).toContain('IP1_enable = false');
    await screenshot(page, 'desktop-outage-banner');

    await page.getByRole('navigation', { name: 'API sections' }).getByRole('link', { name: 'Traffic' }).click();
    const totals = page.locator('table.api-totals');
    await poll(() => totals.locator('.traffic-errors-minute').first().textContent()).toBe('60%');
    expect(await totals.locator('li[data-code="RULES_EXCLUDED_ALL"]').textContent()).toMatch(
      /^RULES_EXCLUDED_ALL 3 — No node's rules hold/,
    );
    // The banner stays on every tab.
    expect(await page.locator('.outage-banner').count()).toBe(1);
    await screenshot(page, 'desktop-traffic-outage');
  });

  it('lists the flip in the audit log with who made it, and reverts it as a new write', async () => {
    await navLink('Audit').click();
    const first = page.locator('.audit-table tbody tr').first();
    await poll(() => first.locator('.audit-object').textContent()).toBe('IP1_enable');
    expect(await first.locator('.audit-actor').textContent()).toBe('admin-token');
    expect(await first.locator('.audit-fields').textContent()).toBe('value: true → false');
    const version = Number(await first.getAttribute('data-version'));
    await screenshot(page, 'desktop-audit');

    await first.getByRole('button', { name: `Revert version ${version}` }).click();
    const dialog = page.getByRole('dialog');
    await poll(() => dialog.getByRole('heading').textContent()).toBe(`Revert the write that made version ${version}?`);
    expect(await dialog.locator('.change-list li').allTextContents()).toEqual([
      'update variable IP1_enablevalue: false → true',
    ]);
    expect(await dialog.locator('.impact-line').allTextContents()).toContain('sticky: nodes that take traffic 0 → 1.');
    await dialog.getByRole('button', { name: 'Revert' }).click();
    await toast(`Reverted version ${version}`).waitFor();
    expect(await variable('IP1_enable')).toBe('true');
    expect(await spread(t, '/sticky/x', 2)).toEqual({ 'ip1-b': 2 });
    await poll(() => page.locator('.audit-table tbody tr').first().locator('.audit-cause').textContent()).toBe(
      `revert of version ${version}`,
    );
    expect(await page.locator('.audit-table tbody tr').first().getAttribute('data-version')).toBe(String(version + 1));

    // Restoring the version before the flip changes nothing now, and says so.
    await page
      .locator(`tr[data-version="${version - 1}"]`)
      .first()
      .getByRole('button', { name: `Restore version ${version - 1}` })
      .click();
    await toast(`The config is already as it was at version ${version - 1}.`).waitFor();
  });

  it('asks before a rules edit that leaves the API without a node, stores nothing on cancel and the edit on confirm', async () => {
    const stored = async () => (await t.admin('GET', `/admin/apis/${ids.sticky}/nodes/${ids.ip1b}`)).body.rules;
    const versionBefore = (await t.admin('GET', '/admin/config/version')).body;
    await page.goto(url(`/apis/${ids.sticky}/nodes`));
    await page.getByRole('button', { name: 'Edit node ip1-b' }).click();
    const form = page.getByRole('dialog', { name: 'Edit node ip1-b' });
    // sticky's only node: a rule that does not hold now leaves it with none.
    await form.getByLabel('Value', { exact: true }).fill('false');
    await poll(() => form.locator('.rule-state').textContent()).toBe('Does not hold now: IP1_enable is "true"');
    await form.getByRole('button', { name: 'Save node' }).click();
    const confirm = page.getByRole('dialog', { name: 'Save node ip1-b?' });
    await poll(() => confirm.locator('.impact-loses').textContent()).toBe(
      'This leaves sticky with 0 nodes that take traffic (rules).',
    );
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'detached' });
    expect(await stored()).toEqual([{ variable: 'IP1_enable', op: 'eq', value: 'true' }]);
    expect((await t.admin('GET', '/admin/config/version')).body).toEqual(versionBefore);
    expect(await spread(t, '/sticky/x', 2)).toEqual({ 'ip1-b': 2 });

    // The form is still open with the edit; saving again and confirming stores it.
    expect(await form.getByLabel('Value', { exact: true }).inputValue()).toBe('false');
    await form.getByRole('button', { name: 'Save node' }).click();
    await confirm.getByRole('button', { name: 'Save node' }).click();
    await toast(/Node ip1-b saved/).waitFor();
    expect(await stored()).toEqual([{ variable: 'IP1_enable', op: 'eq', value: 'false' }]);
    expect(await spread(t, '/sticky/x', 2)).toEqual({ 'error:RULES_EXCLUDED_ALL': 2 });
    await poll(() => page.locator('.outage-banner').getAttribute('data-reason')).toBe('rules');

    // Put the rule back for the tests after this one.
    await t.admin('PATCH', `/admin/apis/${ids.sticky}/nodes/${ids.ip1b}`, {
      rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }],
    });
    expect(await spread(t, '/sticky/x', 1)).toEqual({ 'ip1-b': 1 });
  });

  it('lets a viewer look but not flip', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, t.adminUrl, secrets.viewer!);
    await poll(() => page.locator('.topbar .who').textContent()).toBe('viewer-bot · viewer');
    expect(await page.getByRole('link', { name: 'New API' }).count()).toBe(0);
    await navLink('Variables').click();
    const sw = page.locator('tr[data-variable="IP2_enable"]').getByRole('switch', { name: 'IP2_enable' });
    await sw.waitFor();
    expect(await sw.isDisabled()).toBe(true);
    expect(await sw.getAttribute('title')).toBe('Needs the operator role; you are signed in as viewer-bot (viewer).');
    await page.goto(url(`/apis/${ids.demo}/nodes`));
    expect(await page.getByRole('checkbox', { name: 'Enabled: ip1-a' }).isDisabled()).toBe(true);
    // The API refuses it too, whatever the page shows.
    const res = await fetch(url('/admin/variables/IP2_enable'), {
      method: 'PUT',
      headers: { authorization: `Bearer ${secrets.viewer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'false' }),
    });
    expect(res.status).toBe(403);
    expect(await variable('IP2_enable')).toBe('true');
  });

  it('lets an operator flip (audited under its name) but not edit a selector', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, t.adminUrl, secrets.operator!);
    await poll(() => page.locator('.topbar .who').textContent()).toBe('operator-bot · operator');
    await navLink('Variables').click();
    const sw = page.locator('tr[data-variable="IP2_enable"]').getByRole('switch', { name: 'IP2_enable' });
    await sw.click();
    await toast(/IP2_enable is now false/).waitFor();
    expect(await variable('IP2_enable')).toBe('false');
    expect((await t.admin('GET', '/admin/audit?limit=1')).body.entries[0]).toMatchObject({
      actor: { name: 'operator-bot' },
      objectName: 'IP2_enable',
    });

    await page.goto(url(`/apis/${ids.demo}/selector`));
    const save = page.getByRole('button', { name: 'Save selector' });
    await save.waitFor();
    expect(await save.isDisabled()).toBe(true);
    const res = await fetch(url(`/admin/apis/${ids.demo}/selector`), {
      method: 'PUT',
      headers: { authorization: `Bearer ${secrets.operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'function select(r, e, n) { return n; }' }),
    });
    expect(res.status).toBe(403);
    expect((await t.admin('GET', `/admin/apis/${ids.demo}`)).body.selector).toBeNull();
  });

  it('shows the audit page and an API in outage on a 390-px wide screen without sideways scrolling', async () => {
    await t.admin('PUT', '/admin/variables/IP1_enable', { value: 'false' });
    const narrow = await newContext(browser, 390, 844);
    const phone = await narrow.newPage();
    const phoneWatch = watchPage(phone);
    try {
      await signIn(phone, t.adminUrl, ADMIN_TOKEN);
      for (const [path, name, ready] of [
        ['/audit', 'narrow-audit', '.audit-table tbody tr'],
        [`/apis/${ids.sticky}/nodes`, 'narrow-outage-banner', '.outage-banner'],
        ['/apis', 'narrow-apis-outage', 'tr[data-api="sticky"] .api-state .badge-danger'],
      ] as const) {
        await phone.goto(url(path));
        await phone.locator(ready).first().waitFor();
        expect(
          await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
          `${path} scrolls sideways`,
        ).toBeLessThanOrEqual(0);
        await screenshot(phone, name);
      }
      expect(phoneWatch.pageErrors).toEqual([]);
      expect(phoneWatch.failures).toEqual([]);
    } finally {
      await narrow.close();
      await t.admin('PUT', '/admin/variables/IP1_enable', { value: 'true' });
    }
  });

  it('logged no console errors and threw no page errors along the way', () => {
    expect(watch.pageErrors).toEqual([]);
    expect(watch.unexpectedConsoleErrors()).toEqual([]);
    expect(watch.takeFailures()).toEqual([]);
  });
});
