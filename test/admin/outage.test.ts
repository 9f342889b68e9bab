import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spread, startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// Outages visible in the admin API (issue 17): per-API traffic with gateway-made errors by code, an
// API's availability (no node could take traffic: unticked, rules, health, selector quarantined),
// and the impact of a write before it is made (dry run). A real gateway in this process, real upstreams.

let t: TestGateway;
let ups: TestUpstream[];
let apiId = '';
const nodeIds: string[] = [];

beforeAll(async () => {
  t = await startTestGateway();
  ups = await startUpstreams(['ip1-a', 'ip2-a']);
  await t.admin('PUT', '/admin/variables/IP1_enable', { value: 'true' });
  apiId = (await t.admin('POST', '/admin/apis', { name: 'shop', path: '/shop/*', algorithm: 'round_robin' })).body.id;
  for (const up of ups) {
    const node = await t.admin('POST', `/admin/apis/${apiId}/nodes`, {
      name: up.name,
      connector: { kind: 'simple-url', url: up.url },
      rules: [{ variable: 'IP1_enable', op: 'eq', value: 'true' }],
    });
    nodeIds.push(node.body.id);
  }
});
afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

const availability = async () => (await t.admin('GET', `/admin/apis/${apiId}/availability`)).body;
const listed = async () => (await t.admin('GET', '/admin/apis')).body.find((a: { id: string }) => a.id === apiId);

