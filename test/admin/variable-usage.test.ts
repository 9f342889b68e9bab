import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from './harness.js';

describe('GET /admin/variable-usage', () => {
  let h: AdminHarness;
  beforeEach(async () => {
    h = await startAdmin();
  });
  afterEach(() => h.close());

  async function api(name: string): Promise<string> {
    return (await h.call('POST', '/admin/apis', { name, path: `/${name}/*`, algorithm: 'round_robin' })).body.id;
  }
  async function node(apiId: string, name: string, rules: unknown[]): Promise<string> {
    const res = await h.call('POST', `/admin/apis/${apiId}/nodes`, {
      name,
      connector: { kind: 'simple-url', url: 'http://10.0.0.1' },
      rules,
    });
    return res.body.id;
  }

  it('names the nodes of each API whose rules read each variable, and whether they hold now', async () => {
    await h.call('PUT', '/admin/variables/IP1_enable', { value: 'true' });
    await h.call('PUT', '/admin/variables/unused', { value: 'x' });
    const shop = await api('shop');
    const blog = await api('blog');
    const a = await node(shop, 'a', [{ variable: 'IP1_enable', op: 'eq', value: 'true' }]);
    const b = await node(blog, 'b', [
      { variable: 'IP1_enable', op: 'eq', value: 'true' },
      { variable: 'IP1_enable', op: 'ne', value: 'true' },
      { variable: 'REGION', op: 'in', value: ['eu'] },
    ]);
    await node(blog, 'c', []);

    const res = await h.call('GET', '/admin/variable-usage');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      {
        name: 'IP1_enable',
        value: 'true',
        uses: [
          { apiId: blog, apiName: 'blog', nodeId: b, nodeName: 'b', holds: false },
          { apiId: shop, apiName: 'shop', nodeId: a, nodeName: 'a', holds: true },
        ],
      },
      // Used by a rule but not defined: such a rule never holds.
      { name: 'REGION', value: null, uses: [{ apiId: blog, apiName: 'blog', nodeId: b, nodeName: 'b', holds: false }] },
      { name: 'unused', value: 'x', uses: [] },
    ]);
  });

  it('is empty on an empty config and needs the token', async () => {
    expect((await h.call('GET', '/admin/variable-usage')).body).toEqual([]);
    expect((await h.call('GET', '/admin/variable-usage', undefined, { token: null })).status).toBe(401);
  });
});
