import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi, setSelector } from '../helpers/fixtures.js';
import { scrape } from '../helpers/metrics.js';
import { spread, startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// A memoized selector end to end: real isogate, real upstreams, steered through the admin API.
let t: TestGateway;
let ups: TestUpstream[];

beforeAll(async () => {
  t = await startTestGateway();
  ups = await startUpstreams(['a', 'b', 'temp']);
});

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

const up = (name: string) => ups.find((u) => u.name === name)!;
const canary = readFileSync(new URL('../../scripts-examples/canary-by-query.js', import.meta.url), 'utf8');

describe('memoized selector', () => {
  it('canary with memoize: true sends select_code=temp_node only to temp nodes, others never, mostly from the cache', async () => {
    const id = await createApi(t, { name: 'memo-canary', path: '/memo/*', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    await addNode(t, id, up('b'));
    await addNode(t, id, up('temp'), { tags: ['temp'] });
    await setSelector(t, id, { code: canary, memoize: true });
    const saved = await t.admin('GET', `/admin/apis/${id}/selector`);
    expect(saved.body.selector).toMatchObject({ memoize: true });

    expect(await spread(t, '/memo/q?select_code=temp_node', 20)).toEqual({ temp: 20 });
    expect(await spread(t, '/memo/q', 20)).toEqual({ a: 10, b: 10 });
    expect(await spread(t, '/memo/q?select_code=other', 20)).toEqual({ a: 10, b: 10 });
    expect(await spread(t, '/memo/q?select_code=temp_node&x=1', 10)).toEqual({ temp: 10 });

    const { body } = await t.admin('GET', `/admin/apis/${id}/selector`);
    // One run per distinct select_code (temp_node, absent, other); everything else replayed.
    expect(body.status.cache).toMatchObject({
      hits: 67,
      misses: 3,
      entries: 3,
      refused: 0,
      uncacheable: 0,
      mismatches: 0,
    });
    expect(body.status).toMatchObject({ state: 'active', calls: 70, failures: 0 });
  });

  it('memoize defaults to "auto": a stateless canary is memoized, a counting script is not and says why', async () => {
    const id = await createApi(t, { name: 'memo-auto', path: '/memo-auto/*', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    await addNode(t, id, up('temp'), { tags: ['temp'] });
    await setSelector(t, id, { code: canary });
    expect(await spread(t, '/memo-auto/q?select_code=temp_node', 10)).toEqual({ temp: 10 });
    expect(await spread(t, '/memo-auto/q', 10)).toEqual({ a: 10 });
    let { body } = await t.admin('GET', `/admin/apis/${id}/selector`);
    expect(body.selector.memoize).toBe('auto');
    expect(body.status.memoization).toEqual({ mode: 'auto', active: true, reason: null });
    expect(body.status.cache).toMatchObject({ hits: 18, misses: 2, entries: 2 });

    // Every third request to the temp node: state kept between calls, so every call must run.
    const counting = [
      'let count = 0;',
      'function select(request, env, nodes) {',
      '  count++;',
      '  return nodes.filter((n) => n.tags.includes("temp") === (count % 3 === 0));',
      '}',
    ].join('\n');
    await setSelector(t, id, { code: counting });
    expect(await spread(t, '/memo-auto/q', 30)).toEqual({ a: 20, temp: 10 });
    ({ body } = await t.admin('GET', `/admin/apis/${id}/selector`));
    expect(body.status.memoization).toEqual({
      mode: 'auto',
      active: false,
      reason: 'line 3: assigns to `count`, which is kept between calls',
    });
    expect(body.status.cache).toBeUndefined();
  });

  it('a script past the pre-filter that keeps state through an alias: memoization ends at its first run, with the reason in the admin API and a metric', async () => {
    const id = await createApi(t, { name: 'memo-alias', path: '/memo-alias/*', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    await addNode(t, id, up('temp'), { tags: ['temp'] });
    // Every third request to the temp node, counted in a kept object through a helper.
    const aliased = [
      'const hits = { n: 0 };',
      'function bump(c) { c.n++; }',
      'function select(request, env, nodes) {',
      '  bump(hits);',
      '  return nodes.filter((n) => n.tags.includes("temp") === (hits.n % 3 === 0));',
      '}',
    ].join('\n');
    await setSelector(t, id, { code: aliased });
    expect(await spread(t, '/memo-alias/q', 30)).toEqual({ a: 20, temp: 10 });
    const { body } = await t.admin('GET', `/admin/apis/${id}/selector`);
    expect(body.status.memoization).toEqual({
      mode: 'auto',
      active: false,
      reason: 'a call changed `hits`, which the top level kept',
    });
    const m = await scrape(`${t.statusUrl}/metrics`);
    expect(m.sum('isogate_selector_memo_ended_total', { api: 'memo-alias', cause: 'stateful' })).toBe(1);
  });

  it('memoize: false runs every call', async () => {
    const id = await createApi(t, { name: 'memo-off', path: '/memo-off/*', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    await setSelector(t, id, { code: canary, memoize: false });
    expect(await spread(t, '/memo-off/q', 5)).toEqual({ a: 5 });
    const { body } = await t.admin('GET', `/admin/apis/${id}/selector`);
    expect(body.selector.memoize).toBe(false);
    expect(body.status.memoization).toEqual({ mode: false, active: false, reason: null });
    expect(body.status.cache).toBeUndefined();
  });
});