describe('outages in the admin API', () => {
  it('says an API with ticked, ruled-in, healthy nodes is ok, in the list too', async () => {
    expect(await availability()).toMatchObject({
      state: 'ok',
      reason: null,
      usable: 2,
      nodes: { total: 2, ticked: 2, rulesHold: 2, healthy: 2 },
    });
    expect((await listed()).availability).toMatchObject({ state: 'ok', usable: 2 });
  });

  it('previews a flip that takes the last node out, without making it', async () => {
    const dry = await t.admin('PUT', '/admin/variables/IP1_enable?dryRun=true', { value: 'false' });
    expect(dry.status).toBe(200);
    expect(dry.body.impact).toMatchObject({
      losesLastNode: ['shop'],
      summary: ['leaves shop with 0 nodes that take traffic (rules)'],
      apis: [
        { apiName: 'shop', before: { state: 'ok', usable: 2 }, after: { state: 'down', reason: 'rules', usable: 0 } },
      ],
    });
    expect((await t.admin('GET', '/admin/variables/IP1_enable')).body.value).toBe('true');
    expect(await spread(t, '/shop/x', 4)).toEqual({ 'ip1-a': 2, 'ip2-a': 2 });

    const untick = await t.admin('PATCH', `/admin/apis/${apiId}/nodes/${nodeIds[0]}?dryRun=true`, { enabled: false });
    expect(untick.body.impact).toMatchObject({ losesLastNode: [], summary: ['shop: nodes that take traffic 2 → 1'] });
    const rules = await t.admin('PATCH', `/admin/apis/${apiId}/nodes/${nodeIds[1]}?dryRun=true`, { weight: 3 });
    expect(rules.body.impact).toEqual({ apis: [], losesLastNode: [], summary: [] });
  });

  it("shows the outage a flip makes: the reason, and every 503 by code in the API's traffic", async () => {
    await t.admin('PUT', '/admin/variables/IP1_enable', { value: 'false' });
    const a = await availability();
    expect(a).toMatchObject({ state: 'down', reason: 'rules', usable: 0, variables: ['IP1_enable'] });
    expect(a.message).toContain('IP1_enable = false');
    expect(a.message).toContain('RULES_EXCLUDED_ALL');
    expect((await listed()).availability).toMatchObject({ state: 'down', reason: 'rules' });

    expect(await spread(t, '/shop/x', 5)).toEqual({ 'error:RULES_EXCLUDED_ALL': 5 });
    const stats = (await t.admin('GET', `/admin/apis/${apiId}/stats`)).body;
    // 4 served before the flip, 5 refused after it.
    expect(stats.api.lastMinute).toMatchObject({ requests: 9, errors: 5 });
    expect(stats.api.errorsByCode.lastMinute).toEqual({ RULES_EXCLUDED_ALL: 5 });
    expect(stats.api.recent.reduce((n: number, s: { errors: number }) => n + s.errors, 0)).toBe(5);
    expect((await listed()).traffic.lastMinute).toMatchObject({ requests: 9, errors: 5 });
    await t.admin('PUT', '/admin/variables/IP1_enable', { value: 'true' });
  });

  it('names unticked nodes, and counts SELECTOR_EMPTY as an error of the API', async () => {
    for (const id of nodeIds) await t.admin('PATCH', `/admin/apis/${apiId}/nodes/${id}`, { enabled: false });
    expect(await availability()).toMatchObject({ state: 'down', reason: 'unticked' });
    for (const id of nodeIds) await t.admin('PATCH', `/admin/apis/${apiId}/nodes/${id}`, { enabled: true });

    await t.admin('PUT', `/admin/apis/${apiId}/selector`, {
      code: 'function select(r, e, nodes) { return r.query.none ? [] : nodes; }',
    });
    expect(await spread(t, '/shop/x?none=1', 3)).toEqual({ 'error:SELECTOR_EMPTY': 3 });
    const stats = (await t.admin('GET', `/admin/apis/${apiId}/stats`)).body;
    expect(stats.api.errorsByCode.lastMinute).toEqual({ RULES_EXCLUDED_ALL: 5, SELECTOR_EMPTY: 3 });
    // The nodes never saw those requests; the API did.
    expect(stats.nodes[nodeIds[0]!].lastMinute.errors).toBe(0);
  });

  it('says a quarantined selector that rejects leaves the API without a node', async () => {
    await t.admin('PUT', `/admin/apis/${apiId}/selector`, {
      code: 'function select(r, e, nodes) { if (r.query.boom) throw new Error("boom"); return nodes; }',
      onError: 'reject',
    });
    expect(await spread(t, '/shop/x?boom=1', 5)).toEqual({ 'error:SELECTOR_FAILED': 5 });
    expect(await availability()).toMatchObject({ state: 'down', reason: 'selector-quarantined', usable: 0 });
    await t.admin('DELETE', `/admin/apis/${apiId}/selector`);
    expect(await availability()).toMatchObject({ state: 'ok' });
  });

  it('says when every candidate is ejected: down when panic rejects, degraded when it sends to all', async () => {
    const dead = (
      await t.admin('POST', '/admin/apis', {
        name: 'dead',
        path: '/dead/*',
        algorithm: 'round_robin',
        retries: 0,
        health: { passive: { consecutiveFailures: 1 }, panic: 'reject' },
      })
    ).body.id;
    await t.admin('POST', `/admin/apis/${dead}/nodes`, {
      name: 'gone',
      connector: { kind: 'simple-url', url: 'http://127.0.0.1:1' },
    });
    expect(await spread(t, '/dead/x', 1)).toEqual({ 'error:UPSTREAM_CONNECT_FAILED': 1 });
    expect((await t.admin('GET', `/admin/apis/${dead}/availability`)).body).toMatchObject({
      state: 'down',
      reason: 'health',
      nodes: { rulesHold: 1, healthy: 0 },
    });
    await t.admin('PATCH', `/admin/apis/${dead}`, { health: { panic: 'use-all' } });
    expect((await t.admin('GET', `/admin/apis/${dead}/availability`)).body).toMatchObject({
      state: 'degraded',
      reason: 'health',
      usable: 1,
    });
  });

  it('previews deleting an API with its nodes, deleting nothing', async () => {
    const dry = await t.admin('DELETE', `/admin/apis/${apiId}?dryRun=true`);
    expect(dry.status).toBe(200);
    expect(dry.body.dryRun).toBe(true);
    expect(
      dry.body.changes.map((c: { op: string; kind: string; name: string }) => `${c.op} ${c.kind} ${c.name}`),
    ).toEqual(['delete api shop', 'delete node shop/ip1-a', 'delete node shop/ip2-a']);
    expect(dry.body.impact).toMatchObject({
      losesLastNode: [],
      summary: ['deletes shop: its route answers ROUTE_NOT_FOUND'],
      apis: [{ apiName: 'shop', before: { state: 'ok', usable: 2 }, after: null }],
    });
    expect((await t.admin('GET', `/admin/apis/${apiId}`)).status).toBe(200);
    expect((await t.admin('GET', `/admin/apis/${apiId}/nodes`)).body).toHaveLength(2);
    expect(await spread(t, '/shop/x', 2)).toEqual({ 'ip1-a': 1, 'ip2-a': 1 });
    expect((await t.admin('DELETE', '/admin/apis/no-such-api?dryRun=true')).status).toBe(404);
  });
});
