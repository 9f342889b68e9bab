import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ERRORS, type GatewayErrorCode } from '../../src/gateway/errors.js';
import { STATUS_ERRORS } from '../../src/status/server.js';
import { addNode, createApi, setSelector } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { get, HOST, msg, RawClient, type WireResponse } from '../helpers/raw-client.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { startAdmin, TOKEN, type AdminHarness } from './harness.js';

// Every JSON answer ends with a newline (so `curl` output ends its line), errors too: the admin
// API's, the gateway port's own errors and the status port's.
let h: AdminHarness;
beforeAll(async () => {
  h = await startAdmin();
});
afterAll(() => h.close());

/** The raw answer: status, content type, declared length and the exact text. */
async function raw(method: string, path: string, init: { token?: string | null; body?: string } = {}) {
  const headers: Record<string, string> = {};
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? TOKEN}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(h.base + path, { method, headers, body: init.body });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    length: Number(res.headers.get('content-length')),
    text,
  };
}

describe('admin API JSON answers', () => {
  it.each([
    ['a list', 'GET', '/admin/apis', {}, 200],
    ['an object', 'GET', '/admin/config/version', {}, 200],
    [
      'a created object',
      'POST',
      '/admin/apis',
      { body: JSON.stringify({ name: 'nl', path: '/nl', algorithm: 'round_robin' }) },
      201,
    ],
    ['a validation error', 'POST', '/admin/apis', { body: JSON.stringify({ name: '' }) }, 400],
    ['malformed JSON', 'POST', '/admin/apis', { body: '{"name":' }, 400],
    ['an unknown route', 'GET', '/admin/nope', {}, 404],
    ['a missing token', 'GET', '/admin/apis', { token: null }, 401],
  ] as const)(
    '%s ends with one newline and is still JSON of the declared length',
    async (_what, method, path, init, status) => {
      const r = await raw(method, path, init);
      expect(r.status).toBe(status);
      expect(r.type).toMatch(/^application\/json/);
      expect(r.text.endsWith('\n')).toBe(true);
      expect(r.text.endsWith('\n\n')).toBe(false);
      expect(Buffer.byteLength(r.text)).toBe(r.length);
      expect(() => JSON.parse(r.text)).not.toThrow();
    },
  );

  it('a 204 has no body at all', async () => {
    const created = await h.call('POST', '/admin/apis', { name: 'gone', path: '/gone', algorithm: 'round_robin' });
    const r = await raw('DELETE', `/admin/apis/${created.body.id}`);
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
  });
});

/** The text ends with exactly one newline, is the declared length and parses as JSON. */
function expectJsonLine(text: string, declaredLength: number): unknown {
  expect(text.endsWith('\n')).toBe(true);
  expect(text.endsWith('\n\n')).toBe(false);
  expect(Buffer.byteLength(text)).toBe(declaredLength);
  return JSON.parse(text);
}

describe('gateway and status port JSON answers', () => {
  let t: TestGateway;
  let ups: TestUpstream[];
  beforeAll(async () => {
    t = await startTestGateway();
    ups = await startUpstreams(['a']);
  });
  afterAll(async () => {
    await t?.stop();
    await Promise.all((ups ?? []).map((u) => u.close()));
  });

  /** Sends `bytes` on a fresh socket to the gateway port and reads one answer off the wire. */
  async function wire(bytes: string): Promise<WireResponse> {
    const c = await RawClient.connect(t.app.gateway!.port);
    try {
      c.write(bytes);
      const [res] = await c.read(1);
      return res!;
    } finally {
      c.destroy();
    }
  }

  function expectGatewayErrorLine(res: WireResponse, code: GatewayErrorCode): void {
    expect(res.status).toBe(GATEWAY_ERRORS[code].status);
    expect(res.headers['x-isogate-error']).toBe(code);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(expectJsonLine(res.text, Number(res.headers['content-length']))).toEqual({
      error: { code, message: GATEWAY_ERRORS[code].message },
    });
  }

  it('a gateway error made after routing (no API matches) ends with one newline', async () => {
    expectGatewayErrorLine(await wire(get('/nothing-here')), 'ROUTE_NOT_FOUND');
  });

  it("a gateway error made by the balance stage (the selector's empty answer) ends with one newline", async () => {
    const id = await createApi(t, { name: 'nl-empty', path: '/nl-empty', algorithm: 'round_robin' });
    await addNode(t, id, ups[0]!);
    await setSelector(t, id, {
      code: 'function select(request, env, nodes) { return request.query.none ? [] : nodes; }',
    });
    expect(await t.nodeOf('/nl-empty')).toBe('a');
    expectGatewayErrorLine(await wire(get('/nl-empty?none=1')), 'SELECTOR_EMPTY');
  });

  it('a refusal at the HTTP layer (two spaces in the request line) ends with one newline', async () => {
    expectGatewayErrorLine(await wire(msg('GET  /a/ HTTP/1.1', [HOST])), 'BAD_REQUEST');
  });

  it.each([
    ['/status', 200, 'status'],
    ['/status/ready', 200, 'ready'],
  ] as const)('GET %s ends with one newline and is still JSON of the declared length', async (path, status, key) => {
    const res = await fetch(t.statusUrl + path);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = expectJsonLine(await res.text(), Number(res.headers.get('content-length')));
    expect(body).toHaveProperty(key);
  });

  it('an unknown status path is a NOT_FOUND error that ends with one newline', async () => {
    const res = await fetch(t.statusUrl + '/status/nope');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(expectJsonLine(await res.text(), Number(res.headers.get('content-length')))).toEqual({
      error: { code: 'NOT_FOUND', message: STATUS_ERRORS.NOT_FOUND.message },
    });
  });

  it('/metrics stays Prometheus text', async () => {
    const res = await fetch(t.statusUrl + '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/^# HELP /m);
  });
});
