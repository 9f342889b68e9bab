import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowserPage, requireConsoleAndBrowser, screenshot, type PageWatch, signIn } from '../helpers/browser.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// The API's health, panic and retry settings edited in the console's Settings tab (Chromium against
// a real isogate): an error lands next to its field, what is saved is what the API stores, and the
// form shows the stored settings again after a reload.
const TOKEN = 'test-token-0123456789abcdef';
let t: TestGateway;
let ups: TestUpstream[];
let page: Page;
let watch: PageWatch;
let closeBrowser: (() => Promise<void>) | undefined;
let apiId = '';

beforeAll(async () => {
  requireConsoleAndBrowser();
  t = await startTestGateway();
  ups = await startUpstreams(['a']);
  const api = await t.admin('POST', '/admin/apis', { name: 'shop', path: '/shop/*', algorithm: 'round_robin' });
  apiId = api.body.id;
  await t.admin('POST', `/admin/apis/${apiId}/nodes`, {
    name: 'a',
    connector: { kind: 'simple-url', url: ups[0]!.url },
  });
  ({ page, watch, close: closeBrowser } = await openBrowserPage());
  await signIn(page, t.adminUrl, TOKEN);
});

afterAll(async () => {
  await closeBrowser?.();
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 50 });
const section = () => page.locator('details.health-settings');
const errorOf = (label: string) =>
  section()
    .locator('.field')
    .filter({ has: page.getByLabel(label, { exact: true }) })
    .locator('.field-error')
    .first();

describe('API settings: health checks, panic mode and retries', () => {
  it('shows the defaults: probes off with their fields hidden, ejection on, panic uses all, idempotent methods retried', async () => {
    await page.goto(`${t.adminUrl}/apis/${apiId}/settings`);
    await section().locator('summary').click();
    expect(await page.getByLabel('Probe the nodes (active health checks)').isChecked()).toBe(false);
    expect(await page.getByLabel('Probe request').isVisible()).toBe(false);
    expect(await page.getByLabel('Eject nodes whose requests fail (passive health checks)').isChecked()).toBe(true);
    expect(await page.getByLabel('Failed requests in a row').inputValue()).toBe('5');
    expect(await page.getByLabel('When every node looks down (panic mode)').inputValue()).toBe('use-all');
    const retried = await section()
      .locator('input[name="retryMethods"]:checked')
      .evaluateAll((boxes) => boxes.map((b) => (b as HTMLInputElement).value));
    expect(retried).toEqual(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
  });

  it('a probe timeout longer than its interval is refused next to the field, and nothing is stored', async () => {
    await page.getByLabel('Probe the nodes (active health checks)').check();
    await page.getByLabel('Probe request').fill('/healthz');
    await page.getByLabel('Probe every (ms)').fill('1000');
    await page.getByLabel('Probe timeout (ms)').fill('5000');
    await section().locator('summary').click(); // closed: the error must open it again
    await page.getByRole('button', { name: 'Save changes' }).click();
    await poll(() => errorOf('Probe timeout (ms)').textContent()).toMatch(/longer than intervalMs/);
    expect(await section().evaluate((d) => (d as HTMLDetailsElement).open)).toBe(true);
    expect(watch.takeFailures()).toEqual([`PATCH /admin/apis/${apiId} 400`]);
    expect((await t.admin('GET', `/admin/apis/${apiId}`)).body.health.active).toBeNull();
    await screenshot(page, 'desktop-api-health-error');
  });

  it('saves probes, no ejection, panic that rejects and a narrower retry policy, as the API stores them', async () => {
    await page.getByLabel('Probe timeout (ms)').fill('500');
    await page.getByLabel('Passing statuses').fill('200, 3xx');
    await page.getByLabel('Eject nodes whose requests fail (passive health checks)').uncheck();
    expect(await page.getByLabel('Failed requests in a row').isVisible()).toBe(false);
    await page.getByLabel('When every node looks down (panic mode)').selectOption('reject');
    await section().locator('input[name="retryMethods"][value="PUT"]').uncheck();
    await section().locator('input[name="retryMethods"][value="DELETE"]').uncheck();
    await page.getByLabel('Retry on these statuses').fill('502 503');
    await page.getByLabel('Deadline for all tries (ms)').fill('3000');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page
      .locator('.toast')
      .filter({ hasText: /API shop saved/ })
      .first()
      .waitFor();
    const api = (await t.admin('GET', `/admin/apis/${apiId}`)).body;
    expect(api.health).toEqual({
      active: {
        path: '/healthz',
        intervalMs: 1000,
        timeoutMs: 500,
        healthyThreshold: 2,
        unhealthyThreshold: 3,
        expectedStatuses: [200, '3xx'],
      },
      passive: null,
      panic: 'reject',
    });
    expect(api.retry).toEqual({
      methods: ['GET', 'HEAD', 'OPTIONS'],
      timeouts: true,
      statuses: [502, 503],
      deadlineMs: 3000,
      budgetPercent: 20,
      budgetMinConcurrent: 3,
    });
    // The gateway serves it: its health view knows the probe's settings.
    expect((await t.admin('GET', `/admin/apis/${apiId}/health`)).body.settings.active.path).toBe('/healthz');
  });

  it('shows the stored settings after a reload', async () => {
    await page.reload();
    await section().locator('summary').click();
    expect(await page.getByLabel('Probe the nodes (active health checks)').isChecked()).toBe(true);
    expect(await page.getByLabel('Probe request').inputValue()).toBe('/healthz');
    expect(await page.getByLabel('Passing statuses').inputValue()).toBe('200, 3xx');
    expect(await page.getByLabel('Eject nodes whose requests fail (passive health checks)').isChecked()).toBe(false);
    expect(await page.getByLabel('When every node looks down (panic mode)').inputValue()).toBe('reject');
    expect(await page.getByLabel('Deadline for all tries (ms)').inputValue()).toBe('3000');
    await screenshot(page, 'desktop-api-health');
    expect(watch.unexpectedConsoleErrors()).toEqual([]);
    expect(watch.pageErrors).toEqual([]);
  });
});
