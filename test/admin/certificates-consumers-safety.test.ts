import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/model/token.js';
import { TestCa, type TestCertificate } from '../helpers/certs.js';
import { startAdmin, type AdminHarness } from './harness.js';

// Certificates (issue 15) and consumers (issue 16) under issue 17's admin API rules: audited with
// their secrets left out, reverted where the stored secret still serves (409 SECRET_NOT_STORED
// where it is gone), roles by method (viewer reads, editor writes), ETag and If-Match, and
// Idempotency-Key replays that never hold a secret.

let h: AdminHarness;
let ca: TestCa;
let shop: TestCertificate;
let api: TestCertificate;
const tokens: Partial<Record<Role, string>> = {};
const PASSWORD = 'pa55word-that-no-row-may-hold';

beforeAll(async () => {
  ca = new TestCa();
  shop = ca.issue(['shop.test', '*.shop.test']);
  api = ca.issue(['api.test']);
  h = await startAdmin();
  for (const role of ['viewer', 'editor'] as const)
    tokens[role] = (await h.call('POST', '/admin/tokens', { name: `${role}-bot`, role })).body.secret;
}, 60_000);
afterAll(async () => {
  await h?.close();
  ca?.dispose();
});

const upload = (cert: TestCertificate, headers: Record<string, string> = {}) =>
  h.call('POST', '/admin/certificates', { certificate: cert.certificate, privateKey: cert.privateKey }, { headers });

/** The audit rows and the Idempotency-Key rows as the database holds them. */
function storedRows(): string {
  const db = new Database(h.file, { readonly: true });
  try {
    return JSON.stringify([
      db.prepare('SELECT * FROM audit_log').all(),
      db.prepare('SELECT * FROM idempotency_keys').all(),
    ]);
  } finally {
    db.close();
  }
}

