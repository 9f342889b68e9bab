import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withoutPrivateKey } from '../../src/model/certificate.js';
import { consumerView, type StoredCredential } from '../../src/model/consumer.js';
import type { Actor } from '../../src/model/token.js';
import { objectEtag } from '../../src/store/changes.js';
import type { Store } from '../../src/store/store.js';
import { withWriteScope, type WriteScope } from '../../src/store/write-scope.js';
import { refusal } from './audit-contract.js';
import { certRecord } from './fixtures.js';
import type { StoreDriver, StoreFixture } from './store-contract.js';

const alice: Actor = { id: 'tok-alice', name: 'alice', role: 'editor' };
const as = <T>(fn: () => Promise<T>, scope: Partial<WriteScope> = {}) => withWriteScope({ actor: alice, ...scope }, fn);

// Secrets every test looks for in the audit log and the Idempotency-Key rows.
const KEY_A = '-----BEGIN PRIVATE KEY-----\nkey-material-of-a\n-----END PRIVATE KEY-----\n';
const KEY_B = '-----BEGIN PRIVATE KEY-----\nkey-material-of-b\n-----END PRIVATE KEY-----\n';
const KEY_HASH = 'f'.repeat(64);
const PASSWORD_HASH = 'scrypt$16384$8$1$c2FsdA$cGFzc3dvcmQtaGFzaA';
const JWT_SECRET = 'jwt-secret-that-the-log-must-never-hold-0123';
const SECRETS = ['key-material', KEY_HASH, PASSWORD_HASH, JWT_SECRET];

const at = '2026-01-01T00:00:00.000Z';
const keyCredential: StoredCredential = { id: 'cred-key', kind: 'key', hash: KEY_HASH, hint: 'ffff', createdAt: at };
const basicCredential: StoredCredential = {
  id: 'cred-basic',
  kind: 'basic',
  username: 'acme',
  hash: PASSWORD_HASH,
  createdAt: at,
};
const jwtCredential: StoredCredential = {
  id: 'cred-jwt',
  kind: 'jwt',
  subject: 'acme',
  secret: JWT_SECRET,
  publicKey: null,
  createdAt: at,
};
const publicKeyCredential: StoredCredential = {
  id: 'cred-pub',
  kind: 'jwt',
  subject: 'acme-rs',
  secret: null,
  publicKey: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
  createdAt: at,
};

/**
 * Certificates and consumers through the audited write helper (issues 15, 16 and 17): every write of
 * them audited with its secrets left out, If-Match and Idempotency-Keys on them, and reverts and
 * restores that keep the stored secrets where they still belong and refuse (SECRET_NOT_STORED) where
 * a secret is gone.
 */
