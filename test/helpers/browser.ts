import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterEach, beforeEach } from 'vitest';
import { updateDocScreenshot } from './doc-screenshots.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the browser tests save their screenshots (git-ignored). */
export const SCREENSHOT_DIR = join(root, 'test-output', 'screenshots');

/** Debian's Chromium; the tests never download a browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Fails with a clear message unless the console is built and Chromium is installed. */
export function requireConsoleAndBrowser(): void {
  if (!existsSync(join(root, 'web', 'dist', 'index.html'))) {
    throw new Error(
      'web/dist/index.html is missing: build the console first with `npm run build` (npm test does this).',
    );
  }
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium).`);
}

/** Starts headless Chromium with the flags that keep it quiet and off the network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}

/** What a page reported: console errors, uncaught exceptions, and failed responses by `METHOD path status`. */
export interface PageWatch {
  consoleErrors: string[];
  pageErrors: string[];
  /** Every response with status >= 400, e.g. `PUT /admin/apis/…/selector 400`. */
  failures: string[];
  /** Console errors other than Chromium's "Failed to load resource" line for a failed response (those are checked through `failures`). */
  unexpectedConsoleErrors(): string[];
  /** Returns the failed responses seen since the last call and forgets them. */
  takeFailures(): string[];
}

/** Records a page's console errors, page errors and failed responses. */
export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = {
    consoleErrors: [],
    pageErrors: [],
    failures: [],
    unexpectedConsoleErrors: () =>
      watch.consoleErrors.filter((m) => !/^Failed to load resource: the server responded with a status of \d+/.test(m)),
    takeFailures: () => watch.failures.splice(0),
  };
  page.on('console', (msg) => {
    if (msg.type() === 'error') watch.consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => watch.pageErrors.push(err.message));
  page.on('response', (res) => {
    if (res.status() >= 400) {
      const url = new URL(res.url());
      watch.failures.push(`${res.request().method()} ${url.pathname} ${res.status()}`);
    }
  });
  return watch;
}

/**
 * Saves a screenshot as `test-output/screenshots/<name>.png`: the full page, or the viewport (for
 * dialogs). The ones the docs show are also written to `docs/screenshots/` with UPDATE_SCREENSHOTS=1.
 */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // The caret blinks and toasts fade: hide both so screenshots are stable.
  await page.addStyleTag({ content: '.toasts{display:none!important} *{caret-color:transparent!important}' });
  const file = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: options.fullPage ?? true });
  updateDocScreenshot(name, file);
  await page.evaluate(() =>
    document.querySelectorAll('style').forEach((s) => s.textContent?.startsWith('.toasts{display:none') && s.remove()),
  );
}

/** A browser context of the given size. */
export function newContext(browser: Browser, width: number, height: number): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1, reducedMotion: 'reduce' });
}

/** A new page in `context` with the tests' 10 s default timeout, and its watch. */
export async function openPage(context: BrowserContext): Promise<{ page: Page; watch: PageWatch }> {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return { page, watch: watchPage(page) };
}

/** A desktop-sized page (1280×800, 10 s default timeout) in a fresh headless Chromium, with its watch. */
export async function openDesktopPage(): Promise<{
  browser: Browser;
  context: BrowserContext;
  page: Page;
  watch: PageWatch;
}> {
  const browser = await launchChromium();
  const context = await newContext(browser, 1280, 800);
  return { browser, context, ...(await openPage(context)) };
}

/** A desktop page as `openDesktopPage`, with one `close` that ends its context and browser. */
export async function openBrowserPage(): Promise<{ page: Page; watch: PageWatch; close: () => Promise<void> }> {
  const { browser, context, page, watch } = await openDesktopPage();
  return { page, watch, close: () => context.close().then(() => browser.close()) };
}

/** Signs `page` in at the console of `adminUrl` with `token` and waits for the APIs list. */
export async function signIn(page: Page, adminUrl: string, token: string): Promise<void> {
  await page.goto(`${adminUrl}/sign-in`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/apis$/);
}

/**
 * For files whose tests build on each other (one signed-in page): after a failure the rest are
 * skipped rather than timing out one by one.
 */
export function skipAfterFirstFailure(): void {
  let failed = false;
  beforeEach((ctx) => {
    if (failed) ctx.skip();
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });
}
