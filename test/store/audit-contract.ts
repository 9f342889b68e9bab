import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/model/token.js';
import { etagOf } from '../../src/store/changes.js';
import { DryRunResult, StoreRefusedError } from '../../src/store/errors.js';
import type { ConfigState, Store } from '../../src/store/store.js';
import { withWriteScope, type WriteScope } from '../../src/store/write-scope.js';
import { apiInput, nodeInput } from './fixtures.js';
import type { StoreDriver, StoreFixture } from './store-contract.js';

const alice: Actor = { id: 'tok-alice', name: 'alice', role: 'editor' };
const bob: Actor = { id: 'tok-bob', name: 'bob', role: 'operator' };

/** Runs `fn` as `actor` (with the rest of the scope). */
const as = <T>(actor: Actor, fn: () => Promise<T>, scope: Partial<WriteScope> = {}) =>
  withWriteScope({ actor, ...scope }, fn);

/** The config without timestamps, for comparing states across writes. */
function content(config: ConfigState): unknown {
  return JSON.parse(
    JSON.stringify({ apis: config.apis, nodes: config.nodes, variables: config.variables }, (k, v: unknown) =>
      k === 'updatedAt' ? undefined : v,
    ),
  );
}

/** The StoreRefusedError code a write fails with ('no error' when it went through). */
export async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof StoreRefusedError) return err.code;
    throw err;
  }
  return 'no error';
}

/**
 * What every driver's write helper must do besides writing (issue 17): audit every change with its
 * actor and config version, honour If-Match, roll back dry runs, record Idempotency-Keys, revert a
 * write, restore a version and execute a plan in one transaction; and keep named tokens.
 */
