import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
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

// The web console driven by a real browser (Debian's Chromium through playwright-core) against a real
// isogate (SQLite, selector sandbox, admin API serving web/dist) in front of real upstreams. Everything
// is done through the forms, the way an operator does it; traffic goes through the gateway port. The
// tests of this file run in order and share one signed-in page.

const TOKEN = 'test-token-0123456789abcdef';
const CANARY = `function select(request, env, nodes) {
  console.log("select_code=" + request.query.select_code);
  if (request.query.select_code === "temp_node") return nodes.filter(n => n.tags.includes("temp"));
  return nodes.filter(n => !n.tags.includes("temp"));
}
`;
// A syntax error on line 3: nothing may be saved, and the canary must keep serving.
const BROKEN = `function select(request, env, nodes) {
  const picked = nodes.filter(n => n.weight > 0);
  return picked.filter(n => );
}
`;
const ALL_NODES = `function select(request, env, nodes) {
  return nodes;
}
`;

let t: TestGateway;
let ups: TestUpstream[];
let browser: Browser;
let context: BrowserContext;
let page: Page;
let watch: PageWatch;
let apiId = '';

beforeAll(async () => {
  requireConsoleAndBrowser();
  t = await startTestGateway();
  ups = await startUpstreams(['ip1-a', 'ip2-a', 'ip1-temp']);
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
const up = (name: string) => ups.find((u) => u.name === name)!;
const toast = (text: string | RegExp) => page.locator('.toast').filter({ hasText: text }).first();
const navLink = (name: string) =>
  page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
const row = (name: string) => page.locator(`tr[data-node="${name}"]`);
/** The error line shown next to a field, found through the field's label. */
const errorOf = (scope: Page | Locator, label: string | RegExp) =>
  scope
    .locator('.field')
    .filter({ has: page.getByLabel(label) })
    .locator('.field-error')
    .first();

/** Polls a value until it matches (the page updates after the admin API answers). */
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 50 });

async function typeInEditor(code: string): Promise<void> {
  await page.locator('.cm-content').click();
  // For 200 ms after it gains focus, CodeMirror takes a selection at the very start of the text for the
  // browser's focus artefact and resets it, which swallows an instant Ctrl+A/Delete; people are slower.
  await page.waitForTimeout(250);
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  expect(await editorText()).toBe('');
  // insertText types the text as one input, so the editor's auto-indent and bracket closing stay out of it.
  await page.keyboard.insertText(code);
}

async function editorText(): Promise<string> {
  return page
    .locator('.cm-content')
    .evaluate((el) => [...el.querySelectorAll('.cm-line')].map((l) => l.textContent).join('\n'));
}

