import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from './harness.js';

describe('admin variables', () => {
  let h: AdminHarness;
  beforeEach(async () => {
    h = await startAdmin();
  });
  afterEach(() => h.close());

  it('creates with 201, replaces with 200, lists, reads and applies each write', async () => {
    const created = await h.call('PUT', '/admin/variables/IP1_enable', { value: 'true' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ name: 'IP1_enable', value: 'true', updatedAt: expect.any(String) });

    const replaced = await h.call('PUT', '/admin/variables/IP1_enable', { value: 'false' });
    expect(replaced.status).toBe(200);
    expect(replaced.body.value).toBe('false');

    await h.call('PUT', '/admin/variables/A', { value: '' });
    const list = await h.call('GET', '/admin/variables');
    expect(list.body.map((v: { name: string; value: string }) => [v.name, v.value])).toEqual([
      ['A', ''],
      ['IP1_enable', 'false'],
    ]);
    expect((await h.call('GET', '/admin/variables/IP1_enable')).body).toEqual(replaced.body);
    expect(h.runtime.appliedCalls).toBe(3);
    expect(h.runtime.servingVersion).toBe(3);
  });

  it('validates the name in the path and the body', async () => {
    const badName = await h.call('PUT', '/admin/variables/1abc', { value: 'x' });
    expect(badName.status).toBe(400);
    expect(badName.body.error.details).toEqual([{ path: 'name', message: expect.stringContaining('identifier') }]);

    for (const body of [{}, { value: 1 }, { value: 'x', extra: true }, { value: 'x'.repeat(4097) }]) {
      const res = await h.call('PUT', '/admin/variables/ok', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await h.call('GET', '/admin/variables/bad-name')).status).toBe(400);
    expect((await h.call('DELETE', '/admin/variables/bad-name')).status).toBe(400);
    expect(await h.store.version()).toBe(0);
  });

  it('answers 404 VARIABLE_NOT_FOUND for unknown names', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await h.call(method, '/admin/variables/missing');
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('VARIABLE_NOT_FOUND');
    }
    expect(h.runtime.appliedCalls).toBe(0);
  });

  it('deletes a variable and lists the rules that referenced it', async () => {
    await h.call('PUT', '/admin/variables/IP1_enable', { value: 'true' });
    const api = (await h.call('POST', '/admin/apis', { name: 'shop', path: '/shop', algorithm: 'weighted' })).body;
    const connector = { kind: 'simple-url', url: 'http://10.0.0.1' };
    const uses = (
      await h.call('POST', `/admin/apis/${api.id}/nodes`, {
        name: 'ip1-a',
        connector,
        rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }],
      })
    ).body;
    await h.call('POST', `/admin/apis/${api.id}/nodes`, {
      name: 'other',
      connector,
      rules: [{ variable: 'IP2_enable', op: 'eq', value: 'true' }],
    });
    const before = await h.store.version();

    const res = await h.call('DELETE', '/admin/variables/IP1_enable');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      deleted: 'IP1_enable',
      usedBy: [{ apiId: api.id, apiName: 'shop', nodeId: uses.id, nodeName: 'ip1-a' }],
    });
    expect(await h.store.getVariable('IP1_enable')).toBeNull();
    expect(await h.store.version()).toBe(before + 1);
    // The rule stays: a rule on a missing variable does not hold, which is what the operator is warned about.
    expect((await h.store.getNode(api.id, uses.id))!.rules).toHaveLength(1);
  });
});
