import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeConnectorKinds } from '../../src/connectors/registry.js';
import { startAdmin, type AdminHarness } from './harness.js';

const minimal = { name: 'orders', path: '/orders/*', algorithm: 'round_robin' };

describe('admin APIs', () => {
  let h: AdminHarness;
  beforeEach(async () => {
    h = await startAdmin();
  });
  afterEach(() => h.close());

  async function create(fields: Record<string, unknown> = {}) {
    const res = await h.call('POST', '/admin/apis', { ...minimal, ...fields });
    expect(res.status).toBe(201);
    return res.body;
  }

  it('creates an API with 201, an id and every default filled, and applies it before answering', async () => {
    const res = await h.call('POST', '/admin/apis', minimal);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'orders',
      host: null,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      path: '/orders/*',
      stripPrefix: false,
      algorithm: 'round_robin',
      timeouts: { connectMs: 3000, headersMs: 30000, bodyMs: 60000, upgradeIdleMs: 300000 },
      retries: 1,
      maxBodyBytes: 10 * 1024 * 1024,
      selector: null,
      retry: {
        methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
        timeouts: true,
        statuses: [502, 503, 504],
        deadlineMs: null,
        budgetPercent: 20,
        budgetMinConcurrent: 3,
      },
      health: {
        active: null,
        passive: {
          consecutiveFailures: 5,
          statuses: [500, 502, 503, 504],
          timeouts: true,
          baseEjectionMs: 30000,
          maxEjectionMs: 300000,
        },
        panic: 'use-all',
      },
      hashOn: null,
      httpsRedirect: false,
      access: { auth: null, limits: [], ip: null, cors: null },
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(h.runtime.appliedCalls).toBe(1);
    expect(h.runtime.servingVersion).toBe(1);
    expect((await h.call('GET', `/admin/apis/${res.body.id}`)).body).toEqual(res.body);
  });

  it('refuses bad bodies with 400, field paths, and nothing written', async () => {
    const cases: Array<[unknown, string[]]> = [
      [{ path: '/x', algorithm: 'weighted' }, ['name']],
      [{ ...minimal, path: 'orders' }, ['path']],
      [{ ...minimal, path: '/a/*/b' }, ['path']],
      [{ ...minimal, algorithm: 'random' }, ['algorithm']],
      [{ ...minimal, methods: ['GET', 'BREW'] }, ['methods.1']],
      [{ ...minimal, methods: [] }, ['methods']],
      [{ ...minimal, timeouts: { connectMs: 0 } }, ['timeouts.connectMs']],
      [{ ...minimal, host: 'bad host!' }, ['host']],
      [{ ...minimal, retries: 11, color: 'red' }, ['color', 'retries']],
      [{ ...minimal, selector: { code: '' } }, ['selector.code']],
      [[minimal], ['']],
    ];
    for (const [body, paths] of cases) {
      const res = await h.call('POST', '/admin/apis', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      const got = [...new Set(res.body.error.details.map((d: { path: string }) => d.path))].sort();
      expect(got, JSON.stringify(body)).toEqual(paths);
      for (const d of res.body.error.details) expect(typeof d.message).toBe('string');
    }
    expect(await h.store.version()).toBe(0);
    expect(await h.store.listApis()).toEqual([]);
    expect(h.runtime.appliedCalls).toBe(0);
  });

  it('answers 404 API_NOT_FOUND for unknown ids on every API route', async () => {
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { retries: 2 }],
      ['DELETE', undefined],
    ] as const) {
      const res = await h.call(method, '/admin/apis/00000000-0000-0000-0000-000000000000', body);
      expect(res.status, method).toBe(404);
      expect(res.body.error.code).toBe('API_NOT_FOUND');
    }
    expect(await h.store.version()).toBe(0);
  });

  it('merges a partial timeouts PATCH with the current timeouts and keeps other fields', async () => {
    const api = await create({ timeouts: { headersMs: 1234 }, retries: 3 });
    const res = await h.call('PATCH', `/admin/apis/${api.id}`, { timeouts: { connectMs: 500 }, stripPrefix: true });
    expect(res.status).toBe(200);
    expect(res.body.timeouts).toEqual({ connectMs: 500, headersMs: 1234, bodyMs: 60000, upgradeIdleMs: 300000 });
    expect(res.body).toMatchObject({
      stripPrefix: true,
      retries: 3,
      name: 'orders',
      id: api.id,
      createdAt: api.createdAt,
    });
    expect(await h.store.getApi(api.id)).toEqual(res.body);
    expect(h.runtime.appliedCalls).toBe(2);
  });

  it('refuses an invalid PATCH with field paths and leaves the API as it was', async () => {
    const api = await create();
    const before = await h.store.version();
    const res = await h.call('PATCH', `/admin/apis/${api.id}`, { timeouts: { bodyMs: -1 }, id: 'mine', name: '' });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'id',
      'name',
      'timeouts.bodyMs',
    ]);
    expect(await h.store.version()).toBe(before);
    expect(await h.store.getApi(api.id)).toEqual(api);
  });

  it('answers 409 ROUTE_CONFLICT and API_NAME_TAKEN and writes nothing', async () => {
    const a = await create({ name: 'a', path: '/shop', methods: ['GET'] });
    await create({ name: 'b', path: '/shop', methods: ['POST'] });
    const before = await h.store.version();

    const route = await h.call('POST', '/admin/apis', {
      ...minimal,
      name: 'c',
      path: '/shop',
      methods: ['GET', 'PUT'],
    });
    expect(route.status).toBe(409);
    expect(route.body.error).toEqual({ code: 'ROUTE_CONFLICT', message: expect.stringContaining('"a"') });

    const name = await h.call('POST', '/admin/apis', { ...minimal, name: 'A' });
    expect(name.status).toBe(409);
    expect(name.body.error.code).toBe('API_NAME_TAKEN');

    const patch = await h.call('PATCH', `/admin/apis/${a.id}`, { methods: ['GET', 'POST'] });
    expect(patch.status).toBe(409);
    expect(patch.body.error.code).toBe('ROUTE_CONFLICT');

    expect(await h.store.version()).toBe(before);
    expect((await h.store.getApi(a.id))!.methods).toEqual(['GET']);
  });

  it('lists APIs with node counts and selector state', async () => {
    const plain = await create({ name: 'plain', path: '/plain' });
    const withSelector = await create({
      name: 'sel',
      path: '/sel',
      selector: { code: 'function select(r, e, n) { return n; }' },
    });
    for (const enabled of [true, true, false]) {
      const res = await h.call('POST', `/admin/apis/${plain.id}/nodes`, {
        name: `n${Math.random()}`,
        enabled,
        connector: { kind: 'simple-url', url: 'http://10.0.0.1:80' },
      });
      expect(res.status).toBe(201);
    }
    const res = await h.call('GET', '/admin/apis');
    expect(res.status).toBe(200);
    const byName = new Map(res.body.map((a: { name: string }) => [a.name, a]));
    const idle = { requests: 0, errors: 0, rps: 0, errorRate: 0, p99Ms: null };
    expect(byName.get('plain')).toEqual({
      ...(await h.store.getApi(plain.id)),
      nodeCounts: { enabled: 2, total: 3 },
      selectorState: 'none',
      availability: expect.objectContaining({ state: 'ok', usable: 2 }),
      traffic: { lastMinute: idle },
    });
    expect(byName.get('sel')).toMatchObject({
      id: withSelector.id,
      nodeCounts: { enabled: 0, total: 0 },
      selectorState: 'active',
      availability: { state: 'down', reason: 'no-nodes', usable: 0 },
    });
  });

  it('trial-runs a selector given at creation and refuses a failing one', async () => {
    const res = await h.call('POST', '/admin/apis', {
      ...minimal,
      selector: { code: 'function select() {\n  throw new Error("x");\n}' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'SELECTOR_INVALID', details: [{ path: 'code', line: 2, column: 3 }] });
    expect(h.runtime.trials.at(-1)!.request).toEqual({
      method: 'GET',
      path: '/orders/',
      query: {},
      headers: {},
      body: null,
      clientIp: '127.0.0.1',
      consumer: null,
    });
    expect(await h.store.listApis()).toEqual([]);
    expect(await h.store.version()).toBe(0);
  });

  it('deletes an API with 204, then answers 404', async () => {
    const api = await create();
    await h.call('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'n',
      connector: { kind: 'simple-url', url: 'http://10.0.0.1' },
    });
    const del = await h.call('DELETE', `/admin/apis/${api.id}`);
    expect(del.status).toBe(204);
    expect(del.body).toBeNull();
    expect((await h.call('GET', `/admin/apis/${api.id}`)).status).toBe(404);
    expect(await h.store.listNodes(api.id)).toEqual([]);
    // A client that always sends the JSON content type can still DELETE without a body.
    const again = await h.call('DELETE', `/admin/apis/${api.id}`, undefined, { raw: '' });
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('API_NOT_FOUND');
  });

  it('calls applied() exactly once per successful write and never for failed ones', async () => {
    const api = await create();
    await h.call('PATCH', `/admin/apis/${api.id}`, { retries: 2 });
    await h.call('PATCH', `/admin/apis/${api.id}`, { retries: 99 });
    await h.call('POST', '/admin/apis', minimal);
    await h.call('GET', '/admin/apis');
    await h.call('DELETE', `/admin/apis/${api.id}`);
    expect(h.runtime.appliedCalls).toBe(3);
    expect(await h.store.version()).toBe(3);
    expect(h.runtime.servingVersion).toBe(3);
  });

  it('serves the connector kinds and the config version', async () => {
    const kinds = await h.call('GET', '/admin/connectors');
    expect(kinds.status).toBe(200);
    expect(kinds.body).toEqual(JSON.parse(JSON.stringify(describeConnectorKinds())));
    expect(kinds.body.map((k: { kind: string }) => k.kind)).toContain('simple-url');

    expect((await h.call('GET', '/admin/config/version')).body).toEqual({ version: 0 });
    await create();
    expect((await h.call('GET', '/admin/config/version')).body).toEqual({ version: 1 });
  });
});
