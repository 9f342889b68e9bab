import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/model/token.js';
import { startAdmin, type AdminHarness } from './harness.js';

// Named admin tokens with roles (issue 17): created by an admin, shown once, stored hashed; each
// route needs a role (declared, or by method); the bootstrap token stays an admin.

describe('named admin tokens and roles', () => {
  let h: AdminHarness;
  const secrets: Partial<Record<Role, string>> = {};
  let apiId = '';
  let nodeId = '';

  beforeAll(async () => {
    h = await startAdmin();
    for (const role of ['viewer', 'operator', 'editor', 'admin'] as const) {
      const res = await h.call('POST', '/admin/tokens', { name: `${role}-bot`, role });
      expect(res.status).toBe(201);
      secrets[role] = res.body.secret;
    }
    apiId = (await h.call('POST', '/admin/apis', { name: 'shop', path: '/shop/*', algorithm: 'round_robin' })).body.id;
    nodeId = (
      await h.call('POST', `/admin/apis/${apiId}/nodes`, {
        name: 'a',
        connector: { kind: 'simple-url', url: 'http://127.0.0.1:9' },
      })
    ).body.id;
    await h.call('PUT', '/admin/variables/IP1_enable', { value: 'true' });
  });
  afterAll(() => h.close());

  const as = (role: Role, method: string, path: string, body?: unknown) =>
    h.call(method, path, body, { token: secrets[role]! });

  it('shows a new secret once and keeps only its hash; the list never shows secrets', async () => {
    const created = await h.call('POST', '/admin/tokens', { name: 'ci', role: 'viewer' });
    expect(created.body).toMatchObject({ name: 'ci', role: 'viewer', createdBy: 'admin-token' });
    expect(created.body.secret).toMatch(/^isg_[A-Za-z0-9_-]{43}$/);
    const list = await h.call('GET', '/admin/tokens');
    expect(list.body.map((t: { name: string }) => t.name)).toContain('ci');
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
    expect(JSON.stringify(await h.call('GET', `/admin/tokens/${created.body.id}`))).not.toContain('secret');
    // Stored as a hash: the secret itself is nowhere in the database file.
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(h.file).includes(Buffer.from(created.body.secret))).toBe(false);
  });

  it('tells each token who it is', async () => {
    expect((await h.call('GET', '/admin/whoami')).body).toEqual({
      id: 'bootstrap',
      name: 'admin-token',
      role: 'admin',
    });
    expect((await as('operator', 'GET', '/admin/whoami')).body).toMatchObject({
      name: 'operator-bot',
      role: 'operator',
    });
    expect(
      (await h.call('GET', '/admin/whoami', undefined, { token: 'isg_not-a-token-at-all-0000000000000000000000' }))
        .status,
    ).toBe(401);
  });

  it('lets a viewer read but not write, not even a tick', async () => {
    expect((await as('viewer', 'GET', '/admin/apis')).status).toBe(200);
    expect((await as('viewer', 'GET', '/admin/audit')).status).toBe(200);
    expect((await as('viewer', 'POST', `/admin/apis/${apiId}/selector/test`, {})).status).toBe(200);
    const flip = await as('viewer', 'PUT', '/admin/variables/IP1_enable', { value: 'false' });
    expect(flip.status).toBe(403);
    expect(flip.body.error).toEqual({
      code: 'FORBIDDEN',
      message: 'this needs the operator role; the token "viewer-bot" is viewer',
    });
    expect((await as('viewer', 'PATCH', `/admin/apis/${apiId}/nodes/${nodeId}`, { enabled: false })).status).toBe(403);
    expect((await h.call('GET', '/admin/variables/IP1_enable')).body.value).toBe('true');
  });

  it('lets an operator tick nodes and set variables, but change nothing else', async () => {
    expect((await as('operator', 'PUT', '/admin/variables/IP1_enable', { value: 'false' })).status).toBe(200);
    expect((await as('operator', 'PATCH', `/admin/apis/${apiId}/nodes/${nodeId}`, { enabled: false })).status).toBe(
      200,
    );
    expect((await as('operator', 'PUT', '/admin/variables/NEW_flag', { value: 'on' })).status).toBe(201);
    expect((await as('operator', 'DELETE', '/admin/variables/NEW_flag')).status).toBe(200);

    for (const [method, path, body] of [
      ['PATCH', `/admin/apis/${apiId}/nodes/${nodeId}`, { enabled: true, weight: 5 }],
      ['PATCH', `/admin/apis/${apiId}/nodes/${nodeId}`, { rules: [] }],
      ['PUT', `/admin/apis/${apiId}/selector`, { code: 'function select(r, e, n) { return n; }' }],
      [
        'POST',
        `/admin/apis/${apiId}/nodes`,
        { name: 'b', connector: { kind: 'simple-url', url: 'http://127.0.0.1:9' } },
      ],
      ['PATCH', `/admin/apis/${apiId}`, { retries: 2 }],
      ['DELETE', `/admin/apis/${apiId}`, undefined],
      ['POST', '/admin/audit/revert', { version: 1 }],
    ] as const) {
      const res = await as('operator', method, path, body);
      expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({
        method,
        path,
        status: 403,
        code: 'FORBIDDEN',
      });
    }
    expect((await h.call('GET', `/admin/apis/${apiId}`)).body.retries).toBe(1);
  });

  it('lets an editor change config but not manage tokens; an admin manages tokens', async () => {
    expect((await as('editor', 'PATCH', `/admin/apis/${apiId}`, { retries: 2 })).status).toBe(200);
    expect((await as('editor', 'GET', '/admin/tokens')).status).toBe(403);
    expect((await as('editor', 'POST', '/admin/tokens', { name: 'sneaky', role: 'admin' })).status).toBe(403);
    const made = await as('admin', 'POST', '/admin/tokens', { name: 'temp', role: 'viewer' });
    expect(made.body.createdBy).toBe('admin-bot');
    expect((await as('admin', 'PATCH', `/admin/tokens/${made.body.id}`, { role: 'operator' })).body.role).toBe(
      'operator',
    );
    expect((await h.call('GET', '/admin/whoami', undefined, { token: made.body.secret })).body.role).toBe('operator');
    expect((await as('admin', 'DELETE', `/admin/tokens/${made.body.id}`)).status).toBe(204);
    expect((await h.call('GET', '/admin/whoami', undefined, { token: made.body.secret })).status).toBe(401);
  });

  it('refuses duplicate, reserved and malformed token names, and unknown roles', async () => {
    expect((await h.call('POST', '/admin/tokens', { name: 'VIEWER-BOT', role: 'viewer' })).body.error.code).toBe(
      'TOKEN_NAME_TAKEN',
    );
    expect((await h.call('POST', '/admin/tokens', { name: 'admin-token', role: 'viewer' })).body.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: [{ path: 'name' }],
    });
    expect((await h.call('POST', '/admin/tokens', { name: '', role: 'viewer' })).body.error.details[0].path).toBe(
      'name',
    );
    expect((await h.call('POST', '/admin/tokens', { name: 'x', role: 'root' })).body.error.details[0].path).toBe(
      'role',
    );
    expect((await h.call('PATCH', '/admin/tokens/nope', { role: 'viewer' })).status).toBe(404);
  });

  it('records who made each write in the audit log', async () => {
    const { entries } = (await h.call('GET', '/admin/audit?limit=500')).body;
    const byActor = (name: string) =>
      entries
        .filter((e: { actor: { name: string } }) => e.actor.name === name)
        .map((e: { kind: string; op: string }) => `${e.op} ${e.kind}`);
    expect(byActor('operator-bot')).toEqual(['delete variable', 'create variable', 'update node', 'update variable']);
    expect(byActor('editor-bot')).toEqual(['update api']);
    expect(byActor('viewer-bot')).toEqual([]);
  });
});
