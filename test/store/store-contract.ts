import { ZodError } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Api } from '../../src/model/api.js';
import { processState, type ProcessBeat } from '../../src/model/cluster.js';
import { Node } from '../../src/model/node.js';
import type { SelectorConfig } from '../../src/model/selector.js';
import { CertificateConflictError, StoreConflictError, StoredDataError } from '../../src/store/errors.js';
import type { Store } from '../../src/store/store.js';
import { apiInput, certRecord, nodeInput } from './fixtures.js';

/** A valid heartbeat of a made-up gateway worker. */
function beat(fields: Partial<ProcessBeat> = {}): ProcessBeat {
  return {
    id: 'p-1',
    host: 'gw-1.internal',
    pid: 4242,
    role: 'gateway',
    worker: 1,
    serves: 'gateway',
    startedAt: '2026-01-02T03:04:05.678Z',
    configVersion: 0,
    heartbeatMs: 5000,
    ...fields,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One fresh, empty store for one test, with what the contract needs to look under it. */
export interface StoreFixture {
  readonly store: Store;
  /** Opens another store on the same data, as a second process (or a restart) would; closed by `dispose`. */
  openAnother(): Promise<Store>;
  /** How many rows `table` holds (all, or those of one API), read beside the store. */
  countRows(table: 'nodes' | 'selector_versions', apiId?: string): Promise<number>;
  /** Makes every later insert into selector_versions fail with the message "disk on fire". */
  breakSelectorHistory(): Promise<void>;
  /** Deletes every audit row, as if the writes were made before the log was kept. */
  clearAudit(): Promise<void>;
  /** Runs one SQL statement beside the store, as a hand edit (or another isogate) would. */
  exec(statement: string): Promise<void>;
  /** Closes every store it opened and removes the data. */
  dispose(): Promise<void>;
}

/** A store driver under test: makes a fresh fixture per test (a new file, a new schema). */
export interface StoreDriver {
  fresh(): Promise<StoreFixture>;
}

const selector = (code: string): SelectorConfig => ({
  code,
  onError: 'use-all',
  timeoutMs: 20,
  memoryMb: 32,
  memoize: 'auto',
});

/**
 * The behaviour every Store driver must show, as one suite: registers it under `name` for `driver`.
 * Each test gets its own empty store.
 */
export function describeStoreContract(name: string, driver: StoreDriver): void {
  describe(name, () => {
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

    describe('APIs', () => {
      it('creates an API with an id and timestamps and reads it back unchanged', async () => {
        const created = await store.createApi(apiInput({ host: 'API.Example.com', methods: ['GET', 'GET', 'POST'] }));
        expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(created.host).toBe('api.example.com');
        expect(created.methods).toEqual(['GET', 'POST']);
        expect(created.timeouts).toEqual({ connectMs: 3000, headersMs: 30000, bodyMs: 60000, upgradeIdleMs: 300000 });
        expect(created.createdAt).toBe(created.updatedAt);
        expect(Number.isNaN(Date.parse(created.createdAt))).toBe(false);
        expect(await store.getApi(created.id)).toEqual(created);
        expect(await store.listApis()).toEqual([created]);
      });

      it('round-trips booleans, the largest body limit and every nested field', async () => {
        const created = await store.createApi(
          apiInput({
            stripPrefix: true,
            maxBodyBytes: 1024 * 1024 * 1024,
            host: '*.example.com',
            methods: ['DELETE', 'OPTIONS'],
          }),
        );
        expect(await store.getApi(created.id)).toEqual(created);
        expect(created).toMatchObject({ stripPrefix: true, maxBodyBytes: 1024 * 1024 * 1024 });
        const node = await store.createNode(created.id, nodeInput({ enabled: false, weight: 100, tags: ['a', 'b'] }));
        expect(await store.getNode(created.id, node!.id)).toEqual(node);
        expect((await store.loadConfig()).nodes).toEqual([node]);
      });

      it('returns null or false for unknown ids without touching the version', async () => {
        expect(await store.getApi('nope')).toBeNull();
        expect(await store.updateApi('nope', (a) => a)).toBeNull();
        expect(await store.deleteApi('nope')).toBe(false);
        expect(await store.setSelector('nope', selector('function select(r,e,n){return n}'))).toBeNull();
        expect(await store.version()).toBe(0);
      });

      it('updates through the mutator and keeps id and createdAt whatever it returns', async () => {
        const api = await store.createApi(apiInput());
        const updated = await store.updateApi(api.id, (cur) => ({
          ...cur,
          id: 'forged',
          createdAt: '1999-01-01T00:00:00.000Z',
          retries: 3,
          timeouts: { ...cur.timeouts, connectMs: 500 },
        }));
        expect(updated).not.toBeNull();
        expect(updated!.id).toBe(api.id);
        expect(updated!.createdAt).toBe(api.createdAt);
        expect(updated!.retries).toBe(3);
        expect(updated!.timeouts).toEqual({ connectMs: 500, headersMs: 30000, bodyMs: 60000, upgradeIdleMs: 300000 });
        expect(await store.getApi(api.id)).toEqual(updated);
        expect(await store.getApi('forged')).toBeNull();
      });

      it('bumps the config version exactly once per successful write', async () => {
        expect(await store.version()).toBe(0);
        const api = await store.createApi(apiInput());
        expect(await store.version()).toBe(1);
        await store.updateApi(api.id, (a) => ({ ...a, retries: 2 }));
        expect(await store.version()).toBe(2);
        const node = await store.createNode(api.id, nodeInput());
        expect(await store.version()).toBe(3);
        await store.updateNode(api.id, node!.id, (n) => ({ ...n, weight: 5 }));
        expect(await store.version()).toBe(4);
        await store.putVariable('IP1_enable', 'true');
        expect(await store.version()).toBe(5);
        await store.setSelector(api.id, selector('function select(r,e,n){return n}'));
        expect(await store.version()).toBe(6);
        await store.deleteNode(api.id, node!.id);
        expect(await store.version()).toBe(7);
        await store.deleteVariable('IP1_enable');
        expect(await store.version()).toBe(8);
        await store.deleteApi(api.id);
        expect(await store.version()).toBe(9);
      });

      it('writes nothing when the mutator throws', async () => {
        const api = await store.createApi(apiInput());
        const before = await store.version();
        await expect(
          store.updateApi(api.id, () => {
            throw new Error('changed my mind');
          }),
        ).rejects.toThrow('changed my mind');
        expect(await store.version()).toBe(before);
        expect(await store.getApi(api.id)).toEqual(api);
      });

      it('rejects an invalid mutator result with a ZodError and writes nothing', async () => {
        const api = await store.createApi(apiInput());
        const before = await store.version();
        const err = await store
          .updateApi(api.id, (a) => ({ ...a, retries: 99, path: 'no-slash' }))
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ZodError);
        const paths = (err as ZodError).issues.map((i) => i.path.join('.')).sort();
        expect(paths).toEqual(['path', 'retries']);
        expect(await store.version()).toBe(before);
        expect(await store.getApi(api.id)).toEqual(api);
      });

      it('treats API names as unique regardless of case', async () => {
        const first = await store.createApi(apiInput({ name: 'Orders', path: '/a' }));
        const err = await store.createApi(apiInput({ name: 'oRDERS', path: '/b' })).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreConflictError);
        expect((err as StoreConflictError).code).toBe('API_NAME_TAKEN');
        expect((err as StoreConflictError).conflictingApiId).toBe(first.id);
        expect(await store.listApis()).toHaveLength(1);
        expect(await store.version()).toBe(1);
      });

      it('refuses colliding routes and allows ones that differ in host or methods', async () => {
        await store.createApi(apiInput({ name: 'a', path: '/x', methods: ['GET', 'POST'] }));
        const clash = await store
          .createApi(apiInput({ name: 'b', path: '/x', methods: ['POST', 'PUT'] }))
          .catch((e: unknown) => e);
        expect(clash).toBeInstanceOf(StoreConflictError);
        expect((clash as StoreConflictError).code).toBe('ROUTE_CONFLICT');
        expect((clash as StoreConflictError).message).toContain('POST');

        await store.createApi(apiInput({ name: 'c', path: '/x', methods: ['PUT'] }));
        await store.createApi(apiInput({ name: 'd', path: '/x', methods: ['GET'], host: 'a.example.com' }));
        const hostClash = await store
          .createApi(apiInput({ name: 'e', path: '/x', methods: ['GET'], host: 'A.EXAMPLE.COM' }))
          .catch((e: unknown) => e);
        expect((hostClash as StoreConflictError).code).toBe('ROUTE_CONFLICT');
        expect((await store.listApis()).map((a) => a.name).sort()).toEqual(['a', 'c', 'd']);
      });

      it('checks conflicts on update too, but never against the API itself', async () => {
        const a = await store.createApi(apiInput({ name: 'a', path: '/a' }));
        const b = await store.createApi(apiInput({ name: 'b', path: '/b' }));
        const before = await store.version();

        await expect(store.updateApi(b.id, (cur) => ({ ...cur, path: '/a' }))).rejects.toMatchObject({
          code: 'ROUTE_CONFLICT',
        });
        await expect(store.updateApi(b.id, (cur) => ({ ...cur, name: 'A' }))).rejects.toMatchObject({
          code: 'API_NAME_TAKEN',
        });
        expect(await store.version()).toBe(before);
        expect(await store.getApi(b.id)).toEqual(b);

        const renamed = await store.updateApi(a.id, (cur) => ({ ...cur, name: 'A', retries: 0 }));
        expect(renamed!.name).toBe('A');
      });

      it('deletes an API with its nodes and selector history', async () => {
        const api = await store.createApi(apiInput());
        const other = await store.createApi(apiInput({ name: 'other', path: '/other' }));
        await store.createNode(api.id, nodeInput({ name: 'a' }));
        await store.createNode(api.id, nodeInput({ name: 'b' }));
        const kept = await store.createNode(other.id, nodeInput({ name: 'kept' }));
        await store.setSelector(api.id, selector('function select(r,e,n){return n}'));

        expect(await store.deleteApi(api.id)).toBe(true);
        expect(await store.getApi(api.id)).toBeNull();
        expect(await store.listNodes(api.id)).toEqual([]);
        expect(await store.listSelectorVersions(api.id)).toEqual([]);
        expect(await fx.countRows('nodes', api.id)).toBe(0);
        expect(await fx.countRows('selector_versions', api.id)).toBe(0);
        expect(await store.listNodes(other.id)).toEqual([kept]);
      });
    });

    describe('nodes', () => {
      it('creates, lists in creation order, updates and deletes nodes', async () => {
        const api = await store.createApi(apiInput());
        const names = ['zeta', 'alpha', 'mid'];
        const created = [];
        for (const name of names) created.push(await store.createNode(api.id, nodeInput({ name })));
        expect((await store.listNodes(api.id)).map((n) => n.name)).toEqual(names);

        const first = created[0]!;
        expect(first.enabled).toBe(true);
        expect(first.weight).toBe(1);
        expect(first.apiId).toBe(api.id);
        expect(await store.getNode(api.id, first.id)).toEqual(first);

        const rules = [{ variable: 'IP1_enable', op: 'eq' as const, value: 'true' }];
        const updated = await store.updateNode(api.id, first.id, (n) => ({
          ...n,
          enabled: false,
          tags: ['temp'],
          rules,
          apiId: 'x',
        }));
        expect(updated).toMatchObject({ enabled: false, tags: ['temp'], rules, apiId: api.id });
        expect(await store.getNode(api.id, first.id)).toEqual(updated);
        // An update keeps the node's place.
        expect((await store.listNodes(api.id)).map((n) => n.name)).toEqual(names);

        expect(await store.deleteNode(api.id, first.id)).toBe(true);
        expect(await store.deleteNode(api.id, first.id)).toBe(false);
        expect((await store.listNodes(api.id)).map((n) => n.name)).toEqual(['alpha', 'mid']);
        const last = await store.createNode(api.id, nodeInput({ name: 'last' }));
        expect((await store.listNodes(api.id)).map((n) => n.id).at(-1)).toBe(last!.id);
      });

      it('returns null for a node of an unknown API or an unknown node, without a version bump', async () => {
        const api = await store.createApi(apiInput());
        const node = await store.createNode(api.id, nodeInput());
        const other = await store.createApi(apiInput({ name: 'other', path: '/other' }));
        const before = await store.version();
        expect(await store.createNode('missing', nodeInput())).toBeNull();
        expect(await store.getNode(other.id, node!.id)).toBeNull();
        expect(await store.updateNode(other.id, node!.id, (n) => n)).toBeNull();
        expect(await store.deleteNode(other.id, node!.id)).toBe(false);
        expect(await store.version()).toBe(before);
      });

      it('rejects an invalid node from a mutator and writes nothing', async () => {
        const api = await store.createApi(apiInput());
        const node = await store.createNode(api.id, nodeInput());
        const before = await store.version();
        await expect(
          store.updateNode(api.id, node!.id, (n) => ({
            ...n,
            weight: 0,
            connector: { kind: 'simple-url', url: 'ftp://x' },
          })),
        ).rejects.toBeInstanceOf(ZodError);
        expect(await store.version()).toBe(before);
        expect(await store.getNode(api.id, node!.id)).toEqual(node);
      });
    });

    describe('variables', () => {
      it('creates, replaces, lists by name and deletes variables', async () => {
        const a = await store.putVariable('IP1_enable', 'true');
        expect(a).toMatchObject({ name: 'IP1_enable', value: 'true' });
        await store.putVariable('A_first', 'x');
        const replaced = await store.putVariable('IP1_enable', 'false');
        expect(replaced.value).toBe('false');
        expect(await store.getVariable('IP1_enable')).toEqual(replaced);
        expect((await store.listVariables()).map((v) => v.name)).toEqual(['A_first', 'IP1_enable']);
        expect(await store.deleteVariable('IP1_enable')).toBe(true);
        expect(await store.deleteVariable('IP1_enable')).toBe(false);
        expect(await store.getVariable('IP1_enable')).toBeNull();
        expect(await store.version()).toBe(4);
      });

      it('lists variables in bytewise name order, whatever the database locale', async () => {
        for (const name of ['b', '_z', 'B', 'a', 'A_x', 'a_1']) await store.putVariable(name, name);
        expect((await store.listVariables()).map((v) => v.name)).toEqual(['A_x', 'B', '_z', 'a', 'a_1', 'b']);
        expect((await store.loadConfig()).variables.map((v) => v.name)).toEqual(['A_x', 'B', '_z', 'a', 'a_1', 'b']);
      });

      it('refuses an invalid variable name without writing', async () => {
        await expect(store.putVariable('1bad', 'x')).rejects.toBeInstanceOf(ZodError);
        expect(await store.version()).toBe(0);
        expect(await store.listVariables()).toEqual([]);
      });
    });

    describe('selectors', () => {
      it('records every save, newest first, and keeps only the last 20', async () => {
        const api = await store.createApi(apiInput());
        for (let i = 1; i <= 25; i++)
          await store.setSelector(api.id, selector(`function select(r,e,n){return n} // ${i}`));
        await store.setSelector(api.id, null);

        const versions = await store.listSelectorVersions(api.id);
        expect(versions).toHaveLength(20);
        expect(versions.map((v) => v.version)).toEqual(Array.from({ length: 20 }, (_, i) => 26 - i));
        expect(versions[0]!.selector).toBeNull();
        expect(versions[1]!.selector!.code).toContain('// 25');
        expect(versions.at(-1)!.selector!.code).toContain('// 7');
        expect(await fx.countRows('selector_versions')).toBe(20);
        expect((await store.getApi(api.id))!.selector).toBeNull();
      });

      it('fills selector defaults and records selectors set at creation or through updateApi', async () => {
        const api = await store.createApi(apiInput({ selector: { code: 'function select(r,e,n){return n}' } }));
        expect(api.selector).toEqual(selector('function select(r,e,n){return n}'));
        await store.updateApi(api.id, (a) => ({ ...a, retries: 4 }));
        await store.updateApi(api.id, (a) => ({ ...a, selector: { ...a.selector!, timeoutMs: 50 } }));
        const versions = await store.listSelectorVersions(api.id);
        expect(versions.map((v) => [v.version, v.selector?.timeoutMs])).toEqual([
          [2, 50],
          [1, 20],
        ]);
      });

      it('leaves the API and version untouched when recording the history fails mid-way', async () => {
        const api = await store.createApi(apiInput({ selector: { code: 'function select(r,e,n){return n}' } }));
        const before = await store.version();
        await fx.breakSelectorHistory();

        await expect(store.setSelector(api.id, selector('function select(r,e,n){return []}'))).rejects.toThrow(
          'disk on fire',
        );
        expect(await store.version()).toBe(before);
        expect(await store.getApi(api.id)).toEqual(api);
        expect(await store.listSelectorVersions(api.id)).toHaveLength(1);
      });
    });

    describe('version identity', () => {
      it('writes a new token with every version, read with the number and with the config', async () => {
        const empty = await store.stamp();
        expect(empty).toEqual({ version: 0, token: null });
        await store.putVariable('a', '1');
        const first = await store.stamp();
        expect(first.version).toBe(1);
        expect(first.token).toEqual(expect.any(String));
        const loaded = await store.loadConfig();
        expect({ version: loaded.version, token: loaded.token }).toEqual(first);
        await store.putVariable('a', '2');
        const second = await store.stamp();
        expect(second.version).toBe(2);
        expect(second.token).not.toBe(first.token);
        // A version number handed out again (a restore, a failover) comes with another token.
        await fx.exec('UPDATE meta SET config_version = 1 WHERE id = 1');
        await store.putVariable('a', '3');
        const again = await store.stamp();
        expect(again.version).toBe(2);
        expect([first.token, second.token]).not.toContain(again.token);
      });

      it('answers a stored row that does not read back with StoredDataError, not a validation error', async () => {
        const api = await store.createApi(apiInput());
        await fx.exec(`UPDATE apis SET methods = '["GET", ' WHERE id = '${api.id}'`);
        await expect(store.getApi(api.id)).rejects.toBeInstanceOf(StoredDataError);
        await fx.exec(`UPDATE apis SET methods = '["BREW"]' WHERE id = '${api.id}'`);
        const err = await store.listApis().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoredDataError);
        expect(err).toMatchObject({ code: 'STORE_DATA_INVALID', kind: 'api', id: api.id });
        await expect(store.loadConfig()).rejects.toBeInstanceOf(StoredDataError);
      });
    });

    describe('cluster processes', () => {
      it('registers a process, refreshes it on each beat by the store clock, and removes it', async () => {
        const before = Date.now();
        await store.heartbeat(beat());
        const first = await store.listProcesses();
        expect(first.processes).toEqual([{ ...beat(), lastSeen: expect.any(String) }]);
        const seen = Date.parse(first.processes[0]!.lastSeen);
        // The store's clock, which on this machine is ours: within the test's time, millisecond text.
        expect(seen).toBeGreaterThanOrEqual(before - 1_000);
        expect(first.processes[0]!.lastSeen).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(Date.parse(first.now)).toBeGreaterThanOrEqual(seen);
        expect(processState(first.processes[0]!, first.now).state).toBe('alive');

        await sleep(15);
        await store.heartbeat(beat({ configVersion: 7 }));
        const second = await store.listProcesses();
        expect(second.processes).toHaveLength(1);
        expect(second.processes[0]!.configVersion).toBe(7);
        expect(Date.parse(second.processes[0]!.lastSeen)).toBeGreaterThan(seen);

        expect(await store.removeProcess('p-1')).toBe(true);
        expect(await store.removeProcess('p-1')).toBe(false);
        expect((await store.listProcesses()).processes).toEqual([]);
      });

      it('never bumps the config version, and lists by role, host and worker', async () => {
        await store.heartbeat(beat({ id: 'w2', worker: 2 }));
        await store.heartbeat(beat({ id: 'w1', worker: 1 }));
        await store.heartbeat(
          beat({ id: 'adm', role: 'admin', worker: null, serves: 'admin', host: 'ctl', configVersion: null }),
        );
        await store.heartbeat(beat({ id: 'main', worker: null, host: 'gw-1.internal' }));
        await store.removeProcess('nope');
        await store.pruneProcesses(60_000);
        expect(await store.version()).toBe(0);
        expect((await store.loadConfig()).version).toBe(0);
        expect((await store.listProcesses()).processes.map((p) => p.id)).toEqual(['adm', 'main', 'w1', 'w2']);
        expect(await store.version()).toBe(0);
      });

      it('shows a process as stale after three missed intervals and prunes only rows older than asked', async () => {
        await store.heartbeat(beat({ id: 'old', heartbeatMs: 50 }));
        await sleep(200);
        await store.heartbeat(beat({ id: 'fresh', heartbeatMs: 50 }));
        const state = await store.listProcesses();
        const byId = Object.fromEntries(state.processes.map((p) => [p.id, processState(p, state.now).state]));
        expect(byId).toEqual({ old: 'stale', fresh: 'alive' });

        expect(await store.pruneProcesses(60_000)).toBe(0);
        expect(await store.pruneProcesses(150)).toBe(1);
        expect((await store.listProcesses()).processes.map((p) => p.id)).toEqual(['fresh']);
      });

      it('leaves a row that does not validate out of the list instead of failing it', async () => {
        await store.heartbeat(beat({ id: 'good' }));
        await fx.exec(
          `INSERT INTO processes (id, host, pid, role, worker, serves, started_at, config_version, heartbeat_ms, last_seen)
           VALUES ('hostile', 'h', 1, 'sidecar', NULL, 'gateway', 'not a date', 0, 0, '2024-01-01T00:00:00.000Z')`,
        );
        expect((await store.listProcesses()).processes.map((p) => p.id)).toEqual(['good']);
        expect((await store.listProcesses()).processes.map((p) => p.id)).toEqual(['good']);
      });

      it('refuses an invalid heartbeat without writing', async () => {
        await expect(store.heartbeat(beat({ pid: -1 }))).rejects.toBeInstanceOf(ZodError);
        await expect(store.heartbeat({ ...beat(), role: 'boss' } as unknown as ProcessBeat)).rejects.toBeInstanceOf(
          ZodError,
        );
        await expect(store.heartbeat({ ...beat(), extra: 1 } as unknown as ProcessBeat)).rejects.toBeInstanceOf(
          ZodError,
        );
        expect((await store.listProcesses()).processes).toEqual([]);
      });

      it('sees the beats of another connection to the same data', async () => {
        const other = await fx.openAnother();
        try {
          await other.heartbeat(beat({ id: 'elsewhere' }));
          expect((await store.listProcesses()).processes.map((p) => p.id)).toEqual(['elsewhere']);
        } finally {
          await other.close();
        }
      });
    });

    describe('certificates', () => {
      // Certificates list by creation time, then id: two made within one millisecond would list in id order.
      const nextMillisecond = () => new Promise((resolve) => setTimeout(resolve, 2));

      it('stores, lists oldest first, replaces and deletes certificates, each write one version', async () => {
        const v0 = await store.version();
        const a = await store.createCertificate(certRecord(['a.test', '*.b.test']));
        await nextMillisecond();
        const b = await store.createCertificate(certRecord(['c.test']));
        expect(a).toMatchObject({
          id: expect.any(String),
          names: ['a.test', '*.b.test'],
          privateKey: expect.stringContaining('secret'),
        });
        expect((await store.listCertificates()).map((c) => c.id)).toEqual([a.id, b.id]);
        expect(await store.getCertificate(a.id)).toEqual(a);
        const replaced = await store.updateCertificate(a.id, (cur) => ({
          ...cur,
          names: ['a.test'],
          fingerprint: 'EF:01',
        }));
        expect(replaced).toMatchObject({ id: a.id, createdAt: a.createdAt, names: ['a.test'], fingerprint: 'EF:01' });
        expect((await store.loadConfig()).certificates).toEqual([replaced, b]);
        expect(await store.deleteCertificate(b.id)).toBe(true);
        expect(await store.deleteCertificate(b.id)).toBe(false);
        expect(await store.updateCertificate(b.id, (c) => c)).toBeNull();
        expect(await store.version()).toBe(v0 + 4);
      });

      it('refuses a name another certificate serves, and writes nothing', async () => {
        const a = await store.createCertificate(certRecord(['a.test', '*.b.test']));
        const v = await store.version();
        const err = await store.createCertificate(certRecord(['x.test', '*.b.test'])).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(CertificateConflictError);
        expect(err).toMatchObject({
          code: 'CERTIFICATE_NAME_TAKEN',
          certificateName: '*.b.test',
          conflictingCertificateId: a.id,
        });
        const b = await store.createCertificate(certRecord(['c.test']));
        await expect(store.updateCertificate(b.id, (cur) => ({ ...cur, names: ['a.test'] }))).rejects.toBeInstanceOf(
          CertificateConflictError,
        );
        // By id: two certificates made within one millisecond list in id order.
        const names = new Map((await store.listCertificates()).map((c) => [c.id, c.names]));
        expect(names).toEqual(
          new Map([
            [a.id, ['a.test', '*.b.test']],
            [b.id, ['c.test']],
          ]),
        );
        expect(await store.version()).toBe(v + 1);
      });

      it('keeps one default: a new default takes over from the previous one', async () => {
        const a = await store.createCertificate(certRecord(['a.test'], { isDefault: true }));
        await nextMillisecond();
        const b = await store.createCertificate(certRecord(['b.test'], { isDefault: true }));
        expect((await store.listCertificates()).map((c) => [c.id, c.isDefault])).toEqual([
          [a.id, false],
          [b.id, true],
        ]);
        await store.updateCertificate(a.id, (cur) => ({ ...cur, isDefault: true }));
        expect((await store.listCertificates()).map((c) => c.isDefault)).toEqual([true, false]);
      });

      it('validates records', async () => {
        await expect(store.createCertificate(certRecord(['Not A Name']))).rejects.toBeInstanceOf(ZodError);
        expect(await store.listCertificates()).toEqual([]);
      });
    });

    describe('consumers and access', () => {
      const key = (hash: string) => ({
        id: `k-${hash.slice(0, 4)}`,
        kind: 'key' as const,
        hash,
        hint: 'abcd',
        createdAt: '2026-01-01T00:00:00.000Z',
      });
      const basic = (username: string) => ({
        id: `b-${username}`,
        kind: 'basic' as const,
        username,
        hash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
        createdAt: '2026-01-01T00:00:00.000Z',
      });

      it('creates, lists, updates and deletes consumers, each write one version', async () => {
        const c = await store.createConsumer({
          name: 'acme',
          tags: ['beta'],
          credentials: [key('a'.repeat(64)), basic('acme')],
        });
        expect(c.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(await store.getConsumer(c.id)).toEqual(c);
        expect(await store.listConsumers()).toEqual([c]);
        expect(await store.version()).toBe(1);
        const renamed = await store.updateConsumer(c.id, (x) => ({
          ...x,
          name: 'acme-corp',
          credentials: x.credentials.slice(1),
        }));
        expect(renamed).toMatchObject({
          id: c.id,
          name: 'acme-corp',
          createdAt: c.createdAt,
          credentials: [basic('acme')],
        });
        expect((await store.loadConfig()).consumers).toEqual([renamed]);
        expect(await store.deleteConsumer(c.id)).toBe(true);
        expect(await store.deleteConsumer(c.id)).toBe(false);
        expect(await store.updateConsumer(c.id, (x) => x)).toBeNull();
        expect(await store.version()).toBe(3);
      });

      it('refuses a taken name or a credential another consumer holds, and writes nothing', async () => {
        const first = await store.createConsumer({
          name: 'Acme',
          tags: [],
          credentials: [key('b'.repeat(64)), basic('shared')],
        });
        const codeOf = async (p: Promise<unknown>) =>
          p.then(
            () => 'written',
            (err: unknown) => (err as StoreConflictError).code,
          );
        expect(await codeOf(store.createConsumer({ name: 'ACME', tags: [], credentials: [] }))).toBe(
          'CONSUMER_NAME_TAKEN',
        );
        expect(
          await codeOf(store.createConsumer({ name: 'other', tags: [], credentials: [key('b'.repeat(64))] })),
        ).toBe('CREDENTIAL_TAKEN');
        expect(await codeOf(store.createConsumer({ name: 'other', tags: [], credentials: [basic('shared')] }))).toBe(
          'CREDENTIAL_TAKEN',
        );
        const second = await store.createConsumer({ name: 'other', tags: [], credentials: [] });
        expect(await codeOf(store.updateConsumer(second.id, (x) => ({ ...x, credentials: [basic('shared')] })))).toBe(
          'CREDENTIAL_TAKEN',
        );
        expect(await store.version()).toBe(2);
        expect(await store.getConsumer(first.id)).toEqual(first);
      });

      it('stores an API access config and reads rows without one as none', async () => {
        const access = {
          auth: {
            methods: [{ kind: 'key', header: 'x-key', query: null }, { kind: 'anonymous' }],
            forwardCredentials: false,
            consumers: ['acme'],
            tags: [],
          },
          limits: [
            {
              by: 'consumer',
              header: null,
              rate: 10,
              per: 'second',
              burst: 20,
              policy: 'cluster',
              onRedisDown: 'closed',
              ipv6Prefix: 64,
            },
          ],
          ip: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: [] },
          cors: {
            origins: ['https://app.example.com'],
            methods: [],
            headers: ['x-key'],
            exposeHeaders: [],
            credentials: true,
            maxAgeSec: 60,
          },
        };
        const api = await store.createApi(apiInput({ access }));
        expect((await store.getApi(api.id))!.access).toEqual(access);
        const plain = await store.createApi(apiInput({ name: 'plain', path: '/plain' }));
        expect(plain.access).toEqual({ auth: null, limits: [], ip: null, cors: null });
      });
    });

    describe('loadConfig and persistence', () => {
      it('loads everything at one version and survives a reopen', async () => {
        const api = await store.createApi(apiInput());
        const n1 = await store.createNode(api.id, nodeInput({ name: 'n1', tags: ['temp'] }));
        const n2 = await store.createNode(
          api.id,
          nodeInput({ name: 'n2', rules: [{ variable: 'v', op: 'in', value: ['a', 'b'] }] }),
        );
        const v = await store.putVariable('v', 'a');

        const config = await store.loadConfig();
        expect(config).toEqual({
          version: 4,
          token: (await store.stamp()).token,
          apis: [api],
          nodes: [n1, n2],
          variables: [v],
          certificates: [],
          consumers: [],
        });
        for (const a of config.apis) Api.parse(a);
        for (const n of config.nodes) Node.parse(n);

        await store.close();
        store = await fx.openAnother();
        expect(await store.loadConfig()).toEqual(config);
      });

      it('sees writes made through another connection to the same data', async () => {
        const other = await fx.openAnother();
        try {
          await other.createApi(apiInput());
          await store.putVariable('x', '1');
          expect(await store.version()).toBe(2);
          expect(await other.version()).toBe(2);
          expect((await store.loadConfig()).apis).toHaveLength(1);
          await expect(store.createApi(apiInput({ path: '/elsewhere' }))).rejects.toMatchObject({
            code: 'API_NAME_TAKEN',
          });
        } finally {
          await other.close();
        }
      });
    });
  });
}
