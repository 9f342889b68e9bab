import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from './harness.js';

// The audit log over the admin API (issue 17): every config write with who, when, before and after
// and the config version; revert a write and restore a version as new audited writes.

describe('audit log, revert and restore', () => {
  let h: AdminHarness;
  beforeEach(async () => {
    h = await startAdmin();
  });
  afterEach(() => h.close());

  async function seed(): Promise<{ apiId: string; nodeId: string }> {
    await h.call('PUT', '/admin/variables/IP1_enable', { value: 'true' });
    const apiId = (await h.call('POST', '/admin/apis', { name: 'shop', path: '/shop/*', algorithm: 'round_robin' }))
      .body.id;
    const nodeId = (
      await h.call('POST', `/admin/apis/${apiId}/nodes`, {
        name: 'a',
        connector: { kind: 'simple-url', url: 'http://127.0.0.1:9' },
        rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }],
      })
    ).body.id;
    return { apiId, nodeId };
  }

  it('lists every write newest first, filters by object and API, and pages with a cursor', async () => {
    const { apiId, nodeId } = await seed();
    await h.call('PATCH', `/admin/apis/${apiId}/nodes/${nodeId}`, { enabled: false });

    const all = await h.call('GET', '/admin/audit');
    expect(all.status).toBe(200);
    expect(
      all.body.entries.map(
        (e: { version: number; op: string; kind: string; objectName: string }) =>
          `${e.version} ${e.op} ${e.kind} ${e.objectName}`,
      ),
    ).toEqual(['4 update node shop/a', '3 create node shop/a', '2 create api shop', '1 create variable IP1_enable']);
    expect(all.body.entries[0]).toMatchObject({
      actor: { id: 'bootstrap', name: 'admin-token' },
      apiId,
      objectId: nodeId,
      before: { enabled: true },
      after: { enabled: false },
    });

    expect(
      (await h.call('GET', `/admin/audit?apiId=${apiId}&op=create`)).body.entries.map((e: { kind: string }) => e.kind),
    ).toEqual(['node', 'api']);
    expect((await h.call('GET', `/admin/audit?kind=variable`)).body.entries).toHaveLength(1);
    expect(
      (await h.call('GET', `/admin/audit?version=3`)).body.entries.map((e: { objectId: string }) => e.objectId),
    ).toEqual([nodeId]);
    const page = await h.call('GET', '/admin/audit?limit=3');
    expect(page.body.entries).toHaveLength(3);
    expect((await h.call('GET', `/admin/audit?limit=3&before=${page.body.next}`)).body).toMatchObject({
      entries: [{ version: 1 }],
      next: null,
    });
  });

  it('names a bad filter with its path', async () => {
    for (const [query, path] of [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['kind=planet', 'kind'],
      ['since=yesterday', 'since'],
      ['colour=red', 'colour'],
    ]) {
      const res = await h.call('GET', `/admin/audit?${query}`);
      expect({ query, status: res.status, path: res.body.error.details?.[0]?.path }).toEqual({
        query,
        status: 400,
        path,
      });
    }
  });

  it('reverts a variable flip as a new write and says what it changed', async () => {
    await seed();
    await h.call('PUT', '/admin/variables/IP1_enable', { value: 'false' });
    const applied = h.runtime.appliedCalls;
    const res = await h.call('POST', '/admin/audit/revert', { version: 4 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      version: 5,
      changes: [{ op: 'update', kind: 'variable', id: 'IP1_enable', name: 'IP1_enable' }],
    });
    expect((await h.call('GET', '/admin/variables/IP1_enable')).body.value).toBe('true');
    expect(h.runtime.appliedCalls).toBe(applied + 1);
    expect(h.runtime.servingVersion).toBe(5);
    const [latest] = (await h.call('GET', '/admin/audit?limit=1')).body.entries;
    expect(latest).toMatchObject({
      version: 5,
      cause: 'revert of version 4',
      before: { value: 'false' },
      after: { value: 'true' },
    });
  });

  it('refuses a revert that would undo a later write, and an unknown version', async () => {
    const { apiId, nodeId } = await seed();
    await h.call('PATCH', `/admin/apis/${apiId}/nodes/${nodeId}`, { weight: 2 });
    await h.call('PATCH', `/admin/apis/${apiId}/nodes/${nodeId}`, { weight: 3 });
    const res = await h.call('POST', '/admin/audit/revert', { version: 4 });
    expect([res.status, res.body.error.code]).toEqual([409, 'REVERT_CONFLICT']);
    expect(res.body.error.message).toContain('node shop/a was changed again after version 4');
    expect((await h.call('POST', '/admin/audit/revert', { version: 42 })).body.error.code).toBe('VERSION_NOT_FOUND');
    expect((await h.call('POST', '/admin/audit/revert', { version: -1 })).body.error.details[0].path).toBe('version');
  });

  it('restores an earlier version: deleted objects come back, later ones go', async () => {
    const { apiId } = await seed();
    const before = (await h.call('GET', `/admin/apis/${apiId}/nodes`)).body;
    await h.call('DELETE', `/admin/apis/${apiId}`);
    await h.call('POST', '/admin/apis', { name: 'later', path: '/later/*', algorithm: 'weighted' });
    const res = await h.call('POST', '/admin/config/restore', { version: 3 });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(6);
    expect((await h.call('GET', '/admin/apis')).body.map((a: { name: string }) => a.name)).toEqual(['shop']);
    const nodes = (await h.call('GET', `/admin/apis/${apiId}/nodes`)).body;
    expect(nodes.map((n: { id: string; name: string; rules: unknown }) => [n.id, n.name, n.rules])).toEqual(
      before.map((n: { id: string; name: string; rules: unknown }) => [n.id, n.name, n.rules]),
    );
  });

  it('dry-runs a revert: answers what it would change and writes nothing', async () => {
    await seed();
    await h.call('PUT', '/admin/variables/IP1_enable', { value: 'false' });
    const res = await h.call('POST', '/admin/audit/revert?dryRun=true', { version: 4 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      dryRun: true,
      changes: [
        { op: 'update', kind: 'variable', name: 'IP1_enable', before: { value: 'false' }, after: { value: 'true' } },
      ],
    });
    expect((await h.call('GET', '/admin/variables/IP1_enable')).body.value).toBe('false');
    expect((await h.call('GET', '/admin/config/version')).body.version).toBe(4);
  });
});
