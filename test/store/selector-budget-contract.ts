import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Api } from '../../src/model/api.js';
import type { SelectorBudget } from '../../src/model/selector-budget.js';
import type { SelectorConfig } from '../../src/model/selector.js';
import type { Actor } from '../../src/model/token.js';
import type { Store } from '../../src/store/store.js';
import { withWriteScope } from '../../src/store/write-scope.js';
import { refusal } from './audit-contract.js';
import { apiInput } from './fixtures.js';
import type { StoreDriver, StoreFixture } from './store-contract.js';

const alice: Actor = { id: 'tok-alice', name: 'alice', role: 'editor' };
const selector = (memoryMb: number): SelectorConfig => ({
  code: 'function select(r, e, nodes) { return nodes; }',
  onError: 'use-all',
  timeoutMs: 20,
  memoryMb,
  memoize: 'auto',
});

/**
 * The selector budget as every Store driver holds it: a write scope's budget is checked inside the
 * write's transaction against the APIs as the write leaves them, so a refused write leaves nothing
 * and two writers racing for the last place cannot both get it.
 */
export function describeSelectorBudgetContract(name: string, driver: StoreDriver): void {
  describe(`${name}: the selector budget of a write scope`, () => {
    let fx: StoreFixture;
    let store: Store;
    const budget: SelectorBudget = { programs: 2, memoryMb: 64 };
    const within = <T>(fn: () => Promise<T>, scopeBudget: SelectorBudget = budget) =>
      withWriteScope({ actor: alice, selectorBudget: scopeBudget }, fn);

    beforeEach(async () => {
      fx = await driver.fresh();
      store = fx.store;
    });
    afterEach(async () => {
      await store.close();
      await fx.dispose();
    });

    it('refuses a create, a selector save, an API update and a revert past it, and writes nothing', async () => {
      const a = await within(() => store.createApi(apiInput({ name: 'a', path: '/a', selector: selector(32) })));
      const b = await within(() => store.createApi(apiInput({ name: 'b', path: '/b' })));
      const c = await within(() => store.createApi(apiInput({ name: 'c', path: '/c' })));
      expect((await within(() => store.setSelector(b.id, selector(32))))?.selector?.memoryMb).toBe(32);
      const version = await store.version();

      // A third selector; more memory than 64 MB; a plan that adds one.
      expect(await refusal(within(() => store.setSelector(c.id, selector(8))))).toBe('SELECTOR_BUDGET_EXCEEDED');
      expect(await refusal(within(() => store.setSelector(a.id, selector(40))))).toBe('SELECTOR_BUDGET_EXCEEDED');
      expect(
        await refusal(within(() => store.createApi(apiInput({ name: 'd', path: '/d', selector: selector(8) })))),
      ).toBe('SELECTOR_BUDGET_EXCEEDED');
      expect(await refusal(within(() => store.updateApi(c.id, (api) => ({ ...api, selector: selector(8) }))))).toBe(
        'SELECTOR_BUDGET_EXCEEDED',
      );

      expect(await store.version()).toBe(version);
      expect((await store.getApi(c.id))?.selector).toBeNull();
      expect((await store.getApi(a.id))?.selector?.memoryMb).toBe(32);
      expect(await fx.countRows('selector_versions', c.id)).toBe(0);
      expect((await store.listApis()).map((api) => api.name).sort()).toEqual(['a', 'b', 'c']);

      // Taking one away makes room; a save that adds nothing always goes through.
      await within(() => store.setSelector(a.id, null));
      const removed = await store.version();
      expect((await within(() => store.setSelector(c.id, selector(8))))?.selector).not.toBeNull();
      // Reverting the removal would make three again.
      expect(await refusal(within(() => store.revertVersion(removed)))).toBe('SELECTOR_BUDGET_EXCEEDED');
      expect(
        await within(() => store.setSelector(c.id, { ...selector(8), code: 'function select(){ return []; }' })),
      ).not.toBeNull();
    });

    it('lets a config past it (stored under a larger budget) be edited and brought back, but not grow', async () => {
      const apis: Api[] = [];
      for (const name of ['a', 'b', 'c'])
        apis.push(await store.createApi(apiInput({ name, path: `/${name}`, selector: selector(32) })));
      // Written by a process without a budget (or a larger one): three selectors, 96 MB.
      expect(await within(() => store.setSelector(apis[0]!.id, { ...selector(32), timeoutMs: 50 }))).not.toBeNull();
      expect(await within(() => store.setSelector(apis[1]!.id, selector(16)))).not.toBeNull();
      expect(await refusal(within(() => store.setSelector(apis[1]!.id, selector(24))))).toBe(
        'SELECTOR_BUDGET_EXCEEDED',
      );
      expect(await within(() => store.deleteApi(apis[2]!.id))).toBe(true);
    });

    it('lets only one of two writers racing for the last place have it', async () => {
      const other = await fx.openAnother();
      const a = await store.createApi(apiInput({ name: 'a', path: '/a' }));
      const b = await store.createApi(apiInput({ name: 'b', path: '/b' }));
      const one = { programs: 1, memoryMb: 64 };
      const results = await Promise.allSettled([
        within(() => store.setSelector(a.id, selector(8)), one),
        within(() => other.setSelector(b.id, selector(8)), one),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason.code).toBe('SELECTOR_BUDGET_EXCEEDED');
      expect((await store.listApis()).filter((api) => api.selector !== null)).toHaveLength(1);
    });
  });
}
