import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from './harness.js';

const connector = { kind: 'simple-url', url: 'http://10.0.0.1:8080/base' };

describe('admin nodes', () => {
  let h: AdminHarness;
  let apiId: string;
  beforeEach(async () => {
    h = await startAdmin();
    apiId = (await h.call('POST', '/admin/apis', { name: 'orders', path: '/orders/*', algorithm: 'weighted' })).body.id;
  });
  afterEach(() => h.close());

  it('creates (201, defaults filled), lists in order, reads, patches and deletes (204) nodes', async () => {
    const created = await h.call('POST', `/admin/apis/${apiId}/nodes`, { name: 'a', connector });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      apiId,
      name: 'a',
      connector,
      enabled: true,
      weight: 1,
      tags: [],
      rules: [],
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const b = await h.call('POST', `/admin/apis/${apiId}/nodes`, {
      name: 'b',
      connector,
      weight: 5,
      tags: ['temp'],
      rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }],
    });
    expect(b.status).toBe(201);

    const list = await h.call('GET', `/admin/apis/${apiId}/nodes`);
    expect(list.body.map((n: { name: string }) => n.name)).toEqual(['a', 'b']);
    expect((await h.call('GET', `/admin/apis/${apiId}/nodes/${b.body.id}`)).body).toEqual(b.body);

    const patched = await h.call('PATCH', `/admin/apis/${apiId}/nodes/${created.body.id}`, {
      enabled: false,
      weight: 3,
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ ...created.body, enabled: false, weight: 3, updatedAt: expect.any(String) });
    expect(await h.store.getNode(apiId, created.body.id)).toEqual(patched.body);

    const del = await h.call('DELETE', `/admin/apis/${apiId}/nodes/${created.body.id}`);
    expect(del.status).toBe(204);
    expect((await h.call('GET', `/admin/apis/${apiId}/nodes`)).body.map((n: { name: string }) => n.name)).toEqual([
      'b',
    ]);
    // create API + 2 node creates + patch + delete
    expect(h.runtime.appliedCalls).toBe(5);
    expect(await h.store.version()).toBe(5);
  });

  it('validates the connector url and the rules with field paths, writing nothing', async () => {
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ name: 'x', connector: { kind: 'simple-url', url: 'ftp://10.0.0.1' } }, ['connector.url']],
      [{ name: 'x', connector: { kind: 'simple-url', url: 'http://u:p@10.0.0.1' } }, ['connector.url']],
      [{ name: 'x', connector: { kind: 'simple-url', url: 'http://10.0.0.1/?a=1' } }, ['connector.url']],
      [{ name: 'x', connector: { kind: 'carrier-pigeon' } }, ['connector.kind']],
      [{ name: 'x' }, ['connector']],
      [{ name: 'x', connector, rules: [{ variable: '9lives', op: 'eq', value: 'true' }] }, ['rules.0.variable']],
      [
        {
          name: 'x',
          connector,
          rules: [
            { variable: 'v', op: 'eq', value: 'a' },
            { variable: 'v', op: 'in', value: [] },
          ],
        },
        ['rules.1.value'],
      ],
      [{ name: 'x', connector, rules: [{ variable: 'v', op: 'like', value: 'a' }] }, ['rules.0.op']],
      [{ name: 'x', connector, weight: 0, tags: ['bad tag'] }, ['tags.0', 'weight']],
    ];
    for (const [body, paths] of cases) {
      const res = await h.call('POST', `/admin/apis/${apiId}/nodes`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(
        [...new Set(res.body.error.details.map((d: { path: string }) => d.path))].sort(),
        JSON.stringify(body),
      ).toEqual(paths);
    }
    expect(await h.store.listNodes(apiId)).toEqual([]);
    expect(await h.store.version()).toBe(1);
  });

  it('refuses an invalid PATCH and keeps the node', async () => {
    const node = (await h.call('POST', `/admin/apis/${apiId}/nodes`, { name: 'a', connector })).body;
    const res = await h.call('PATCH', `/admin/apis/${apiId}/nodes/${node.id}`, {
      connector: { kind: 'simple-url', url: 'not a url' },
      rules: [{ variable: 'x', op: 'eq' }],
      apiId: 'elsewhere',
    });
    expect(res.status).toBe(400);
    expect([...new Set(res.body.error.details.map((d: { path: string }) => d.path))].sort()).toEqual([
      'apiId',
      'connector.url',
      'rules.0.value',
    ]);
    expect(await h.store.getNode(apiId, node.id)).toEqual(node);
    expect(await h.store.version()).toBe(2);
  });

  it('tells an unknown API from an unknown node', async () => {
    const missingApi = '11111111-1111-1111-1111-111111111111';
    const node = (await h.call('POST', `/admin/apis/${apiId}/nodes`, { name: 'a', connector })).body;

    for (const [method, path, body] of [
      ['GET', `/admin/apis/${missingApi}/nodes`, undefined],
      ['POST', `/admin/apis/${missingApi}/nodes`, { name: 'a', connector }],
      ['GET', `/admin/apis/${missingApi}/nodes/${node.id}`, undefined],
      ['PATCH', `/admin/apis/${missingApi}/nodes/${node.id}`, { weight: 2 }],
      ['DELETE', `/admin/apis/${missingApi}/nodes/${node.id}`, undefined],
    ] as const) {
      const res = await h.call(method, path, body);
      expect([method, path, res.status, res.body.error.code]).toEqual([method, path, 404, 'API_NOT_FOUND']);
    }
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { weight: 2 }],
      ['DELETE', undefined],
    ] as const) {
      const res = await h.call(method, `/admin/apis/${apiId}/nodes/nope`, body);
      expect([method, res.status, res.body.error.code]).toEqual([method, 404, 'NODE_NOT_FOUND']);
    }
    expect(await h.store.version()).toBe(2);
  });
});