describe('web console', () => {
  it('signs in with the admin token, refusing a wrong one next to the field, and keeps it for the tab only', async () => {
    await page.goto(url('/'));
    await page.waitForURL(/\/sign-in\?next=%2Fapis$/);
    await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in to isogate');

    await page.getByLabel('Admin token').fill('wrong-token-0000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => errorOf(page, 'Admin token').textContent()).toContain('This token was not accepted');
    expect(watch.takeFailures()).toEqual(['GET /admin/config/version 401']);
    await screenshot(page, 'desktop-sign-in-error');

    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/apis$/);
    await page.getByRole('heading', { name: 'No APIs yet' }).waitFor();
    expect(await page.evaluate(() => [sessionStorage.getItem('isogate.token'), localStorage.length])).toEqual([
      TOKEN,
      0,
    ]);
  });

  it('creates variables through the form, showing a bad name next to its field without losing the value', async () => {
    await navLink('Variables').click();
    await page.getByRole('heading', { name: 'Variables', level: 1 }).waitFor();
    const form = page.locator('form.new-variable');
    await form.getByLabel('Name').fill('1P_enable');
    await form.getByLabel('Value').fill('true');
    await form.getByRole('button', { name: 'Create variable' }).click();
    await poll(() => errorOf(form, 'Name').textContent()).toMatch(/Must be an identifier/);
    expect(await form.getByLabel('Value').inputValue()).toBe('true');
    expect(watch.takeFailures()).toEqual(['PUT /admin/variables/1P_enable 400']);

    for (const name of ['IP1_enable', 'IP2_enable']) {
      await form.getByLabel('Name').fill(name);
      await form.getByLabel('Value').fill('true');
      await form.getByRole('button', { name: 'Create variable' }).click();
      await page.locator(`tr[data-variable="${name}"]`).waitFor();
    }
    expect(
      (await t.admin('GET', '/admin/variables')).body.map(
        (v: { name: string; value: string }) => `${v.name}=${v.value}`,
      ),
    ).toEqual(['IP1_enable=true', 'IP2_enable=true']);
  });

  it('creates an API through the form; a bad path is shown next to the path field and the rest stays typed', async () => {
    await navLink('APIs').click();
    await page.getByRole('link', { name: 'New API' }).click();
    await page.getByLabel('Name').fill('shop');
    await page.getByLabel('Path').fill('shop');
    await page.getByRole('button', { name: 'Create API' }).click();
    await poll(() => errorOf(page, 'Path').textContent()).toMatch(/Must start with \//);
    expect(await page.getByLabel('Name').inputValue()).toBe('shop');
    expect(watch.takeFailures()).toEqual(['POST /admin/apis 400']);

    await page.getByLabel('Path').fill('/shop/*');
    await page.getByRole('radio', { name: /Round robin/ }).check();
    await page.getByRole('button', { name: 'Create API' }).click();
    await page.waitForURL(/\/apis\/[^/]+\/nodes$/);
    apiId = page.url().split('/').at(-2)!;
    expect((await t.admin('GET', `/admin/apis/${apiId}`)).body).toMatchObject({
      name: 'shop',
      path: '/shop/*',
      algorithm: 'round_robin',
    });
  });

  it('adds three nodes by choosing the connector and filling its form, with rules that show whether they hold', async () => {
    const nodes = [
      { name: 'ip1-a', variable: 'IP1_enable', tags: '' },
      { name: 'ip2-a', variable: 'IP2_enable', tags: '' },
      { name: 'ip1-temp', variable: 'IP1_enable', tags: 'temp' },
    ];
    for (const [i, n] of nodes.entries()) {
      await page.getByRole('button', { name: 'Add node' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('radio', { name: /Simple URL/ }).check();
      await dialog.getByRole('button', { name: 'Next' }).click();
      await dialog.getByLabel('Name').fill(n.name);
      // The first time the URL is wrong: the API's message must land next to the URL field.
      await dialog.getByLabel('URL').fill(i === 0 ? 'not a url' : up(n.name).url);
      await dialog.getByLabel('Tags').fill(n.tags);
      await dialog.getByRole('button', { name: '+ Add rule' }).click();
      await dialog.getByLabel('Variable').fill(n.variable);
      await dialog.getByLabel('Operator').selectOption('eq');
      await dialog.getByLabel('Value', { exact: true }).fill('true');
      await poll(() => dialog.locator('.rule-state').textContent()).toBe(`Holds now: ${n.variable} is "true"`);
      if (i === 0) {
        await dialog.getByLabel('Value', { exact: true }).fill('yes');
        await poll(() => dialog.locator('.rule-state').textContent()).toBe(
          `Does not hold now: ${n.variable} is "true"`,
        );
        await dialog.getByLabel('Value', { exact: true }).fill('true');
        await screenshot(page, 'desktop-node-form', { fullPage: false });
        await dialog.getByRole('button', { name: 'Add node' }).click();
        await poll(() => errorOf(dialog, 'URL').textContent()).toMatch(/absolute http\(s\) URL/);
        expect(watch.takeFailures()).toEqual([`POST /admin/apis/${apiId}/nodes 400`]);
        expect(await dialog.getByLabel('Name').inputValue()).toBe('ip1-a');
        await dialog.getByLabel('URL').fill(up(n.name).url);
      }
      await dialog.getByRole('button', { name: 'Add node' }).click();
      await row(n.name).waitFor();
    }
    const stored = (await t.admin('GET', `/admin/apis/${apiId}/nodes`)).body;
    expect(
      stored.map((n: { name: string; tags: string[]; rules: unknown[]; enabled: boolean }) => [
        n.name,
        n.tags,
        n.rules,
        n.enabled,
      ]),
    ).toEqual(
      nodes.map((n) => [n.name, n.tags ? [n.tags] : [], [{ variable: n.variable, op: 'eq', value: 'true' }], true]),
    );
    await poll(() => row('ip1-a').locator('.node-state').textContent()).toBe('Takes traffic');
  });

  it('spreads real requests over the nodes and shows each node’s recent requests', async () => {
    expect(await spread(t, '/shop/item', 30)).toEqual({ 'ip1-a': 10, 'ip2-a': 10, 'ip1-temp': 10 });
    await page.getByRole('button', { name: 'Refresh' }).click();
    for (const name of ['ip1-a', 'ip2-a', 'ip1-temp']) {
      await poll(() => row(name).locator('.stat-requests').textContent()).toBe('10 requests');
    }
    await screenshot(page, 'desktop-nodes');
  });

  it('the Traffic tab shows each node’s requests/s, error rate, p99 and a sparkline, and they move after more traffic', async () => {
    const tabs = page.getByRole('navigation', { name: 'API sections' });
    await tabs.getByRole('link', { name: 'Traffic' }).click();
    await page.waitForURL(/\/traffic$/);
    const rps = async (name: string) =>
      Number.parseFloat((await row(name).locator('.traffic-rps-minute').textContent()) ?? '');
    for (const name of ['ip1-a', 'ip2-a', 'ip1-temp']) {
      await poll(() => row(name).locator('.sparkline').getAttribute('data-total')).toBe('10');
      expect(await rps(name)).toBeGreaterThan(0);
      expect(await row(name).locator('.traffic-errors-minute').textContent()).toBe('0%');
      expect(await row(name).locator('.traffic-p99-minute').textContent()).toMatch(/^≤ \d+(\.\d+)? ms$/);
      expect(await row(name).locator('.sparkline polyline.spark-requests').getAttribute('points')).toBeTruthy();
    }
    const before = await rps('ip1-a');
    expect(await spread(t, '/shop/item', 30)).toEqual({ 'ip1-a': 10, 'ip2-a': 10, 'ip1-temp': 10 });
    // No click: the tab polls on its own.
    await poll(() => row('ip1-a').locator('.sparkline').getAttribute('data-total')).toBe('20');
    expect(await rps('ip1-a')).toBeGreaterThan(before);
    expect(await row('ip1-a').locator('.trend').getAttribute('title')).toMatch(
      /^Requests per 10 s over the last 5 minutes: peak \d+, latest \d+, 0 errors$/,
    );
    await screenshot(page, 'desktop-traffic');
    await tabs.getByRole('link', { name: 'Nodes' }).click();
    await row('ip1-a').locator('.node-state').waitFor();
  });

  it('shows each node’s health: a node whose upstream stops is ejected with its reason, and healthy once it is back', async () => {
    const quick = { passive: { consecutiveFailures: 1, baseEjectionMs: 4_000, maxEjectionMs: 4_000 } };
    expect((await t.admin('PATCH', `/admin/apis/${apiId}`, { health: quick })).status).toBe(200);
    for (const name of ['ip1-a', 'ip2-a', 'ip1-temp'])
      await poll(() => row(name).locator('.health-badge').textContent()).toBe('Healthy');
    const stopped = up('ip2-a');
    await stopped.close();
    // Retries hide the stopped node from clients; its first failure ejects it.
    const seen = await spread(t, '/shop/item', 6);
    expect(seen['ip2-a']).toBeUndefined();
    expect(Object.values(seen).reduce((a, b) => a + b, 0)).toBe(6);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await poll(() => row('ip2-a').locator('.health-badge').textContent()).toBe('Ejected');
    expect(await row('ip2-a').locator('.health-reason').textContent()).toMatch(
      /^1 failed request in a row \(last: connect ECONNREFUSED\) until /,
    );
    expect(await row('ip1-a').locator('.health-badge').textContent()).toBe('Healthy');
    await screenshot(page, 'desktop-nodes-health');
    const { startUpstream } = await import('../helpers/upstreams.js');
    ups[ups.indexOf(stopped)] = await startUpstream('ip2-a', stopped.port);
    await poll(() => row('ip2-a').locator('.health-badge').textContent()).toBe('Healthy');
    expect(await row('ip2-a').locator('.health-reason').textContent()).toBe('ejection ended');
    expect(
      (
        await t.admin('PATCH', `/admin/apis/${apiId}`, {
          health: { passive: { consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000 } },
        })
      ).status,
    ).toBe(200);
  });

  it('unticking a node (from the keyboard) takes it out from the very next request, and ticking brings it back', async () => {
    const tick = row('ip2-a').getByRole('checkbox', { name: 'Enabled: ip2-a' });
    await tick.focus();
    await page.keyboard.press('Space');
    await toast(/ip2-a unticked/).waitFor();
    expect(await row('ip2-a').getByRole('checkbox').isChecked()).toBe(false);
    expect(await spread(t, '/shop/item', 20)).toEqual({ 'ip1-a': 10, 'ip1-temp': 10 });
    // Focus stays on the tick after the table refreshes, so the keyboard user can flip it back.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Enabled: ip2-a');
    await page.keyboard.press('Space');
    await toast(/ip2-a ticked/).waitFor();
    expect((await spread(t, '/shop/item', 30))['ip2-a']).toBe(10);
  });

  it('edits a node in its form: a weight of 0 is refused next to the weight field, 3 is saved', async () => {
    await row('ip1-a').getByRole('button', { name: 'Edit node ip1-a' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Weight').fill('0');
    await dialog.getByRole('button', { name: 'Save node' }).click();
    await poll(() => errorOf(dialog, 'Weight').textContent()).toBe('Must be at least 1.');
    expect(watch.takeFailures()).toEqual([expect.stringMatching(/^PATCH \/admin\/apis\/.+\/nodes\/.+ 400$/)]);
    await dialog.getByLabel('Weight').fill('3');
    await dialog.getByRole('button', { name: 'Save node' }).click();
    await toast(/Node ip1-a saved/).waitFor();
    await poll(() => row('ip1-a').locator('td[data-label="Weight"]').textContent()).toBe('3');
    expect(
      (await t.admin('GET', `/admin/apis/${apiId}/nodes`)).body.find((n: { name: string }) => n.name === 'ip1-a')
        .weight,
    ).toBe(3);
  });

  it('flipping IP1_enable with its switch drops every IP1 node on the very next request', async () => {
    await navLink('Variables').click();
    const ip1 = page.locator('tr[data-variable="IP1_enable"]');
    await poll(() => ip1.locator('.usage summary').textContent()).toBe('IP1_enable: 2 nodes in 1 API');
    const sw = ip1.getByRole('switch', { name: 'IP1_enable' });
    expect(await sw.isChecked()).toBe(true);
    await sw.click();
    await toast(/IP1_enable is now false/).waitFor();
    expect(await t.nodeOf('/shop/item')).toBe('ip2-a');
    expect(await spread(t, '/shop/item', 9)).toEqual({ 'ip2-a': 9 });
    expect(await ip1.getByRole('switch').isChecked()).toBe(false);
    await ip1.locator('.usage summary').click();
    await screenshot(page, 'desktop-variables');

    await ip1.getByRole('switch').click();
    await toast(/IP1_enable is now true/).waitFor();
    expect(Object.keys(await spread(t, '/shop/item', 6)).sort()).toEqual(['ip1-a', 'ip1-temp', 'ip2-a']);
  });

  it('writes the canary selector in the editor, tries it in the test panel, saves it and real traffic follows', async () => {
    await page.goto(url(`/apis/${apiId}/selector`));
    await page.locator('.cm-content').waitFor();
    const starter = await editorText();
    expect(starter).toContain('function select(request, env, nodes)');
    // A new selector memoizes automatically (when the gateway finds it keeps no state).
    const memoize = page.getByLabel('Memoize results');
    expect(await memoize.inputValue()).toBe('auto');
    expect(await memoize.locator('option').allTextContents()).toEqual([
      'Automatic — when the script keeps no state',
      'Always — I promise it keeps no state',
      'Never',
    ]);
    // The templates of scripts-examples/ are offered; loading one is a change that Ctrl+Z takes back.
    const templates = (await t.admin('GET', '/admin/selector-templates')).body as Array<{ name: string; code: string }>;
    const picker = page.getByLabel('Template');
    if (templates.length > 0) {
      await picker.selectOption(templates[0]!.name);
      await page.getByRole('button', { name: 'Load template' }).click();
      expect(await editorText()).toBe(templates[0]!.code);
      await page.waitForTimeout(250);
      await page.keyboard.press('Control+Z');
      expect(await editorText()).toBe(starter);
    } else {
      expect(await picker.isDisabled()).toBe(true);
    }

    await typeInEditor(CANARY);
    expect(await editorText()).toBe(CANARY);
    // Undo and redo, from the keyboard (CodeMirror's history groups quick edits, so count presses
    // up to a bound rather than assuming one step per edit).
    const pressUntil = async (key: string, want: string) => {
      for (let i = 0; i < 5 && (await editorText()) !== want; i++) await page.keyboard.press(key);
      return editorText();
    };
    expect(await pressUntil('Control+Z', starter)).toBe(starter);
    expect(await pressUntil('Control+Shift+Z', CANARY)).toBe(CANARY);
    await page.keyboard.press('Control+Z');
    expect(await editorText()).not.toBe(CANARY);
    expect(await pressUntil('Control+Y', CANARY)).toBe(CANARY);
    // JavaScript is highlighted: keywords get their own token spans.
    expect(await page.locator('.cm-content .cm-line span').count()).toBeGreaterThan(5);

    const test = page.locator('.test-panel');
    await test.getByLabel('Query').fill('select_code=temp_node');
    await test.getByRole('button', { name: 'Run test' }).click();
    await poll(() => test.locator('[data-step="pick"] .pick-name').textContent()).toBe('ip1-temp');
    await poll(() => test.locator('[data-step="enabled"] .step-count').textContent()).toBe('3 nodes');
    await poll(() => test.locator('[data-step="rules"] .step-count').textContent()).toBe('3 nodes');
    await poll(() => test.locator('[data-step="selector"] .step-nodes li:not(.dropped)').allTextContents()).toEqual([
      'ip1-temp',
    ]);
    await poll(() => test.locator('.console').textContent()).toBe('select_code=temp_node');
    await poll(() => test.locator('.selector-run').textContent()).toMatch(/Selector time: [\d.]+ (µs|ms)/);
    await screenshot(page, 'desktop-selector');

    await test.getByLabel('Query').fill('');
    await test.getByRole('button', { name: 'Run test' }).click();
    await poll(() => test.locator('.console').textContent()).toBe('select_code=undefined');
    expect(await test.locator('[data-step="selector"] .step-nodes li:not(.dropped)').allTextContents()).toEqual([
      'ip1-a',
      'ip2-a',
    ]);
    // Testing saved nothing.
    expect((await t.admin('GET', `/admin/apis/${apiId}/selector`)).body.selector).toBeNull();

    await page.getByRole('button', { name: 'Save selector' }).click();
    await toast(/Selector saved/).waitFor();
    expect(await spread(t, '/shop/item?select_code=temp_node', 5)).toEqual({ 'ip1-temp': 5 });
    expect(await spread(t, '/shop/item', 10)).toEqual({ 'ip1-a': 5, 'ip2-a': 5 });
    await page.locator('.versions li[data-version="1"]').waitFor();
    await poll(() => page.locator('.selector-side .badge-ok').first().textContent()).toBe('Active');
    // Sent as the string "auto"; the canary keeps nothing between calls, so it is memoized.
    expect((await t.admin('GET', `/admin/apis/${apiId}/selector`)).body.selector.memoize).toBe('auto');
    await poll(() => page.locator('.selector-side dd.memoization').textContent()).toBe('yes');
  });

  it('refuses a broken selector: the error is shown at its line, nothing is saved and the old one keeps serving', async () => {
    await typeInEditor(BROKEN);
    await page.getByRole('button', { name: 'Save selector' }).click();
    const codeError = page.locator('.code-field > .field-error');
    await poll(() => codeError.textContent()).toMatch(/^⚠?\s*Line 3/);
    await poll(() => page.locator('.form-error').first().textContent()).toMatch(/nothing was saved.*keeps serving/i);
    // The editor marks line 3 itself (line background and lint marker in the gutter).
    const errorLine = await page
      .locator('.cm-line')
      .evaluateAll((lines) => lines.findIndex((l) => l.classList.contains('cm-error-line')) + 1);
    expect(errorLine).toBe(3);
    expect(await page.locator('.cm-gutter-lint .cm-lint-marker-error').count()).toBe(1);
    expect(watch.takeFailures()).toEqual([`PUT /admin/apis/${apiId}/selector 400`]);
    await screenshot(page, 'desktop-selector-error');

    const api = (await t.admin('GET', `/admin/apis/${apiId}/selector`)).body;
    expect(api.selector.code).toBe(CANARY);
    expect(api.versions).toHaveLength(1);
    expect(await spread(t, '/shop/item?select_code=temp_node', 3)).toEqual({ 'ip1-temp': 3 });

    // What was typed survives a reload (a draft), and "Revert to saved" brings the saved one back.
    await page.reload();
    await page.locator('.cm-content').waitFor();
    expect(await editorText()).toBe(BROKEN);
    await poll(() => page.locator('.editor-toolbar .badge').textContent()).toBe('Unsaved changes');
    await page.getByRole('button', { name: 'Revert to saved' }).click();
    expect(await editorText()).toBe(CANARY);
  });

  it('keeps the saved versions and rolls back to one', async () => {
    // The three memoize settings are told apart: "Never" differs from the saved "auto".
    const memoize = page.getByLabel('Memoize results');
    const badge = page.locator('.editor-toolbar .badge');
    await memoize.selectOption('false');
    await poll(() => badge.textContent()).toBe('Unsaved changes');
    await memoize.selectOption('auto');
    await poll(() => badge.textContent()).toBe('Saved');

    await typeInEditor(ALL_NODES);
    await memoize.selectOption('false');
    await page.getByRole('button', { name: 'Save selector' }).click();
    await toast(/Selector saved/).waitFor();
    expect((await t.admin('GET', `/admin/apis/${apiId}/selector`)).body.selector).toMatchObject({
      code: ALL_NODES,
      memoize: false,
    });
    await poll(() => page.locator('.selector-side dd.memoization').textContent()).toBe('no (memoize is off)');
    expect(await spread(t, '/shop/item?select_code=temp_node', 3)).not.toEqual({ 'ip1-temp': 3 });
    await page.locator('.versions li[data-version="2"]').waitFor();
    await page.getByRole('button', { name: 'Roll back to version 1' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Roll back' }).click();
    await toast(/Rolled back to version 1/).waitFor();
    expect(await spread(t, '/shop/item?select_code=temp_node', 3)).toEqual({ 'ip1-temp': 3 });
    expect(
      (await t.admin('GET', `/admin/apis/${apiId}/selector`)).body.versions.map((v: { version: number }) => v.version),
    ).toEqual([3, 2, 1]);
    await poll(() => page.locator('.selector-side dd.memoization').textContent()).toBe('yes');
  });

  it('shows a quarantined selector with a button that lifts the quarantine (the selector starts afresh)', async () => {
    const boom =
      'function select(request, env, nodes) {\n  if (request.headers["x-boom"]) throw new Error("boom");\n  return nodes;\n}';
    await t.admin('PUT', `/admin/apis/${apiId}/selector`, { code: boom, memoize: false });
    await spread(t, '/shop/item', 5, { headers: { 'x-boom': '1' } });
    const lift = page.getByRole('button', { name: 'Lift quarantine' });
    await lift.waitFor();
    expect(await page.locator('.selector-side .badge-danger').textContent()).toBe('Quarantined');
    await lift.click();
    await toast(/Quarantine lifted/).waitFor();
    await poll(() => lift.count()).toBe(0);
    expect(await page.locator('.selector-side .badge-ok', { hasText: 'Active' }).count()).toBe(1);
    expect((await t.admin('GET', `/admin/apis/${apiId}/selector`)).body.status).toMatchObject({
      state: 'active',
      failures: 0,
    });
    await t.admin('PUT', `/admin/apis/${apiId}/selector`, { code: CANARY });
  });

  it('lists the API with its algorithm, node counts and selector state', async () => {
    // A second API, set up through the admin API, so the list shows more than one kind of entry.
    const accounts = (
      await t.admin('POST', '/admin/apis', {
        name: 'accounts',
        host: 'api.example.com',
        methods: ['GET', 'POST'],
        path: '/accounts/*',
        algorithm: 'ip_hash',
      })
    ).body.id;
    await t.admin('POST', `/admin/apis/${accounts}/nodes`, {
      name: 'acc-1',
      connector: { kind: 'simple-url', url: up('ip1-a').url },
    });
    await t.admin('POST', `/admin/apis/${accounts}/nodes`, {
      name: 'acc-2',
      connector: { kind: 'simple-url', url: up('ip2-a').url },
      enabled: false,
    });
    await navLink('APIs').click();
    const shop = page.locator('tr[data-api="shop"]');
    await shop.waitFor();
    expect(await shop.locator('td').allInnerTexts()).toEqual(
      expect.arrayContaining(['Round robin', '3 / 3 enabled', 'Selector active']),
    );
    const accountsRow = page.locator('tr[data-api="accounts"]');
    expect(await accountsRow.locator('td').allInnerTexts()).toEqual(
      expect.arrayContaining(['api.example.com/accounts/*\nGET, POST', 'IP hash', '1 / 2 enabled', 'No selector']),
    );
    await screenshot(page, 'desktop-apis');
  });

  it('deletes an API only after a confirmation that names it', async () => {
    const id = (await t.admin('POST', '/admin/apis', { name: 'scratch', path: '/scratch', algorithm: 'weighted' })).body
      .id;
    await page.reload();
    await page.getByRole('button', { name: 'Delete API scratch' }).click();
    const dialog = page.getByRole('dialog');
    await poll(() => dialog.getByRole('heading').textContent()).toBe('Delete the API “scratch”?');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await t.admin('GET', `/admin/apis/${id}`)).status).toBe(200);
    await page.getByRole('button', { name: 'Delete API scratch' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete API' }).click();
    await toast(/API scratch deleted/).waitFor();
    expect((await t.admin('GET', `/admin/apis/${id}`)).status).toBe(404);
    await poll(() => page.locator('tr[data-api="scratch"]').count()).toBe(0);
  });

  it('sends the user back to sign-in on a 401 and then back to the page they were on', async () => {
    await page.evaluate(() => sessionStorage.setItem('isogate.token', 'expired-token-0000000000'));
    await navLink('Variables').click();
    await page.waitForURL(/\/sign-in\?expired=1&next=%2Fvariables$/);
    expect(watch.takeFailures().every((f) => f.endsWith(' 401'))).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('isogate.token'))).toBeNull();
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/variables$/);
    await page.locator('tr[data-variable="IP1_enable"]').waitFor();
    // The page's other request with the expired token may have answered after the redirect: 401s only.
    expect(watch.takeFailures().every((f) => f.endsWith(' 401'))).toBe(true);
  });

  it('deleting a variable that rules use asks first and names them', async () => {
    await page.locator('tr[data-variable="IP2_enable"]').getByRole('button', { name: 'Delete IP2_enable' }).click();
    const dialog = page.getByRole('dialog');
    await poll(() => dialog.locator('li').allTextContents()).toEqual(['shop › ip2-a']);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await t.admin('GET', '/admin/variables/IP2_enable')).status).toBe(200);

    const form = page.locator('form.new-variable');
    await form.getByLabel('Name').fill('UNUSED_flag');
    await form.getByLabel('Value').fill('on');
    await form.getByRole('button', { name: 'Create variable' }).click();
    await page.getByRole('button', { name: 'Delete UNUSED_flag' }).click();
    await poll(() => page.getByRole('dialog').locator('.confirm-message').textContent()).toBe('No rule uses it.');
    await page.getByRole('dialog').getByRole('button', { name: 'Delete variable' }).click();
    await toast(/UNUSED_flag deleted/).waitFor();
    expect((await t.admin('GET', '/admin/variables/UNUSED_flag')).status).toBe(404);
  });

  it('edits an API in its Settings tab, opening "Timeouts and limits" to show an error there', async () => {
    await page.goto(url(`/apis/${apiId}/settings`));
    const retries = page.getByLabel('Retries');
    await page.getByRole('radio', { name: /Weighted/ }).check();
    await page.locator('details.more > summary').click();
    await retries.fill('99');
    await page.locator('details.more > summary').click();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await poll(() => errorOf(page, 'Retries').textContent()).toBe('Must be at most 10.');
    expect(await retries.isVisible()).toBe(true);
    expect(watch.takeFailures()).toEqual([`PATCH /admin/apis/${apiId} 400`]);
    await screenshot(page, 'desktop-api-settings-error');
    await retries.fill('2');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await toast(/API shop saved/).waitFor();
    expect((await t.admin('GET', `/admin/apis/${apiId}`)).body).toMatchObject({
      algorithm: 'weighted',
      retries: 2,
      path: '/shop/*',
    });
    await poll(() => page.locator('.api-summary').textContent()).toContain('Weighted');
  });

  it('shows the Cluster page: this process alive on the stored version, one that stopped beating as stale', async () => {
    await t.app.store.heartbeat({
      id: 'gw-gone',
      host: 'gw-2.internal',
      pid: 4321,
      role: 'gateway',
      worker: 2,
      serves: 'gateway',
      startedAt: new Date(Date.now() - 60_000).toISOString(),
      configVersion: 1,
      heartbeatMs: 50,
    });
    const { version } = (await t.admin('GET', '/admin/config/version')).body;
    await navLink('Cluster').click();
    await page.waitForURL(/\/cluster$/);
    const self = page.locator(`tr[data-pid="${process.pid}"]`);
    await poll(() => self.getAttribute('data-state')).toBe('alive');
    await poll(() => self.locator('.config-version').textContent()).toBe(String(version));
    expect(await self.textContent()).toContain('gateway + admin');
    expect(await self.locator('.badge').allTextContents()).toEqual(['current', 'alive']);
    // The made-up worker beat once, 50 ms intervals: stale after 150 ms, and behind the stored version.
    const gone = page.locator('tr[data-process="gw-gone"]');
    await poll(() => gone.getAttribute('data-state')).toBe('stale');
    expect(await gone.locator('.badge').allTextContents()).toEqual(['behind', 'stale']);
    expect(await gone.textContent()).toContain('worker 2');
    await poll(() => page.locator('.cluster-summary').textContent()).toBe(
      `2 processes: 1 alive, 1 stale · stored config version ${version} · serving it: 1 of 1 alive gateway process`,
    );
    await screenshot(page, 'desktop-cluster');
  });

  it('works on a 390-px wide screen without sideways scrolling', async () => {
    const narrow = await newContext(browser, 390, 844);
    const phone = await narrow.newPage();
    const phoneWatch = watchPage(phone);
    try {
      await signIn(phone, t.adminUrl, TOKEN);
      for (const [path, name, ready] of [
        ['/apis', 'narrow-apis', 'tr[data-api="shop"]'],
        [`/apis/${apiId}/nodes`, 'narrow-nodes', 'tr[data-node="ip1-a"]'],
        [`/apis/${apiId}/traffic`, 'narrow-traffic', 'tr[data-node="ip1-a"] .sparkline'],
        ['/variables', 'narrow-variables', 'tr[data-variable="IP1_enable"]'],
        [`/apis/${apiId}/selector`, 'narrow-selector', '.cm-content'],
        ['/cluster', 'narrow-cluster', 'tr[data-process="gw-gone"]'],
      ] as const) {
        await phone.goto(url(path));
        await phone.locator(ready).first().waitFor();
        const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, `${path} scrolls sideways`).toBeLessThanOrEqual(0);
        await screenshot(phone, name);
      }
      await phone.goto(url(`/apis/${apiId}/nodes`));
      await phone.getByRole('button', { name: 'Add node' }).click();
      await phone.getByRole('dialog').getByRole('button', { name: 'Next' }).click();
      await phone.getByRole('dialog').getByLabel('Name').waitFor();
      expect(
        await phone.evaluate(() => document.querySelector('dialog')!.scrollWidth - window.innerWidth),
      ).toBeLessThanOrEqual(0);
      await screenshot(phone, 'narrow-node-form', { fullPage: false });
      expect(phoneWatch.pageErrors).toEqual([]);
      expect(phoneWatch.unexpectedConsoleErrors()).toEqual([]);
      expect(phoneWatch.failures).toEqual([]);
    } finally {
      await narrow.close();
    }
  });

  it('is reachable by keyboard: a skip link first, then the navigation', async () => {
    await page.goto(url('/apis'));
    await page.locator('tr[data-api="shop"]').waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('APIs');
  });

  it('logged no console errors and threw no page errors along the way', () => {
    expect(watch.pageErrors).toEqual([]);
    expect(watch.unexpectedConsoleErrors()).toEqual([]);
    expect(watch.takeFailures()).toEqual([]);
  });
});
