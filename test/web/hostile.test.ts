import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { TestCa } from '../helpers/certs.js';
import { launchChromium, newContext, openPage, requireConsoleAndBrowser, type PageWatch } from '../helpers/browser.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// The console attacked: strings that a lesser role (an operator's variable values) or an editor (API
// and node names, rule values, health paths, selector code and what it logs or throws, consumer
// logins and JWT subjects, certificate names) can store, shown to an admin on every page; and a
// hostile page on another origin that frames the console, posts forms and fetches the admin API.
// Every string is markup that, were it parsed as HTML, would add an element with the class `pwn` (an
// `<img onerror>` the CSP would also block, so the test looks for the elements themselves, through a
// MutationObserver installed before any page script runs).
// A comment starting `Fixed:` tells the bug a test was written against (each is fixed; the test guards it).
const TOKEN = 'test-token-0123456789abcdef';
const MARK = `<img src=x class=pwn onerror=__pwned=1>`;
/** A name-sized payload: breaks out of an attribute, then adds an image and a bold marker. */
const P = (tag: string) => `"><b class=pwn>${tag}</b>${MARK}`;
/** What the page must show literally for `P(tag)`. */
const LIT = (tag: string) => `<b class=pwn>${tag}</b>`;

let t: TestGateway;
let ups: TestUpstream[];
let browser: Browser;
let context: BrowserContext;
let page: Page;
let watch: PageWatch;
let apiId: string;
const ca = new TestCa();
const secrets: Record<string, string> = {};

async function as(secret: string, method: string, path: string, body?: unknown) {
  const res = await fetch(t.adminUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${secret}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A certificate whose CN and SANs hold markup, plus a valid DNS name. */
function hostileCertificate(): { certificate: string; privateKey: string } {
  const { certificate, privateKey } = ca.issueAs(
    '/CN=<b class=pwn>cn<\\/b>',
    `subjectAltName=DNS:hostile.test,DNS:<b class=pwn>san</b>${MARK},email:<b class=pwn>mail</b>@x.test\n`,
    20,
  );
  return { certificate, privateKey };
}

/** A certificate whose only SAN is markup (no usable name): the API refuses it, and the console shows why. */
function namelessCertificate(): { certificate: string; privateKey: string } {
  const { certificate, privateKey } = ca.issueAs(
    '/CN=<b class=pwn>badcn<\\/b>',
    `subjectAltName=DNS:<b class=pwn>only</b>${MARK}\n`,
    20,
  );
  return { certificate, privateKey };
}

const SELECTOR = `function select(request, env, nodes) {
  // ${P('comment')}
  console.log(${JSON.stringify(P('log'))});
  if (request.headers["x-boom"]) throw new Error(${JSON.stringify(P('thrown'))});
  return nodes;
}
`;

// Runs in every document before its scripts: records any element carrying the marker class or an
// inline event handler attribute, whenever it is added.
const WATCHER = `(() => {
  window.__injected = [];
  const check = (n) => {
    if (!(n instanceof Element)) return;
    const all = [n, ...n.querySelectorAll('*')];
    for (const el of all) {
      const bad = el.classList.contains('pwn') || [...el.attributes].some((a) => /^on/i.test(a.name));
      if (bad) window.__injected.push(el.outerHTML.slice(0, 200));
    }
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'childList') r.addedNodes.forEach(check);
      else if (r.type === 'attributes') check(r.target);
    }
  }).observe(document, { childList: true, subtree: true, attributes: true });
})();`;

async function injected(p: Page = page): Promise<string[]> {
  return p.evaluate(() => {
    const w = window as unknown as { __injected?: string[]; __pwned?: unknown };
    const now = [...document.querySelectorAll('.pwn, img[src="x"], [onerror], [onload]')].map((e) =>
      e.outerHTML.slice(0, 200),
    );
    return [...(w.__injected ?? []), ...now, ...(w.__pwned === undefined ? [] : ['window.__pwned was set'])];
  });
}

/** Waits (bounded) until the page's text holds `text`, and returns whether it did. */
async function shows(text: string, p: Page = page): Promise<boolean> {
  try {
    await p.waitForFunction((s) => document.body.innerText.includes(s), text, { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Whether any attribute value in the page holds `text` (tooltips, aria labels, input values). */
async function inAttributes(text: string, p: Page = page): Promise<boolean> {
  return p.evaluate(
    (s) =>
      [...document.querySelectorAll('*')].some(
        (el) =>
          [...el.attributes].some((a) => a.value.includes(s)) ||
          ((el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) && el.value.includes(s)),
      ),
    text,
  );
}

beforeAll(async () => {
  requireConsoleAndBrowser();
  t = await startTestGateway(['--gateway-tls-port', '0']);
  ups = await startUpstreams(['good']);
  for (const role of ['operator', 'editor'])
    secrets[role] = (await t.admin('POST', '/admin/tokens', { name: `${role}-bot`, role })).body.secret;

  // An operator (a lesser role) stores the variable values the admin will read.
  expect((await as(secrets.operator!, 'PUT', '/admin/variables/EVIL', { value: P('var') })).status).toBeLessThan(300);
  expect((await as(secrets.operator!, 'PUT', '/admin/variables/FLAG', { value: 'true' })).status).toBeLessThan(300);

  // An editor stores the rest.
  const ed = (method: string, path: string, body?: unknown) => as(secrets.editor!, method, path, body);
  const api = await ed('POST', '/admin/apis', { name: P('api'), path: '/evil/*', algorithm: 'round_robin' });
  expect(api.status).toBe(201);
  apiId = api.body.id;
  const health = await ed('PATCH', `/admin/apis/${apiId}`, {
    health: {
      active: {
        path: `/<b/class=pwn>probe</b><img/src=x/class=pwn/onerror=__pwned=1>`,
        intervalMs: 60_000,
        timeoutMs: 1000,
        healthyThreshold: 1,
        unhealthyThreshold: 1,
        expectedStatuses: ['2xx'],
      },
    },
  });
  expect(health.status, JSON.stringify(health.body)).toBe(200);
  const ruled = await ed('POST', `/admin/apis/${apiId}/nodes`, {
    name: P('node'),
    connector: { kind: 'simple-url', url: ups[0]!.url },
    tags: ['canary'],
    rules: [
      { variable: 'EVIL', op: 'eq', value: P('rule') },
      { variable: 'EVIL', op: 'in', value: [P('in1'), P('in2')] },
    ],
  });
  expect(ruled.status, JSON.stringify(ruled.body)).toBe(201);
  const plain = await ed('POST', `/admin/apis/${apiId}/nodes`, {
    name: P('node2'),
    connector: { kind: 'simple-url', url: ups[0]!.url },
  });
  expect(plain.status, JSON.stringify(plain.body)).toBe(201);
  const sel = await ed('PUT', `/admin/apis/${apiId}/selector`, { code: SELECTOR, memoize: false });
  expect(sel.status, JSON.stringify(sel.body)).toBe(200);
  // Runtime errors with the marker in their message, for the selector's "last errors".
  for (let i = 0; i < 3; i++) await (await t.get('/evil/x', { headers: { 'x-boom': '1' } })).arrayBuffer();

  const consumer = await ed('POST', '/admin/consumers', {
    name: 'hostile-consumer',
    credentials: [
      { kind: 'basic', username: P('user'), password: 'password-1234' },
      { kind: 'jwt', subject: P('sub'), secret: 'generate' },
    ],
  });
  expect(consumer.status, JSON.stringify(consumer.body)).toBe(201);

  const cert = await ed('POST', '/admin/certificates', hostileCertificate());
  expect(cert.status, JSON.stringify(cert.body)).toBe(201);

  browser = await launchChromium();
  context = await newContext(browser, 1280, 900);
  await context.addInitScript({ content: WATCHER });
  ({ page, watch } = await openPage(context));
  await page.goto(`${t.adminUrl}/sign-in`);
  await page.getByLabel('Admin token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/apis$/);
}, 90_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  ca.dispose();
});

describe('console: stored markup is shown as text on every page', () => {
  it('(control) the detector sees markup that does get parsed', async () => {
    const p = await context.newPage();
    await p.goto(`${t.adminUrl}/sign-in`);
    await p.evaluate((html) => document.body.insertAdjacentHTML('beforeend', html), P('control'));
    expect((await injected(p)).length).toBeGreaterThan(0);
    await p.close();
  });

  it('APIs list: the API name and its delete dialog', async () => {
    await page.goto(`${t.adminUrl}/apis`);
    expect(await shows(LIT('api'))).toBe(true);
    await page
      .getByRole('button', { name: /Delete API/ })
      .first()
      .click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await shows(LIT('api'))).toBe(true);
    // The dry run's impact names the nodes.
    await page.waitForTimeout(300);
    expect(await injected()).toEqual([]);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await t.admin('GET', `/admin/apis/${apiId}`)).status).toBe(200);
  });

  it('Nodes tab: node names, rule values and their live state, the outage/degraded banner', async () => {
    await page.goto(`${t.adminUrl}/apis/${apiId}/nodes`);
    expect(await shows(LIT('node2'))).toBe(true);
    expect(await shows(LIT('node'))).toBe(true);
    // The rule row says what EVIL is now (the operator's value).
    const text = await page.evaluate(() => document.body.innerText);
    expect(text).toContain(LIT('rule'));
    expect(text).toContain(LIT('in2'));
    expect(await injected()).toEqual([]);
    expect(watch.pageErrors).toEqual([]);
  });

  it('the node edit form and its rules editor keep the values as text', async () => {
    await page.getByRole('button', { name: /Edit/ }).first().click();
    await page.getByRole('dialog').waitFor();
    expect((await inAttributes(P('node'))) || (await inAttributes(P('node2')))).toBe(true);
    await page.waitForTimeout(300);
    expect(await injected()).toEqual([]);
    await page.keyboard.press('Escape');
  });

  it('Settings tab: the API name and health probe path', async () => {
    await page.goto(`${t.adminUrl}/apis/${apiId}/settings`);
    await page.locator('form').first().waitFor();
    await page.waitForFunction(() => document.querySelectorAll('input').length > 3);
    expect(await inAttributes(P('api'))).toBe(true);
    expect(await injected()).toEqual([]);
  });

  it('Traffic tab: node names next to their figures', async () => {
    await page.goto(`${t.adminUrl}/apis/${apiId}/traffic`);
    expect(await shows(LIT('node2'))).toBe(true);
    expect(await injected()).toEqual([]);
  });

  it('Access tab', async () => {
    await page.goto(`${t.adminUrl}/apis/${apiId}/access`);
    await page.locator('form').first().waitFor();
    await page.waitForTimeout(300);
    expect(await injected()).toEqual([]);
  });

  it('Selector tab: code, runtime errors, and a test run with its console output and a thrown error', async () => {
    await page.goto(`${t.adminUrl}/apis/${apiId}/selector`);
    await page.locator('.cm-content').waitFor();
    expect(await shows(LIT('comment'))).toBe(true);
    // The last errors recorded by the gateway's runs carry the thrown message.
    expect(await shows(LIT('thrown'))).toBe(true);
    const test = page.locator('.test-panel');
    await test.getByRole('button', { name: 'Run test' }).click();
    await expect.poll(() => test.locator('.console').textContent(), { timeout: 10_000 }).toBe(P('log'));
    await test.getByLabel('Headers').fill('x-boom: 1');
    await test.getByRole('button', { name: 'Run test' }).click();
    await page.waitForTimeout(500);
    expect(await injected()).toEqual([]);
  });

  it('Selector tab: a failed trial whose compile error quotes markup is marked at its line as text', async () => {
    const editor = page.locator('.cm-content');
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(`function select(request, env, nodes) {\n  return <b class=pwn>x</b> ${MARK};\n}\n`);
    await page.getByRole('button', { name: 'Save selector' }).click();
    await page.locator('.cm-error-line').waitFor();
    await page.locator('.cm-lint-marker-error').first().hover();
    await page.waitForTimeout(500);
    expect(await injected()).toEqual([]);
    // Leave without saving anything; the draft is dropped so other tests see the stored code.
    await page.evaluate(() => {
      for (let i = sessionStorage.length - 1; i >= 0; i--) {
        const k = sessionStorage.key(i);
        if (k?.startsWith('isogate.draft.')) sessionStorage.removeItem(k);
      }
    });
    expect((await t.admin('GET', `/admin/apis/${apiId}/selector`)).body.selector.code).toBe(SELECTOR);
  });

  it('Variables: the operator-written value and the rule values that use it', async () => {
    await page.goto(`${t.adminUrl}/variables`);
    expect((await shows(LIT('var'))) || (await inAttributes(P('var')))).toBe(true);
    expect(await injected()).toEqual([]);
  });

  it('Consumers: a Basic username and a JWT subject', async () => {
    await page.goto(`${t.adminUrl}/consumers`);
    expect(await shows(LIT('user'))).toBe(true);
    expect(await shows(LIT('sub'))).toBe(true);
    expect(await injected()).toEqual([]);
  });

  it('Certificates: a certificate whose CN and SANs hold markup, and a refused one', async () => {
    await page.goto(`${t.adminUrl}/certificates`);
    await page.locator('tr[data-certificate]').first().waitFor();
    expect(await shows('hostile.test')).toBe(true);
    expect(await injected()).toEqual([]);
    const bad = namelessCertificate();
    const form = page.locator('form.cert-form');
    await form.getByLabel('Certificate chain (PEM)').fill(bad.certificate);
    await form.getByLabel('Private key (PEM, unencrypted)').fill(bad.privateKey);
    await form.getByRole('button', { name: 'Upload' }).click();
    await page
      .getByText(/names no DNS host/)
      .first()
      .waitFor();
    await page.waitForTimeout(300);
    expect(await injected()).toEqual([]);
  });

  it('Audit: every entry and diff', async () => {
    await page.goto(`${t.adminUrl}/audit`);
    expect(await shows(LIT('api'))).toBe(true);
    // Expand whatever the page folds (details/summary or buttons that show a diff), bounded.
    const toggles = page.locator('summary, button[aria-expanded="false"]');
    const n = Math.min(await toggles.count(), 40);
    for (let i = 0; i < n; i++)
      await toggles
        .nth(i)
        .click({ timeout: 2000 })
        .catch(() => undefined);
    await page.waitForTimeout(300);
    expect(await injected()).toEqual([]);
  });

  it('Cluster and Tokens pages', async () => {
    await page.goto(`${t.adminUrl}/cluster`);
    await page.locator('h1').waitFor();
    await page.goto(`${t.adminUrl}/tokens`);
    await page.getByText('operator-bot').first().waitFor();
    expect(await injected()).toEqual([]);
    expect(watch.pageErrors).toEqual([]);
  });
});

describe('console: hostile names in the selector test panel', () => {
  it('sends query parameters and headers named like Object.prototype members as they were typed', async () => {
    await page.goto(`${t.adminUrl}/apis/${apiId}/selector`);
    const test = page.locator('.test-panel');
    await test.getByRole('button', { name: 'Run test' }).waitFor();
    await test.getByLabel('Query').fill('constructor=yes&toString=t&__proto__=p&plain=1');
    await test.getByLabel('Headers').fill('constructor: c\nhasOwnProperty: h\n__proto__: x\nx-plain: 1');
    const sent = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/selector/test'));
    await test.getByRole('button', { name: 'Run test' }).click();
    const body = JSON.parse((await sent).postData() ?? '{}') as {
      request: { query: Record<string, unknown>; headers: Record<string, unknown> };
    };
    // Fixed: parseQuery/parseHeaders in web/src/sample.ts collect into a plain `{}` and read `out[name]`
    // first, so `constructor`/`toString`/`hasOwnProperty` find Object.prototype's functions (sent as
    // `[null, "yes"]`) and `__proto__` replaces the object's prototype instead of adding a key (the
    // parameter disappears). Fix: use Object.create(null) or a Map, or check Object.hasOwn(out, name).
    expect(body.request.query).toEqual(JSON.parse('{"constructor":"yes","toString":"t","__proto__":"p","plain":"1"}'));
    expect(JSON.stringify(body.request.query)).toContain('"__proto__":"p"');
    expect(body.request.headers).toEqual(
      JSON.parse('{"constructor":"c","hasownproperty":"h","__proto__":"x","x-plain":"1"}'),
    );
  });
});

describe('console: stored values survive an unrelated edit', () => {
  // Values the model accepts but a text box cannot hold as they are: commas and spaces inside list
  // items, empty items, line breaks. An editor or operator can store them through the admin API; an
  // admin who then changes something else in the console must not rewrite them.
  const RULES = [
    { variable: 'REGION', op: 'in', value: ['eu, west', 'us'] },
    { variable: 'REGION', op: 'not_in', value: ['', ' padded '] },
    { variable: 'REGION', op: 'eq', value: 'two\nlines' },
  ];
  let rtApi: string;
  let rtNode: string;

  beforeAll(async () => {
    rtApi = (await t.admin('POST', '/admin/apis', { name: 'roundtrip', path: '/rt/*', algorithm: 'round_robin' })).body
      .id;
    rtNode = (
      await t.admin('POST', `/admin/apis/${rtApi}/nodes`, {
        name: 'rt-node',
        connector: { kind: 'simple-url', url: ups[0]!.url },
        rules: RULES,
      })
    ).body.id;
    await t.admin('POST', `/admin/apis/${rtApi}/nodes`, {
      name: 'rt-spare',
      connector: { kind: 'simple-url', url: ups[0]!.url },
    });
    expect((await as(secrets.operator!, 'PUT', '/admin/variables/MULTI', { value: 'line1\nline2' })).status).toBe(201);
  });

  it("changing a node's weight in the console keeps its rules as stored", async () => {
    expect((await t.admin('GET', `/admin/apis/${rtApi}/nodes/${rtNode}`)).body.rules).toEqual(RULES);
    await page.goto(`${t.adminUrl}/apis/${rtApi}/nodes`);
    await page.getByRole('button', { name: 'Edit node rt-node' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Weight').fill('2');
    await dialog.getByRole('button', { name: 'Save node' }).click();
    await expect
      .poll(async () => (await t.admin('GET', `/admin/apis/${rtApi}/nodes/${rtNode}`)).body.weight, { timeout: 10_000 })
      .toBe(2);
    // Fixed: web/src/components/rules-editor.ts shows a list rule as `value.join(', ')` and reads it back
    // with splitList() (split on ",", trim, drop empties), and an `eq` value in an <input type=text>
    // (which drops line breaks); node-form.ts always sends `rules: rules.read()`. So saving only a
    // new weight turns `in ["eu, west","us"]` into `in ["eu","west","us"]`, `not_in ["", " padded "]`
    // into `not_in ["padded"]` and `eq "two\nlines"` into `eq "twolines"`: the node's routing changes
    // silently. Fix: send `rules` only when the rules editor was touched, and edit list values one item
    // per row (or as JSON) and multi-line values in a textarea.
    expect((await t.admin('GET', `/admin/apis/${rtApi}/nodes/${rtNode}`)).body.rules).toEqual(RULES);
  });

  it("saving a variable's value unchanged in the console keeps its line break", async () => {
    await page.goto(`${t.adminUrl}/variables`);
    await page.getByRole('button', { name: 'Edit MULTI' }).click();
    await page.getByRole('textbox', { name: 'Value of MULTI' }).waitFor();
    await page.locator('form.inline-edit').getByRole('button', { name: 'Save' }).click();
    const dialog = page.getByRole('dialog');
    if (await dialog.isVisible().catch(() => false)) await dialog.getByRole('button').last().click();
    await page.locator('form.inline-edit').waitFor({ state: 'detached' });
    // Fixed: editValue() in web/src/views/variable-forms.ts edits the value in an <input type=text>,
    // which strips line breaks, so Edit → Save with no change stores "line1line2". Fix: a textarea for
    // values holding a line break (or refuse line breaks in VariableValue, src/model/variable.ts).
    expect((await t.admin('GET', '/admin/variables/MULTI')).body.value).toBe('line1\nline2');
  });
});

describe('console: the admin token', () => {
  it('lives in sessionStorage only: no localStorage, no cookie, never in a URL or the page', async () => {
    const seen: string[] = [];
    page.on('request', (r) => seen.push(r.url()));
    await page.goto(`${t.adminUrl}/apis/${apiId}/nodes`);
    await page.locator('tr').nth(1).waitFor();
    const state = await page.evaluate(() => ({
      local: localStorage.length,
      cookie: document.cookie,
      session: sessionStorage.getItem('isogate.token'),
      html: document.documentElement.outerHTML,
    }));
    expect(state.local).toBe(0);
    expect(state.cookie).toBe('');
    expect(state.session).toBe(TOKEN);
    expect(state.html).not.toContain(TOKEN);
    expect(seen.filter((u) => u.includes(TOKEN))).toEqual([]);
    expect((await context.cookies()).length).toBe(0);
  });

  it('serves the console with a CSP that forbids framing and inline scripts, nosniff and no referrer', async () => {
    for (const path of ['/', '/apis', `/apis/${apiId}/nodes`, '/sign-in?next=%2Ftokens', '/index.html']) {
      const res = await fetch(t.adminUrl + path);
      await res.arrayBuffer();
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toMatch(/frame-ancestors 'none'/);
      expect(csp, path).toMatch(/script-src 'self'(;|$)/);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(res.headers.get('cross-origin-opener-policy'), path).toBe('same-origin');
    }
  });

  it('sign-out forgets the token and the drafts', async () => {
    const p = await context.newPage();
    await p.goto(`${t.adminUrl}/sign-in`);
    await p.getByLabel('Admin token').fill(TOKEN);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.waitForURL(/\/apis$/);
    await p.getByRole('button', { name: 'Sign out' }).click();
    await p.waitForURL(/\/sign-in/);
    expect(await p.evaluate(() => sessionStorage.length)).toBe(0);
    await p.goto(`${t.adminUrl}/variables`);
    await p.waitForURL(/\/sign-in/);
    await p.close();
  });

  for (const next of [
    '//evil.test/x',
    '/\\evil.test/x',
    '/%09/evil.test',
    '/\t/evil.test',
    'https://evil.test/',
    'javascript:alert(1)',
  ]) {
    it(`sign-in with next=${next} stays on the console and lands on a console page`, async () => {
      const p = await context.newPage();
      p.setDefaultTimeout(10_000);
      await p.goto(`${t.adminUrl}/sign-in?next=${encodeURIComponent(next)}`);
      await p.getByLabel('Admin token').fill(TOKEN);
      await p.getByRole('button', { name: 'Sign in' }).click();
      // Fixed (for `/\evil.test` and `/<tab>/evil.test`): nextPath() in web/src/views/sign-in.ts only refuses
      // `//`; the URL parser reads `/\host` and `/\t/host` as `//host`, so history.replaceState throws a
      // SecurityError; sign-in shows "Something went wrong: Failed to execute replaceState…" and stays on the sign-in page (though it stored the token).
      // Not an open redirect (replaceState cannot leave the origin), but a crafted link breaks sign-in.
      // Bounded: until the page leaves sign-in or shows an error.
      await p.waitForFunction(
        () =>
          location.pathname !== '/sign-in' ||
          [...document.querySelectorAll('.form-error')].some((e) => !(e as HTMLElement).hidden && e.textContent),
        undefined,
        { timeout: 10_000 },
      );
      const errors = await p.locator('.form-error:visible').allTextContents();
      expect(errors).toEqual([]);
      expect(new URL(p.url()).origin).toBe(t.adminUrl);
      expect(new URL(p.url()).pathname).not.toBe('/sign-in');
      await p.close();
    });
  }
});

describe('console: a hostile page on another origin', () => {
  let evil: Server;
  let evilUrl: string;
  let html = '';

  beforeAll(async () => {
    evil = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(req.url === '/inner' ? '<!doctype html><div id=app>control</div>' : html);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    // localhost vs 127.0.0.1: another origin (and another site) than the console's.
    evilUrl = `http://localhost:${(evil.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => evil?.close(resolve));
  });

  it('cannot frame the console (clickjacking)', async () => {
    html = `<!doctype html><title>evil</title><iframe name=control src="/inner"></iframe>
<iframe name=target src="${t.adminUrl}/apis" width=800 height=600></iframe>`;
    const p = await context.newPage();
    await p.goto(evilUrl);
    await p.waitForTimeout(1500);
    // The control frame (no CSP) shows that a framed page would be seen here.
    const control = p.frame({ name: 'control' });
    expect(await control!.evaluate(() => document.querySelector('#app') !== null)).toBe(true);
    const frame = p.frame({ name: 'target' });
    expect(frame).not.toBeNull();
    // A blocked frame shows Chromium's error page, not the console.
    const framed = await frame!
      .evaluate(() => document.querySelector('#app, .topbar, .sign-in, main') !== null)
      .catch(() => false);
    expect(framed).toBe(false);
    await p.close();
  });

  it('cannot read or write through the admin API: no CORS, no ambient credentials, JSON bodies only', async () => {
    const before = (await t.admin('GET', '/admin/apis')).body.length;
    html = `<!doctype html><title>evil</title>
<form id=f1 method=POST action="${t.adminUrl}/admin/apis" enctype="text/plain" target=sink>
<input name='{"name":"csrf-form","path":"/csrf1","x":"' value='"}'></form>
<form id=f2 method=POST action="${t.adminUrl}/admin/variables/CSRF" target=sink><input name=value value=1></form>
<iframe name=sink></iframe>`;
    const p = await context.newPage();
    await p.goto(evilUrl);
    const results = await p.evaluate(
      async ({ admin, token }) => {
        const out: Record<string, string> = {};
        const tryFetch = async (name: string, url: string, init: RequestInit) => {
          try {
            const r = await fetch(url, init);
            out[name] = `status ${r.status} ${await r.text()}`;
          } catch (e) {
            out[name] = `blocked ${String(e)}`;
          }
        };
        // Even with the token (say, leaked), another origin may not read the answer: no CORS headers.
        await tryFetch('read', `${admin}/admin/whoami`, { headers: { authorization: `Bearer ${token}` } });
        await tryFetch('read-plain', `${admin}/admin/apis`, {});
        await tryFetch('write-nocors', `${admin}/admin/apis`, {
          method: 'POST',
          mode: 'no-cors',
          headers: { 'content-type': 'text/plain' },
          body: JSON.stringify({ name: 'csrf-fetch', path: '/csrf2' }),
        });
        await tryFetch('write-cors-token', `${admin}/admin/apis`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ name: 'csrf-cors', path: '/csrf3' }),
        });
        (document.getElementById('f1') as HTMLFormElement).submit();
        await new Promise((r) => setTimeout(r, 500));
        (document.getElementById('f2') as HTMLFormElement).submit();
        await new Promise((r) => setTimeout(r, 500));
        return out;
      },
      { admin: t.adminUrl, token: TOKEN },
    );
    expect(results.read).toMatch(/^blocked/);
    expect(results['read-plain']).toMatch(/^blocked/);
    expect(results['write-cors-token']).toMatch(/^blocked/);
    await p.close();
    // Nothing was written.
    const apis = (await t.admin('GET', '/admin/apis')).body as Array<{ name: string }>;
    expect(apis.length).toBe(before);
    expect(apis.map((a) => a.name).filter((n) => n.startsWith('csrf'))).toEqual([]);
    expect((await t.admin('GET', '/admin/variables/CSRF')).status).toBe(404);
  });

  it('an admin API preflight from another origin gets no CORS allowance', async () => {
    const res = await fetch(`${t.adminUrl}/admin/apis`, {
      method: 'OPTIONS',
      headers: {
        origin: evilUrl,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    await res.arrayBuffer();
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    const get = await fetch(`${t.adminUrl}/admin/apis`, {
      headers: { origin: evilUrl, authorization: `Bearer ${TOKEN}` },
    });
    await get.arrayBuffer();
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a console URL that carries markup is not reflected as HTML', async () => {
    const p = await context.newPage();
    await p.goto(`${t.adminUrl}/sign-in`);
    await p.getByLabel('Admin token').fill(TOKEN);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.waitForURL(/\/apis$/);
    await p.goto(`${t.adminUrl}/apis/${encodeURIComponent(P('url'))}/nodes?x=${encodeURIComponent(MARK)}`);
    await p.locator('[role="alert"], .form-error, h1').first().waitFor();
    await p.waitForTimeout(500);
    expect(await injected(p)).toEqual([]);
    await p.goto(`${t.adminUrl}/${encodeURIComponent(P('nf'))}`);
    await p.waitForTimeout(500);
    expect(await injected(p)).toEqual([]);
    await p.close();
  });
});
