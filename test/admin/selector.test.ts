import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from './harness.js';

const good = (n: number) => `function select(request, env, nodes) {\n  return nodes; // v${n}\n}`;
const bad = 'function select(request, env, nodes) {\n  if (request.query.x) {\n    throw new Error("boom");\n  }\n}';

describe('admin selector', () => {
  let h: AdminHarness;
  let apiId: string;
  beforeEach(async () => {
    h = await startAdmin();
    apiId = (await h.call('POST', '/admin/apis', { name: 'shop', path: '/shop/*', algorithm: 'round_robin' })).body.id;
  });
  afterEach(() => h.close());

  it('saves a selector that passes its trial, applies it and shows it with status and history', async () => {
    const res = await h.call('PUT', `/admin/apis/${apiId}/selector`, { code: good(1), timeoutMs: 50 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: apiId,
      selector: { code: good(1), onError: 'use-all', timeoutMs: 50, memoryMb: 32, memoize: 'auto' },
    });
    expect(h.runtime.trials).toHaveLength(1);
    expect(h.runtime.trials[0]!.request).toEqual({
      method: 'GET',
      path: '/shop/',
      query: {},
      headers: {},
      body: null,
      clientIp: '127.0.0.1',
      consumer: null,
    });
    expect(h.runtime.servingVersion).toBe(await h.store.version());

    const got = await h.call('GET', `/admin/apis/${apiId}/selector`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual({
      selector: res.body.selector,
      status: {
        state: 'active',
        calls: 0,
        failures: 0,
        quarantinedAt: null,
        lastErrors: [],
        memoization: { mode: false, active: false, reason: null },
      },
      versions: [{ apiId, version: 1, selector: res.body.selector, savedAt: expect.any(String) }],
    });
  });

  it('passes the sample request to the trial, with header names lower-cased', async () => {
    const sample = {
      method: 'post',
      path: '/shop/cart',
      query: { select_code: 'temp_node' },
      headers: { 'X-User': 'u1' },
      body: '{}',
      clientIp: '10.1.2.3',
    };
    const res = await h.call('PUT', `/admin/apis/${apiId}/selector`, { code: good(1), sample });
    expect(res.status).toBe(200);
    expect(res.body.selector).not.toHaveProperty('sample');
    expect(h.runtime.trials[0]!.request).toEqual({
      ...sample,
      method: 'POST',
      headers: { 'x-user': 'u1' },
      consumer: null,
    });

    const badSample = await h.call('PUT', `/admin/apis/${apiId}/selector`, {
      code: good(2),
      sample: { clientIp: 'nope', path: 'x' },
    });
    expect(badSample.status).toBe(400);
    expect(badSample.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'sample.clientIp',
      'sample.path',
    ]);
  });

  it('refuses a selector that fails its trial with 400 SELECTOR_INVALID and the line, keeping the old one', async () => {
    const first = await h.call('PUT', `/admin/apis/${apiId}/selector`, { code: good(1) });
    const version = await h.store.version();
    const applied = h.runtime.appliedCalls;

    const res = await h.call('PUT', `/admin/apis/${apiId}/selector`, { code: bad });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: {
        code: 'SELECTOR_INVALID',
        message: expect.stringContaining('throw'),
        details: [{ path: 'code', message: 'Error: selector threw', line: 3, column: 5 }],
      },
    });
    expect(await h.store.version()).toBe(version);
    expect(h.runtime.appliedCalls).toBe(applied);
    expect((await h.store.getApi(apiId))!.selector).toEqual(first.body.selector);
    expect(await h.store.listSelectorVersions(apiId)).toHaveLength(1);
  });

  it('refuses a failing selector set through PATCH too', async () => {
    const res = await h.call('PATCH', `/admin/apis/${apiId}`, { selector: { code: bad }, retries: 4 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('SELECTOR_INVALID');
    expect(await h.store.getApi(apiId)).toMatchObject({ selector: null, retries: 1 });
  });

  it('validates the selector body with field paths', async () => {
    const res = await h.call('PUT', `/admin/apis/${apiId}/selector`, { code: '', timeoutMs: 5000, onError: 'ignore' });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'code',
      'onError',
      'timeoutMs',
    ]);
    expect(h.runtime.trials).toHaveLength(0);
  });

  it('clears the selector with DELETE and records the clearing in the history', async () => {
    await h.call('PUT', `/admin/apis/${apiId}/selector`, { code: good(1) });
    const del = await h.call('DELETE', `/admin/apis/${apiId}/selector`);
    expect(del.status).toBe(204);
    const got = await h.call('GET', `/admin/apis/${apiId}/selector`);
    expect(got.body.selector).toBeNull();
    expect(got.body.status).toBeNull();
    expect(
      got.body.versions.map((v: { version: number; selector: unknown }) => [v.version, v.selector === null]),
    ).toEqual([
      [2, true],
      [1, false],
    ]);
  });

  it('keeps the last 20 versions and rolls back to one after a fresh trial', async () => {
    for (let i = 1; i <= 22; i++)
      expect((await h.call('PUT', `/admin/apis/${apiId}/selector`, { code: good(i) })).status).toBe(200);
    const versions = (await h.call('GET', `/admin/apis/${apiId}/selector`)).body.versions;
    expect(versions).toHaveLength(20);
    expect(versions[0].version).toBe(22);
    expect(versions.at(-1).version).toBe(3);

    const trials = h.runtime.trials.length;
    const rollback = await h.call('POST', `/admin/apis/${apiId}/selector/rollback`, { version: 5 });
    expect(rollback.status).toBe(200);
    expect(rollback.body.selector.code).toBe(good(5));
    expect(h.runtime.trials).toHaveLength(trials + 1);
    expect((await h.store.getApi(apiId))!.selector!.code).toBe(good(5));
    const after = await h.store.listSelectorVersions(apiId);
    expect([after[0]!.version, after[0]!.selector!.code]).toEqual([23, good(5)]);

    const gone = await h.call('POST', `/admin/apis/${apiId}/selector/rollback`, { version: 1 });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('SELECTOR_VERSION_NOT_FOUND');
    expect((await h.call('POST', `/admin/apis/${apiId}/selector/rollback`, { version: 'x' })).status).toBe(400);
  });

  it('refuses to roll back to a version that no longer passes its trial', async () => {
    await h.store.setSelector(apiId, { code: bad, onError: 'use-all', timeoutMs: 20, memoryMb: 32, memoize: false });
    await h.call('PUT', `/admin/apis/${apiId}/selector`, { code: good(2) });
    const version = await h.store.version();
    const res = await h.call('POST', `/admin/apis/${apiId}/selector/rollback`, { version: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('SELECTOR_INVALID');
    expect(await h.store.version()).toBe(version);
    expect((await h.store.getApi(apiId))!.selector!.code).toBe(good(2));
  });

  it('explains a sample request with the stored, a given or no selector', async () => {
    await h.call('POST', `/admin/apis/${apiId}/nodes`, {
      name: 'a',
      connector: { kind: 'simple-url', url: 'http://10.0.0.1' },
    });
    const version = await h.store.version();

    const stored = await h.call('POST', `/admin/apis/${apiId}/selector/test`, { request: { query: { a: '1' } } });
    expect(stored.status).toBe(200);
    expect(stored.body).toMatchObject({ pick: { name: 'a', url: 'http://10.0.0.1' }, errorCode: null });
    expect(h.runtime.explains.at(-1)).toEqual({
      apiId,
      request: {
        method: 'GET',
        path: '/shop/',
        query: { a: '1' },
        headers: {},
        body: null,
        clientIp: '127.0.0.1',
        consumer: null,
      },
      selector: undefined,
    });

    await h.call('POST', `/admin/apis/${apiId}/selector/test`, { selector: { code: good(9) } });
    expect(h.runtime.explains.at(-1)!.selector).toMatchObject({ code: good(9), timeoutMs: 20 });
    await h.call('POST', `/admin/apis/${apiId}/selector/test`, { selector: null });
    expect(h.runtime.explains.at(-1)!.selector).toBeNull();
    expect((await h.call('POST', `/admin/apis/${apiId}/selector/test`)).status).toBe(200);

    expect(await h.store.version()).toBe(version);
    expect((await h.call('POST', `/admin/apis/nope/selector/test`, {})).body.error.code).toBe('API_NOT_FOUND');
    expect((await h.call('POST', `/admin/apis/${apiId}/selector/test`, { request: { method: 1 } })).status).toBe(400);
  });

  it('answers 404 for the selector routes of an unknown API', async () => {
    for (const [method, path, body] of [
      ['GET', '/selector', undefined],
      ['PUT', '/selector', { code: good(1) }],
      ['DELETE', '/selector', undefined],
      ['POST', '/selector/rollback', { version: 1 }],
    ] as const) {
      const res = await h.call(method, `/admin/apis/unknown${path}`, body);
      expect([method, path, res.status, res.body.error.code]).toEqual([method, path, 404, 'API_NOT_FOUND']);
    }
  });
});
