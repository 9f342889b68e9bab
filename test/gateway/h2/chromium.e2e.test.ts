import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM } from '../../helpers/browser.js';
import { TestCa, type TestCertificate } from '../../helpers/certs.js';
import { addNode, createApi } from '../../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../../helpers/upstreams.js';

// HTTP/2 against an implementation that shares nothing with ours or node's (nghttp2): Chromium's
// own network stack, with its SETTINGS, windows, priorities and HPACK encoder.
const HOST = 'h2.test';
let t: TestGateway;
let ups: TestUpstream[];
let ca: TestCa;
let cert: TestCertificate;
let big: Server;
let browser: Browser;
let origin: string;

/** A node that answers /big/<bytes> with that many bytes and echoes a POST body's length. */
function startBigNode(): Promise<Server> {
  const server = createServer((req, res) => {
    let received = 0;
    req.on('data', (c: Buffer) => (received += c.length));
    req.on('end', () => {
      const size = Number(/\/big\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
      res.writeHead(200, { 'content-type': 'text/plain', 'x-received': String(received) });
      res.end(Buffer.alloc(size, 'z'));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  ca = new TestCa();
  cert = ca.issue([HOST]);
  t = await startTestGateway(['--gateway-tls-port', '0']);
  const port = t.app.gatewayTls!.port;
  origin = `https://${HOST}:${port}`;
  ups = await startUpstreams(['a', 'b', 'c']);
  expect(
    (await t.admin('POST', '/admin/certificates', { certificate: cert.certificate, privateKey: cert.privateKey }))
      .status,
  ).toBe(201);
  const spread = await createApi(t, { name: 'spread', path: '/spread/*', algorithm: 'round_robin' });
  for (const u of ups) await addNode(t, spread, u);
  big = await startBigNode();
  const bigApi = await createApi(t, { name: 'big', path: '/big/*', algorithm: 'round_robin' });
  await addNode(t, bigApi, { name: 'big', url: `http://127.0.0.1:${(big.address() as AddressInfo).port}` });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', `--host-resolver-rules=MAP ${HOST} 127.0.0.1`],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  big?.close();
  ca?.dispose();
});

describe('HTTP/2 with Chromium as the client', () => {
  it('loads a page over h2, then runs concurrent fetches, uploads and a large download on the session', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const response = await page.goto(`${origin}/spread/page`);
    expect(response?.status()).toBe(200);
    const result = await page.evaluate(async () => {
      const protocol = (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol;
      const spread = await Promise.all(
        Array.from({ length: 60 }, (_, i) => fetch(`/spread/${i}`).then((r) => r.headers.get('x-node'))),
      );
      const uploads = await Promise.all(
        [0, 1, 70_000, 300_000].map((n) =>
          fetch('/big/0', { method: 'POST', body: 'u'.repeat(n) }).then((r) => Number(r.headers.get('x-received'))),
        ),
      );
      const download = await fetch('/big/3000000').then((r) => r.arrayBuffer());
      return { protocol, spread, uploads, downloaded: download.byteLength };
    });
    expect(result.protocol).toBe('h2');
    const counts: Record<string, number> = {};
    for (const node of result.spread) counts[String(node)] = (counts[String(node)] ?? 0) + 1;
    expect(counts).toEqual({ a: 20, b: 20, c: 20 });
    expect(result.uploads).toEqual([0, 1, 70_000, 300_000]);
    expect(result.downloaded).toBe(3_000_000);
    await context.close();
  });
});