export function describeSecretsAuditContract(name: string, driver: StoreDriver): void {
  describe(`${name}: certificates and consumers in the audit log`, () => {
    let fx: StoreFixture;
    let store: Store;

    beforeEach(async () => {
      fx = await driver.fresh();
      store = fx.store;
    });
    afterEach(async () => {
      await store.close();
      await fx.dispose();
    });

    /** Every audit entry and every recorded Idempotency-Key body, as text. */
    const loggedText = async (keys: string[] = []) =>
      JSON.stringify((await store.listAudit({ limit: 500 })).entries) +
      (await Promise.all(keys.map((k) => store.findIdempotencyKey(alice.id, k)))).map((r) => r?.body).join('');

    it('audits certificate writes without their private keys; a new default records the previous default losing it', async () => {
      const a = await as(() => store.createCertificate(certRecord(['a.test'], { isDefault: true, privateKey: KEY_A })));
      const b = await as(
        () => store.createCertificate(certRecord(['b.test'], { isDefault: true, privateKey: KEY_B })),
        {
          idempotency: { key: 'cert-b', fingerprint: 'fp', status: 201, recorded: false },
        },
      );
      const second = (await store.listAudit({ version: 2, limit: 50 })).entries.reverse();
      expect(
        second.map((e) => [
          e.op,
          e.kind,
          e.objectName,
          (e.before as { isDefault?: boolean } | null)?.isDefault ?? null,
          (e.after as { isDefault: boolean }).isDefault,
        ]),
      ).toEqual([
        ['create', 'certificate', 'b.test', null, true],
        ['update', 'certificate', 'a.test', true, false],
      ]);
      expect(second[0]!.after).toEqual(withoutPrivateKey(b));
      expect(JSON.parse((await store.findIdempotencyKey(alice.id, 'cert-b'))!.body)).toEqual(withoutPrivateKey(b));

      // If-Match takes the stored certificate's entity tag (its audit view's).
      const stale = objectEtag('certificate', a);
      const current = (await store.getCertificate(a.id))!;
      expect(
        await refusal(
          as(() => store.updateCertificate(a.id, (c) => ({ ...c, isDefault: true })), { ifMatch: [stale] }),
        ),
      ).toBe('PRECONDITION_FAILED');
      await as(() => store.updateCertificate(a.id, (c) => ({ ...c, isDefault: true })), {
        ifMatch: [objectEtag('certificate', current)],
      });
      await as(() => store.deleteCertificate(b.id));
      expect(await store.version()).toBe(4);
      const text = await loggedText(['cert-b']);
      expect(text).toContain('a.test');
      for (const secret of SECRETS) expect(text).not.toContain(secret);
    });

    it('audits consumer writes with credentials as the admin API shows them, never a hash or secret', async () => {
      const c = await as(
        () =>
          store.createConsumer({
            name: 'acme',
            tags: [],
            credentials: [keyCredential, basicCredential, jwtCredential],
          }),
        {
          idempotency: { key: 'acme', fingerprint: 'fp', status: 201, recorded: false },
        },
      );
      await as(() =>
        store.updateConsumer(c.id, (x) => ({
          ...x,
          credentials: x.credentials.filter((cr) => cr.id !== 'cred-basic'),
        })),
      );
      const [update, create] = (await store.listAudit({ kind: 'consumer', limit: 50 })).entries;
      expect(create!.after).toEqual(consumerView(c));
      expect((update!.after as { credentials: Array<{ id: string }> }).credentials.map((cr) => cr.id)).toEqual([
        'cred-key',
        'cred-jwt',
      ]);
      expect(JSON.parse((await store.findIdempotencyKey(alice.id, 'acme'))!.body)).toEqual(consumerView(c));
      // If-Match takes the consumer's view's entity tag (what GET /admin/consumers/:id answers).
      const now = (await store.getConsumer(c.id))!;
      expect(await refusal(as(() => store.deleteConsumer(c.id), { ifMatch: [objectEtag('consumer', c)] }))).toBe(
        'PRECONDITION_FAILED',
      );
      expect(await as(() => store.deleteConsumer(c.id), { ifMatch: [objectEtag('consumer', now)] })).toBe(true);
      const text = await loggedText(['acme']);
      expect(text).toContain('"hint":"ffff"');
      for (const secret of SECRETS) expect(text).not.toContain(secret);
    });

    it('reverts certificate writes while the key is stored; refuses with SECRET_NOT_STORED when it is gone, writing nothing', async () => {
      const a = await store.createCertificate(certRecord(['a.test'], { privateKey: KEY_A }));
      await store.updateCertificate(a.id, (c) => ({ ...c, isDefault: true }));
      expect(await as(() => store.revertVersion(2))).toMatchObject({
        version: 3,
        changes: [{ op: 'update', kind: 'certificate', name: 'a.test' }],
      });
      expect(await store.getCertificate(a.id)).toMatchObject({ isDefault: false, privateKey: KEY_A });

      // A replaced certificate (another chain and key): the old key is in no log.
      await store.updateCertificate(a.id, (c) => ({
        ...c,
        certificate: 'another chain',
        fingerprint: 'EF:01',
        privateKey: KEY_B,
      }));
      expect(await refusal(store.revertVersion(4))).toBe('SECRET_NOT_STORED');
      await store.deleteCertificate(a.id);
      expect(await refusal(store.revertVersion(5))).toBe('SECRET_NOT_STORED');
      expect(await refusal(store.restoreVersion(3))).toBe('SECRET_NOT_STORED');
      expect(await store.version()).toBe(5);
      expect(await store.listCertificates()).toEqual([]);

      // Reverting a creation needs no key.
      const c = await store.createCertificate(certRecord(['c.test'], { privateKey: KEY_B }));
      expect((await store.revertVersion(6)).changes).toEqual([
        { op: 'delete', kind: 'certificate', id: c.id, name: 'c.test' },
      ]);
      expect(await store.listCertificates()).toEqual([]);
    });

    it('reverts consumer writes while their credentials are stored; refuses to bring back a removed credential with a secret', async () => {
      const c = await store.createConsumer({ name: 'acme', tags: [], credentials: [keyCredential, basicCredential] });
      await store.updateConsumer(c.id, (x) => ({ ...x, name: 'acme-corp', tags: ['gold'] }));
      await store.revertVersion(2);
      expect(await store.getConsumer(c.id)).toMatchObject({
        name: 'acme',
        tags: [],
        credentials: [keyCredential, basicCredential],
      });

      await store.updateConsumer(c.id, (x) => ({ ...x, credentials: [keyCredential] }));
      expect(await refusal(store.revertVersion(4))).toBe('SECRET_NOT_STORED');
      expect((await store.getConsumer(c.id))!.credentials).toEqual([keyCredential]);

      // A public-key JWT credential holds no secret: removing it can be reverted.
      await store.updateConsumer(c.id, (x) => ({ ...x, credentials: [...x.credentials, publicKeyCredential] }));
      await store.updateConsumer(c.id, (x) => ({ ...x, credentials: [keyCredential] }));
      await store.revertVersion(6);
      expect((await store.getConsumer(c.id))!.credentials).toEqual([keyCredential, publicKeyCredential]);

      await store.deleteConsumer(c.id);
      expect(await refusal(store.revertVersion(8))).toBe('SECRET_NOT_STORED');
      expect(await store.listConsumers()).toEqual([]);
      const plain = await store.createConsumer({ name: 'no-credentials', tags: ['t'], credentials: [] });
      await store.deleteConsumer(plain.id);
      await store.revertVersion(10);
      expect(await store.listConsumers()).toEqual([{ ...plain, updatedAt: expect.any(String) }]);
    });

    it('keeps the name and credential checks inside a plan, and refuses a certificate without a key that none stored', async () => {
      const now = new Date().toISOString();
      const a = await store.createCertificate(certRecord(['a.test'], { privateKey: KEY_A }));
      const { privateKey: _k, ...withoutKey } = certRecord(['new.test']);
      expect(
        await refusal(
          store.applyPlan(
            () => [
              { kind: 'certificate', id: 'new', next: { ...withoutKey, id: 'new', createdAt: now, updatedAt: now } },
            ],
            'config apply',
          ),
        ),
      ).toBe('SECRET_NOT_STORED');
      await expect(
        store.applyPlan(
          () => [
            {
              kind: 'certificate',
              id: 'dup',
              next: { ...certRecord(['a.test']), id: 'dup', createdAt: now, updatedAt: now },
            },
          ],
          'config apply',
        ),
      ).rejects.toMatchObject({ code: 'CERTIFICATE_NAME_TAKEN' });
      await store.createConsumer({ name: 'acme', tags: [], credentials: [keyCredential] });
      await expect(
        store.applyPlan(
          () => [
            {
              kind: 'consumer',
              id: 'x',
              next: {
                id: 'x',
                name: 'other',
                tags: [],
                credentials: [{ ...keyCredential, id: 'k2' }],
                createdAt: now,
                updatedAt: now,
              },
            },
          ],
          'config apply',
        ),
      ).rejects.toMatchObject({ code: 'CREDENTIAL_TAKEN' });
      expect(await store.version()).toBe(2);
      expect((await store.listCertificates()).map((c) => c.id)).toEqual([a.id]);
    });
  });
}
