import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import WebSocket from 'ws';
import { launchChromium, newContext, requireConsoleAndBrowser, screenshot } from '../helpers/browser.js';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startWsUpstream, type WsUpstream } from '../helpers/ws-upstreams.js';

// The Traffic tab counts each node's open WebSockets, live, in Chromium.
const TOKEN = 'test-token-0123456789abcdef';
let t: TestGateway;
let node: WsUpstream;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  requireConsoleAndBrowser();
  t = await startTestGateway();
  node = await startWsUpstream('live');
  browser = await launchChromium();
  context = await newContext(browser, 1280, 800);
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.terminate();
  await context?.close();
  await browser?.close();
  await t?.stop();
  await node?.close();
});

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${t.gatewayUrl.replace('http', 'ws')}/live`);
    sockets.push(ws);
    ws.once('message', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('console: traffic of upgraded connections', () => {
  it('shows the open WebSockets of each node and follows them as they open and close', async () => {
    const id = await createApi(t, { name: 'live', path: '/live', algorithm: 'round_robin' });
    await addNode(t, id, node);
    const opened = await Promise.all([open(), open(), open()]);
    await page.goto(`${t.adminUrl}/sign-in?next=${encodeURIComponent(`/apis/${id}/traffic`)}`);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/traffic$/);
    const cell = page.locator('tr[data-node="live"] .traffic-upgraded');
    await expect.poll(() => cell.textContent(), { timeout: 10_000 }).toBe('3');
    await screenshot(page, 'desktop-traffic-websockets');
    opened[0]!.close();
    // The tab refreshes every few seconds.
    await expect.poll(() => cell.textContent(), { timeout: 10_000, interval: 200 }).toBe('2');
  });
});
