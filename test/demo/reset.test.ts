import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_NODES, DEMO_RESET_CAUSE, resetDemo, seedDemo } from '../../src/demo/seed.js';
import { AuditQuery } from '../../src/model/audit.js';
import { StoreConflictError } from '../../src/store/errors.js';
import { openPostgresStore } from '../../src/store/postgres/store.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { ConfigState, Store } from '../../src/store/store.js';
import { apiInput, tempDir } from '../store/fixtures.js';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema } from '../store/pg-fixtures.js';

// Seeding and --reset-demo are each one applyPlan: one transaction, one config version. A reset that
// fails (ROUTE_CONFLICT) writes nothing, so the demo an operator changed is still there. On both
// drivers: a real SQLite file, and this machine's PostgreSQL in a schema of its own.
const PORT_BASE = 19081;
let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

const DRIVERS: Record<string, () => Promise<Store>> = {
  sqlite: async () => {
    const dir = tempDir('isogate-demo-');
    const store = await openSqliteStore(join(dir.dir, 'isogate.db'));
    cleanup.push(dir.remove, () => store.close());
    return store;
  },
  postgres: async () => {
    await requirePostgres();
    const schema = uniqueSchema();
    const store = await openPostgresStore(PG_URL, { schema });
    cleanup.push(
      () => dropSchema(schema),
      () => store.close(),
    );
    return store;
  },
};

/** The config without what a reload would not compare (the version and its token). */
function content(state: ConfigState): Omit<ConfigState, 'version' | 'token'> {
  const { version: _v, token: _t, ...rest } = state;
  return rest;
}

async function demoApi(store: Store, name: string) {
  return (await store.listApis()).find((a) => a.name === name)!;
}

describe.each(Object.keys(DRIVERS))('on %s', (driver) => {
  const freshStore = () => DRIVERS[driver]!();

  describe('seedDemo', () => {
    it('writes the whole demo in one version: both variables, both APIs, five nodes, the canary selector', async () => {
      const store = await freshStore();
      const result = await seedDemo(store, PORT_BASE);
      expect(result.version).toBe(1);
      expect(await store.version()).toBe(1);
      const config = await store.loadConfig();
      expect(config.variables.map((v) => [v.name, v.value])).toEqual([
        ['IP1_enable', 'true'],
        ['IP2_enable', 'true'],
      ]);
      const demo = await demoApi(store, 'demo');
      const sticky = await demoApi(store, 'demo-sticky');
      expect([demo.path, demo.algorithm, demo.methods]).toEqual(['/demo/*', 'round_robin', ['GET', 'HEAD', 'POST']]);
      expect([sticky.path, sticky.algorithm, sticky.selector]).toEqual(['/sticky/*', 'ip_hash', null]);
      expect(demo.selector?.code).toContain('select_code');
      // The selector's history starts with the seeded one, as setSelector made it before.
      expect((await store.listSelectorVersions(demo.id)).map((v) => v.selector)).toEqual([demo.selector]);
      const nodes = [...(await store.listNodes(demo.id)), ...(await store.listNodes(sticky.id))];
      expect(nodes.map((n) => [n.name, n.connector, n.tags, n.rules[0]?.variable])).toEqual(
        DEMO_NODES.map((n, i) => [
          n.name,
          { kind: 'simple-url', url: `http://127.0.0.1:${PORT_BASE + i}` },
          [...n.tags],
          `${n.server}_enable`,
        ]),
      );
    });

    it('writes nothing into a store that is no longer empty (decided inside its transaction), so a racing start keeps the demo', async () => {
      const store = await freshStore();
      const first = await seedDemo(store, PORT_BASE);
      const before = await store.loadConfig();
      const second = await seedDemo(store, PORT_BASE + 100);
      expect(second).toEqual({ version: null, changes: [] });
      const after = await store.loadConfig();
      expect(after.version).toBe(first.version);
      expect(content(after)).toEqual(content(before));
    });
  });

  describe('resetDemo', () => {
    it('restores a flipped variable and a deleted node in one version, leaving other APIs and variables alone', async () => {
      const store = await freshStore();
      await seedDemo(store, PORT_BASE);
      await store.putVariable('IP1_enable', 'false');
      await store.putVariable('MINE', 'x');
      const mine = await store.createApi(apiInput({ name: 'mine', path: '/mine/*' }));
      const oldDemo = await demoApi(store, 'demo');
      const ip2 = (await store.listNodes(oldDemo.id)).find((n) => n.name === 'ip2-a')!;
      await store.deleteNode(oldDemo.id, ip2.id);
      const before = await store.version();

      const result = await resetDemo(store, PORT_BASE);
      expect(result.version).toBe(before + 1);
      expect(await store.version()).toBe(before + 1);
      const audit = await store.listAudit(AuditQuery.parse({ version: before + 1, limit: 500 }));
      expect(audit.entries.length).toBeGreaterThan(0);
      expect(new Set(audit.entries.map((e) => e.cause))).toEqual(new Set([DEMO_RESET_CAUSE]));

      const vars = Object.fromEntries((await store.listVariables()).map((v) => [v.name, v.value]));
      expect(vars).toEqual({ IP1_enable: 'true', IP2_enable: 'true', MINE: 'x' });
      expect((await store.listApis()).map((a) => a.name).sort()).toEqual(['demo', 'demo-sticky', 'mine']);
      expect(await store.getApi(mine.id)).toEqual(mine);
      const demo = await demoApi(store, 'demo');
      expect(demo.id).not.toBe(oldDemo.id);
      expect(await store.getApi(oldDemo.id)).toBeNull();
      expect((await store.listNodes(demo.id)).map((n) => n.name)).toEqual(['ip1-a', 'ip2-a', 'ip1-canary']);
      const sticky = await demoApi(store, 'demo-sticky');
      expect((await store.listNodes(sticky.id)).map((n) => n.name)).toEqual(['ip1-b', 'ip2-b']);
      expect((await store.loadConfig()).nodes).toHaveLength(5);
    });

    it('meeting a route conflict writes nothing: the old demo APIs, nodes and variables stay as they were', async () => {
      const store = await freshStore();
      await seedDemo(store, PORT_BASE);
      // The operator moves the demo off /demo/* and another API takes it meanwhile.
      const demo = await demoApi(store, 'demo');
      await store.updateApi(demo.id, (a) => ({ ...a, path: '/old-demo/*' }));
      await store.createApi(apiInput({ name: 'taker', path: '/demo/*', methods: ['GET'] }));
      await store.putVariable('IP1_enable', 'false');
      const ip2 = (await store.listNodes(demo.id)).find((n) => n.name === 'ip2-a')!;
      await store.deleteNode(demo.id, ip2.id);
      const before = await store.loadConfig();

      const err = await resetDemo(store, PORT_BASE).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreConflictError);
      expect((err as StoreConflictError).code).toBe('ROUTE_CONFLICT');

      const after = await store.loadConfig();
      expect(after.version).toBe(before.version);
      expect(content(after)).toEqual(content(before));
      expect((await store.listNodes(demo.id)).map((n) => n.name)).toEqual(['ip1-a', 'ip1-canary']);
      expect((await store.getVariable('IP1_enable'))?.value).toBe('false');
    });
  });
});