export function describeAuditContract(name: string, driver: StoreDriver): void {
  describe(`${name}: audit, tokens and plans`, () => {
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

    it('records one audit row per changed object with who, before, after and the config version', async () => {
      const api = await as(alice, () => store.createApi(apiInput()));
      const node = (await as(alice, () => store.createNode(api.id, nodeInput({ name: 'a' }))))!;
      await as(bob, () => store.updateNode(api.id, node.id, (n) => ({ ...n, enabled: false })));
      await store.putVariable('IP1_enable', 'true');

      const { entries, next } = await store.listAudit({ limit: 50 });
      expect(next).toBeNull();
      expect(entries.map((e) => [e.version, e.actor.name, e.op, e.kind, e.objectName])).toEqual([
        [4, 'system', 'create', 'variable', 'IP1_enable'],
        [3, 'bob', 'update', 'node', 'orders/a'],
        [2, 'alice', 'create', 'node', 'orders/a'],
        [1, 'alice', 'create', 'api', 'orders'],
      ]);
      const update = entries[1]!;
      expect(update).toMatchObject({
        actor: { id: 'tok-bob', name: 'bob' },
        objectId: node.id,
        apiId: api.id,
        cause: null,
      });
      expect((update.before as { enabled: boolean }).enabled).toBe(true);
      expect(update.after).toEqual(await store.getNode(api.id, node.id));
      expect(entries[3]!.before).toBeNull();
      expect(entries[3]!.after).toEqual(api);
      expect(Number.isNaN(Date.parse(entries[0]!.at))).toBe(false);
    });

    it('deleting an API records the API first and then each of its nodes, in one version', async () => {
      const api = await store.createApi(apiInput());
      for (const n of ['a', 'b']) await store.createNode(api.id, nodeInput({ name: n }));
      await as(alice, () => store.deleteApi(api.id));
      const { entries } = await store.listAudit({ version: 4, limit: 50 });
      expect(entries.map((e) => [e.op, e.kind, e.objectName, e.version]).reverse()).toEqual([
        ['delete', 'api', 'orders', 4],
        ['delete', 'node', 'orders/a', 4],
        ['delete', 'node', 'orders/b', 4],
      ]);
      expect(entries.every((e) => e.after === null && e.before !== null)).toBe(true);
    });

    it('filters the log and pages it newest first', async () => {
      const api = await as(alice, () => store.createApi(apiInput()));
      const other = await as(bob, () => store.createApi(apiInput({ name: 'other', path: '/other/*' })));
      await as(bob, () => store.createNode(api.id, nodeInput()));
      await as(alice, () => store.putVariable('x', '1'));

      expect((await store.listAudit({ actor: 'bob', limit: 50 })).entries.map((e) => e.objectName)).toEqual([
        'orders/n1',
        'other',
      ]);
      expect((await store.listAudit({ apiId: api.id, limit: 50 })).entries.map((e) => e.kind)).toEqual(['node', 'api']);
      expect((await store.listAudit({ kind: 'api', op: 'create', limit: 50 })).entries.map((e) => e.objectId)).toEqual([
        other.id,
        api.id,
      ]);
      expect((await store.listAudit({ objectId: 'x', limit: 50 })).entries).toHaveLength(1);
      expect((await store.listAudit({ since: '2999-01-01T00:00:00Z', limit: 50 })).entries).toEqual([]);

      const first = await store.listAudit({ limit: 3 });
      expect(first.entries.map((e) => e.version)).toEqual([4, 3, 2]);
      expect(first.next).toBe(first.entries[2]!.id);
      const second = await store.listAudit({ limit: 3, before: first.next! });
      expect(second.entries.map((e) => e.version)).toEqual([1]);
      expect(second.next).toBeNull();
    });

    it('keeps named tokens by the hash of their secret; token writes are audited without a config version', async () => {
      const token = await as(alice, () => store.createToken({ name: 'ops-bot', role: 'operator' }, 'hash-1'));
      expect(token).toMatchObject({ name: 'ops-bot', role: 'operator', createdBy: 'alice' });
      expect(await store.findTokenByHash('hash-1')).toEqual(token);
      expect(await store.findTokenByHash('hash-2')).toBeNull();
      expect(await refusal(store.createToken({ name: 'OPS-BOT', role: 'viewer' }, 'hash-2'))).toBe('TOKEN_NAME_TAKEN');
      const changed = await store.updateToken(token.id, (t) => ({ ...t, role: 'editor' }));
      expect(changed).toMatchObject({ id: token.id, role: 'editor' });
      expect(await store.listTokens()).toEqual([changed]);
      expect(await store.deleteToken(token.id)).toBe(true);
      expect(await store.deleteToken(token.id)).toBe(false);
      expect(await store.findTokenByHash('hash-1')).toBeNull();

      expect(await store.version()).toBe(0);
      const { entries } = await store.listAudit({ kind: 'token', limit: 50 });
      expect(entries.map((e) => [e.op, e.version])).toEqual([
        ['delete', null],
        ['update', null],
        ['create', null],
      ]);
      expect(JSON.stringify(entries)).not.toContain('hash-1');
    });

    it('If-Match: writes when the ETag is the stored one, refuses (412) and writes nothing when it is not', async () => {
      const api = await store.createApi(apiInput());
      const node = (await store.createNode(api.id, nodeInput()))!;
      const updated = await as(alice, () => store.updateNode(api.id, node.id, (n) => ({ ...n, weight: 5 })), {
        ifMatch: [etagOf(node)],
      });
      expect(updated!.weight).toBe(5);
      const version = await store.version();

      expect(
        await refusal(
          as(bob, () => store.updateNode(api.id, node.id, (n) => ({ ...n, weight: 9 })), { ifMatch: [etagOf(node)] }),
        ),
      ).toBe('PRECONDITION_FAILED');
      expect(await refusal(as(bob, () => store.deleteNode(api.id, node.id), { ifMatch: ['"stale"'] }))).toBe(
        'PRECONDITION_FAILED',
      );
      expect(await refusal(as(bob, () => store.putVariable('new', '1'), { ifMatch: '*' }))).toBe('PRECONDITION_FAILED');
      expect(await store.getNode(api.id, node.id)).toEqual(updated);
      expect(await store.getVariable('new')).toBeNull();
      expect(await store.version()).toBe(version);
      expect((await store.listAudit({ limit: 50 })).entries).toHaveLength(3);
    });

    it('a dry run goes up to the commit, reports its changes and leaves nothing behind', async () => {
      const api = await store.createApi(apiInput());
      let thrown: unknown;
      try {
        await as(alice, () => store.deleteApi(api.id), { dryRun: true });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(DryRunResult);
      expect((thrown as DryRunResult).changes.map((c) => [c.kind, c.name, c.after])).toEqual([['api', 'orders', null]]);
      expect(await store.getApi(api.id)).toEqual(api);
      expect(await store.version()).toBe(1);
      expect((await store.listAudit({ limit: 50 })).entries).toHaveLength(1);
    });

    it('records an Idempotency-Key with the write it belongs to; a second request with the key writes nothing', async () => {
      const claim = () => ({ key: 'k-1', fingerprint: 'fp', status: 201, recorded: false });
      const api = await as(alice, () => store.createApi(apiInput()), { idempotency: claim() });
      const record = await store.findIdempotencyKey('tok-alice', 'k-1');
      expect(record).toMatchObject({ fingerprint: 'fp', status: 201 });
      expect(JSON.parse(record!.body)).toEqual(api);
      expect(await store.findIdempotencyKey('tok-bob', 'k-1')).toBeNull();

      expect(
        await refusal(
          as(alice, () => store.createApi(apiInput({ name: 'twice', path: '/twice' })), { idempotency: claim() }),
        ),
      ).toBe('IDEMPOTENCY_KEY_IN_USE');
      expect((await store.listApis()).map((a) => a.name)).toEqual(['orders']);
      // Another actor's key of the same text is another key.
      await as(bob, () => store.createApi(apiInput({ name: 'bobs', path: '/bobs' })), { idempotency: claim() });
      expect(await store.version()).toBe(2);
    });

    it('reverts one write as a new audited write, and refuses when an object it touched changed since', async () => {
      await store.putVariable('IP1_enable', 'true');
      await as(bob, () => store.putVariable('IP1_enable', 'false'));
      const result = await as(alice, () => store.revertVersion(2));
      expect(result).toEqual({
        version: 3,
        changes: [{ op: 'update', kind: 'variable', id: 'IP1_enable', name: 'IP1_enable' }],
      });
      expect((await store.getVariable('IP1_enable'))!.value).toBe('true');
      const [entry] = (await store.listAudit({ version: 3, limit: 50 })).entries;
      expect(entry).toMatchObject({ actor: { name: 'alice' }, cause: 'revert of version 2', op: 'update' });

      await store.putVariable('IP1_enable', 'maybe');
      expect(await refusal(store.revertVersion(3))).toBe('REVERT_CONFLICT');
      expect((await store.getVariable('IP1_enable'))!.value).toBe('maybe');
      expect(await refusal(store.revertVersion(99))).toBe('VERSION_NOT_FOUND');
      expect(await refusal(store.revertVersion(0))).toBe('VERSION_NOT_FOUND');
    });

    it('reverting an API deletion brings back the API and its nodes with their ids and order', async () => {
      const api = await store.createApi(apiInput({ selector: { code: 'function select(r,e,n){return n}' } }));
      const nodes = [];
      for (const n of ['a', 'b', 'c']) nodes.push((await store.createNode(api.id, nodeInput({ name: n })))!);
      const before = content(await store.loadConfig());
      await store.deleteApi(api.id);
      const result = await store.revertVersion(5);
      expect(result.changes.map((c) => `${c.op} ${c.kind} ${c.name}`)).toEqual([
        'create api orders',
        'create node orders/a',
        'create node orders/b',
        'create node orders/c',
      ]);
      expect(content(await store.loadConfig())).toEqual(before);
      expect((await store.listNodes(api.id)).map((n) => n.id)).toEqual(nodes.map((n) => n.id));
    });

    it('restores the config of an earlier version in one write, and refuses when the log lacks writes since', async () => {
      const api = await store.createApi(apiInput());
      await store.createNode(
        api.id,
        nodeInput({ name: 'a', rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }] }),
      );
      await store.putVariable('IP1_enable', 'true');
      const at3 = content(await store.loadConfig());
      await store.putVariable('IP1_enable', 'false');
      await store.createApi(apiInput({ name: 'later', path: '/later/*' }));
      await store.updateApi(api.id, (a) => ({ ...a, name: 'renamed', retries: 3 }));
      await store.deleteNode(api.id, (await store.listNodes(api.id))[0]!.id);

      const result = await as(alice, () => store.restoreVersion(3));
      expect(result.version).toBe(8);
      expect(result.changes.map((c) => `${c.op} ${c.kind}`).sort()).toEqual([
        'create node',
        'delete api',
        'update api',
        'update variable',
      ]);
      expect(content(await store.loadConfig())).toEqual(at3);
      expect(
        (await store.listAudit({ version: 8, limit: 50 })).entries.every((e) => e.cause === 'restore of version 3'),
      ).toBe(true);

      // Restoring the current version changes nothing and makes no version.
      expect(await store.restoreVersion(8)).toEqual({ version: null, changes: [] });
      expect(await refusal(store.restoreVersion(9))).toBe('VERSION_NOT_FOUND');
      await fx.clearAudit();
      await store.putVariable('y', '1');
      expect(await refusal(store.restoreVersion(3))).toBe('AUDIT_INCOMPLETE');
      expect(await refusal(store.revertVersion(8))).toBe('AUDIT_INCOMPLETE');
      expect(await store.restoreVersion(8)).toMatchObject({
        version: 10,
        changes: [{ op: 'delete', kind: 'variable' }],
      });
    });

    it('executes a plan in one transaction and one version, or nothing of it', async () => {
      const apiId = randomUUID();
      const now = new Date().toISOString();
      const result = await store.applyPlan(
        () => [
          {
            kind: 'node',
            id: randomUUID(),
            next: { ...nodeInput({ name: 'n' }), apiId, createdAt: now, updatedAt: now },
          },
          { kind: 'api', id: apiId, next: { ...apiInput(), id: apiId, createdAt: now, updatedAt: now } },
          { kind: 'variable', id: 'v', next: { name: 'v', value: '1', updatedAt: now } },
        ],
        'config apply',
      );
      expect(result.version).toBe(1);
      expect(result.changes.map((c) => c.kind)).toEqual(['variable', 'api', 'node']);
      expect((await store.listNodes(apiId)).map((n) => n.name)).toEqual(['n']);

      // A plan whose second write conflicts leaves the first undone too.
      await expect(
        store.applyPlan(
          () => [
            { kind: 'variable', id: 'v', next: { name: 'v', value: '2', updatedAt: now } },
            { kind: 'api', id: randomUUID(), next: { ...apiInput(), id: 'x', createdAt: now, updatedAt: now } },
          ],
          'config apply',
        ),
      ).rejects.toThrow(/already exists/);
      expect((await store.getVariable('v'))!.value).toBe('1');
      expect(await store.version()).toBe(1);
      // A plan that changes nothing makes no version.
      expect(
        await store.applyPlan(
          (current) => current.variables.map((v) => ({ kind: 'variable' as const, id: v.name, next: v })),
          'config apply',
        ),
      ).toEqual({
        version: null,
        changes: [],
      });
    });
  });
}