describe('certificates and consumers under roles, audit and retry safety', () => {
  it('lets a viewer read certificates and consumers, and needs an editor to write them', async () => {
    const viewer = { token: tokens.viewer! };
    expect((await h.call('GET', '/admin/certificates', undefined, viewer)).status).toBe(200);
    expect((await h.call('GET', '/admin/consumers', undefined, viewer)).status).toBe(200);
    const refused = await h.call(
      'POST',
      '/admin/certificates',
      { certificate: api.certificate, privateKey: api.privateKey },
      viewer,
    );
    expect([refused.status, refused.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect((await h.call('POST', '/admin/consumers', { name: 'nope' }, viewer)).status).toBe(403);
    const made = await h.call('POST', '/admin/consumers', { name: 'by-editor' }, { token: tokens.editor! });
    expect(made.status).toBe(201);
    expect((await h.call('DELETE', `/admin/consumers/${made.body.id}`, undefined, viewer)).status).toBe(403);
    expect(
      (await h.call('DELETE', `/admin/consumers/${made.body.id}`, undefined, { token: tokens.editor! })).status,
    ).toBe(204);
    expect(await h.store.listCertificates()).toEqual([]);
  });

  it('answers a dry run of an upload with the certificate as it would be stored, without its key', async () => {
    const dry = await h.call('POST', '/admin/certificates?dryRun=true', {
      certificate: shop.certificate,
      privateKey: shop.privateKey,
    });
    expect(dry.body).toMatchObject({
      dryRun: true,
      changes: [
        { op: 'create', kind: 'certificate', name: 'shop.test', after: { names: ['shop.test', '*.shop.test'] } },
      ],
    });
    expect(JSON.stringify(dry.body)).not.toContain('PRIVATE KEY');
    expect(await h.store.listCertificates()).toEqual([]);
  });

  it('answers a retried certificate upload or consumer creation once, without a secret', async () => {
    const first = await upload(shop, { 'idempotency-key': 'upload-shop' });
    expect(first.status).toBe(201);
    const again = await upload(shop, { 'idempotency-key': 'upload-shop' });
    expect([again.status, again.headers.get('idempotent-replayed'), again.body.id]).toEqual([
      201,
      'true',
      first.body.id,
    ]);
    expect(JSON.stringify(again.body)).not.toContain('PRIVATE KEY');
    expect((await h.call('GET', '/admin/certificates')).body).toHaveLength(1);

    const body = {
      name: 'acme',
      credentials: [{ kind: 'key' }, { kind: 'basic', username: 'acme', password: PASSWORD }],
    };
    const created = await h.call('POST', '/admin/consumers', body, { headers: { 'idempotency-key': 'acme' } });
    const replayed = await h.call('POST', '/admin/consumers', body, { headers: { 'idempotency-key': 'acme' } });
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    // The first answer shows the generated key once; the replay is the consumer as stored, without it.
    expect(replayed.body).toEqual({
      ...created.body,
      credentials: created.body.credentials.map(({ secret: _s, ...c }: { secret?: string }) => c),
    });
    expect(
      (await h.call('GET', '/admin/consumers')).body.filter((c: { name: string }) => c.name === 'acme'),
    ).toHaveLength(1);
    const rows = storedRows();
    for (const secret of ['PRIVATE KEY', PASSWORD, 'scrypt$', created.body.credentials[0].secret])
      expect(rows).not.toContain(secret);
  });

  it('takes If-Match on certificates: the ETag of a read or a write, 412 when stale, nothing written', async () => {
    const [cert] = (await h.call('GET', '/admin/certificates')).body;
    const read = await h.call('GET', `/admin/certificates/${cert.id}`);
    const etag = read.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    const patched = await h.call(
      'PATCH',
      `/admin/certificates/${cert.id}`,
      { isDefault: true },
      { headers: { 'if-match': etag } },
    );
    expect(patched.status).toBe(200);
    const next = patched.headers.get('etag')!;
    expect(next).not.toBe(etag);
    expect((await h.call('GET', `/admin/certificates/${cert.id}`)).headers.get('etag')).toBe(next);
    const stale = await h.call(
      'PATCH',
      `/admin/certificates/${cert.id}`,
      { isDefault: false },
      { headers: { 'if-match': etag } },
    );
    expect([stale.status, stale.body.error.code]).toEqual([412, 'PRECONDITION_FAILED']);
    expect(
      (await h.call('DELETE', `/admin/certificates/${cert.id}`, undefined, { headers: { 'if-match': etag } })).status,
    ).toBe(412);
    expect((await h.call('GET', `/admin/certificates/${cert.id}`)).body.isDefault).toBe(true);
  });

  it('takes If-Match on consumers and their credentials: the ETag of GET /admin/consumers/:id', async () => {
    const acme = (await h.call('GET', '/admin/consumers')).body.find((c: { name: string }) => c.name === 'acme');
    const read = await h.call('GET', `/admin/consumers/${acme.id}`);
    const etag = read.headers.get('etag')!;
    const renamed = await h.call(
      'PATCH',
      `/admin/consumers/${acme.id}`,
      { tags: ['gold'] },
      { headers: { 'if-match': etag } },
    );
    expect(renamed.status).toBe(200);
    const stale = await h.call(
      'PATCH',
      `/admin/consumers/${acme.id}`,
      { tags: ['silver'] },
      { headers: { 'if-match': etag } },
    );
    expect([stale.status, stale.body.error.code]).toEqual([412, 'PRECONDITION_FAILED']);
    const credential = read.body.credentials[0].id;
    expect(
      (
        await h.call('DELETE', `/admin/consumers/${acme.id}/credentials/${credential}`, undefined, {
          headers: { 'if-match': etag },
        })
      ).status,
    ).toBe(412);
    const current = renamed.headers.get('etag')!;
    expect(
      (
        await h.call('DELETE', `/admin/consumers/${acme.id}/credentials/${credential}`, undefined, {
          headers: { 'if-match': current },
        })
      ).status,
    ).toBe(204);
    expect((await h.call('GET', `/admin/consumers/${acme.id}`)).body).toMatchObject({
      tags: ['gold'],
      credentials: [{ kind: 'basic' }],
    });
  });

  it('audits every such write without secrets and reverts what the stored secrets allow', async () => {
    const { entries } = (await h.call('GET', '/admin/audit?limit=500')).body;
    const kinds = new Set(entries.map((e: { kind: string }) => e.kind));
    expect([...kinds].sort()).toEqual(['certificate', 'consumer', 'token']);
    const text = JSON.stringify(entries);
    for (const secret of ['PRIVATE KEY', PASSWORD, 'scrypt$', '"hash"']) expect(text).not.toContain(secret);

    // The credential removal above: its secret is gone, so it cannot come back.
    const removal = entries.find(
      (e: { kind: string; op: string; before: { credentials?: unknown[] } }) =>
        e.kind === 'consumer' && e.op === 'update' && e.before.credentials?.length === 2,
    );
    const version = (await h.call('GET', '/admin/config/version')).body.version;
    const refused = await h.call('POST', '/admin/audit/revert', { version: removal.version });
    expect([refused.status, refused.body.error.code]).toEqual([409, 'SECRET_NOT_STORED']);
    expect(refused.body.error.message).toContain('credential');
    const dry = await h.call('POST', '/admin/audit/revert?dryRun=true', { version: removal.version });
    expect(dry.status).toBe(409);
    expect((await h.call('GET', '/admin/config/version')).body.version).toBe(version);

    // Making the certificate the default: its key is still stored, so the revert goes through.
    const makeDefault = entries.find(
      (e: { kind: string; after: { isDefault?: boolean }; before: { isDefault?: boolean } | null }) =>
        e.kind === 'certificate' && e.before?.isDefault === false && e.after.isDefault,
    );
    const reverted = await h.call('POST', '/admin/audit/revert', { version: makeDefault.version });
    expect(reverted.status).toBe(200);
    expect((await h.call('GET', `/admin/certificates/${makeDefault.objectId}`)).body.isDefault).toBe(false);

    // Deleting it: the key is in no log, so bringing it back is refused and nothing is written.
    expect((await h.call('DELETE', `/admin/certificates/${makeDefault.objectId}`)).status).toBe(204);
    const deleted = (await h.call('GET', '/admin/config/version')).body.version;
    const back = await h.call('POST', '/admin/audit/revert', { version: deleted });
    expect([back.status, back.body.error.code]).toEqual([409, 'SECRET_NOT_STORED']);
    expect(back.body.error.message).toContain('shop.test');
    expect((await h.call('GET', '/admin/certificates')).body).toEqual([]);
    for (const secret of ['PRIVATE KEY', PASSWORD, 'scrypt$']) expect(storedRows()).not.toContain(secret);
  });
});
