import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi, setSelector, setVariable } from '../helpers/fixtures.js';
import { spread, startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// End to end through real HTTP: a real isogate (SQLite file, sandbox processes) in front of real
// upstreams on 127.0.0.1, steered only through the admin API.
let t: TestGateway;
let ups: TestUpstream[];
const created: string[] = [];

beforeAll(async () => {
  // 127.0.0.1 is trusted so tests can play many clients through X-Forwarded-For.
  t = await startTestGateway(['--trust-proxy', '127.0.0.1']);
  ups = await startUpstreams(['a', 'b', 'c', 'd', 'temp', 'ip1-x', 'ip2-x', 'ip1-y', 'ip2-y']);
});

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

afterEach(async () => {
  for (const id of created.splice(0)) await t.admin('DELETE', `/admin/apis/${id}`);
});

const up = (name: string) => ups.find((u) => u.name === name)!;
const canary = readFileSync(new URL('../../scripts-examples/canary-by-query.js', import.meta.url), 'utf8');

async function api(body: Record<string, unknown>): Promise<string> {
  const id = await createApi(t, body);
  created.push(id);
  return id;
}

describe('node ticks', () => {
  it('an unticked node gets nothing from the next request on, and traffic returns when ticked again', async () => {
    const id = await api({ name: 'tick', path: '/tick/*', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    const b = await addNode(t, id, up('b'));
    await addNode(t, id, up('c'));
    expect(await spread(t, '/tick/x', 30)).toEqual({ a: 10, b: 10, c: 10 });

    expect((await t.admin('PATCH', `/admin/apis/${id}/nodes/${b}`, { enabled: false })).status).toBe(200);
    expect(await spread(t, '/tick/x', 30)).toEqual({ a: 15, c: 15 });

    await t.admin('PATCH', `/admin/apis/${id}/nodes/${b}`, { enabled: true });
    const back = await spread(t, '/tick/x', 30);
    expect(back.b).toBe(10);
  });
});

describe('variables and rules', () => {
  it('IP1_enable=false takes every IP1 node of every API out on the next request, and true brings them back', async () => {
    await setVariable(t, 'IP1_enable', 'true');
    await setVariable(t, 'IP2_enable', 'true');
    const rule = (server: string) => ({ rules: [{ variable: `${server}_enable`, op: 'eq', value: 'true' }] });
    const one = await api({ name: 'server-one', path: '/one/*', algorithm: 'round_robin' });
    const two = await api({ name: 'server-two', path: '/two/*', algorithm: 'weighted' });
    await addNode(t, one, up('ip1-x'), rule('IP1'));
    await addNode(t, one, up('ip2-x'), rule('IP2'));
    await addNode(t, two, up('ip1-y'), rule('IP1'));
    await addNode(t, two, up('ip2-y'), rule('IP2'));
    expect(await spread(t, '/one/a', 10)).toEqual({ 'ip1-x': 5, 'ip2-x': 5 });
    expect(await spread(t, '/two/a', 10)).toEqual({ 'ip1-y': 5, 'ip2-y': 5 });

    await setVariable(t, 'IP1_enable', 'false');
    expect(await spread(t, '/one/a', 10)).toEqual({ 'ip2-x': 10 });
    expect(await spread(t, '/two/a', 10)).toEqual({ 'ip2-y': 10 });

    await setVariable(t, 'IP1_enable', 'true');
    expect((await spread(t, '/one/a', 10))['ip1-x']).toBe(5);
    expect((await spread(t, '/two/a', 10))['ip1-y']).toBe(5);
  });

  it('a rule on a missing variable does not hold, and when no rule holds the answer is RULES_EXCLUDED_ALL', async () => {
    const id = await api({ name: 'missing-var', path: '/missing', algorithm: 'round_robin' });
    await addNode(t, id, up('a'), { rules: [{ variable: 'NOT_DEFINED_ANYWHERE', op: 'ne', value: 'x' }] });
    const res = await t.get('/missing');
    expect(res.status).toBe(503);
    expect(res.headers.get('x-isogate-error')).toBe('RULES_EXCLUDED_ALL');
  });
});

describe('selector', () => {
  it('canary: select_code=temp_node goes only to temp nodes, other requests never do', async () => {
    const id = await api({ name: 'canary', path: '/canary/*', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    await addNode(t, id, up('b'));
    await addNode(t, id, up('temp'), { tags: ['temp'] });
    await setSelector(t, id, { code: canary });
    expect(await spread(t, '/canary/q?select_code=temp_node', 20)).toEqual({ temp: 20 });
    expect(await spread(t, '/canary/q', 20)).toEqual({ a: 10, b: 10 });
    expect(await spread(t, '/canary/q?select_code=other', 20)).toEqual({ a: 10, b: 10 });
  });

  it('a failing selector falls back to every node with use-all, and answers SELECTOR_FAILED with reject', async () => {
    const code = `function select(request, env, nodes) {
  if (request.query.boom) throw new Error('boom');
  return nodes.filter((n) => n.name === 'a');
}`;
    const id = await api({ name: 'fallback', path: '/fallback', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    await addNode(t, id, up('b'));
    await setSelector(t, id, { code, onError: 'use-all' });
    expect(await spread(t, '/fallback', 6)).toEqual({ a: 6 });
    expect(await spread(t, '/fallback?boom=1', 4)).toEqual({ a: 2, b: 2 });

    await setSelector(t, id, { code: code + '\n', onError: 'reject' });
    const res = await t.get('/fallback?boom=1');
    expect(res.status).toBe(503);
    expect(res.headers.get('x-isogate-error')).toBe('SELECTOR_FAILED');
    expect(await t.nodeOf('/fallback')).toBe('a');
  });

  it('a selector that returns nothing answers SELECTOR_EMPTY', async () => {
    const id = await api({ name: 'empty', path: '/empty', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    await setSelector(t, id, {
      code: 'function select(request, env, nodes) { return request.query.none ? [] : nodes; }',
    });
    expect(await t.nodeOf('/empty')).toBe('a');
    const res = await t.get('/empty?none=1');
    expect(res.status).toBe(503);
    expect(res.headers.get('x-isogate-error')).toBe('SELECTOR_EMPTY');
    expect(await res.json()).toEqual({ error: { code: 'SELECTOR_EMPTY', message: expect.any(String) } });
  });

  it('the selector sees method, path, query, headers, body, client IP and env', async () => {
    await setVariable(t, 'ROUTE_TO', 'b');
    const code = `function select(request, env, nodes) {
  const ok = request.method === 'POST' && request.path === '/seen/p' && request.query.k === 'v'
    && request.headers['x-h'] === 'hv' && request.body === '{"n":1}' && request.clientIp === '203.0.113.9';
  return nodes.filter((n) => n.name === (ok ? env.ROUTE_TO : 'a'));
}`;
    const id = await api({ name: 'seen', path: '/seen/*', algorithm: 'round_robin' });
    await addNode(t, id, up('a'));
    await addNode(t, id, up('b'));
    await setSelector(t, id, { code });
    const who = await t.nodeOf('/seen/p?k=v', {
      method: 'POST',
      headers: { 'x-h': 'hv', 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9' },
      body: '{"n":1}',
    });
    expect(who).toBe('b');
    expect(up('b').last?.body).toBe('{"n":1}');
  });
});

describe('algorithms through real traffic', () => {
  const ips = Array.from({ length: 200 }, (_, i) => `198.51.${(i * 7) % 256}.${((i * 13) % 251) + 1}`);
  const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });

  it('ip_hash is sticky per client and unticking one of four nodes moves only its clients', async () => {
    const id = await api({ name: 'sticky', path: '/sticky', algorithm: 'ip_hash' });
    const nodeIds: Record<string, string> = {};
    for (const n of ['a', 'b', 'c', 'd']) nodeIds[n] = await addNode(t, id, up(n));
    const before = new Map<string, string>();
    for (const ip of ips) before.set(ip, await t.nodeOf('/sticky', from(ip)));
    for (const ip of ips.slice(0, 50)) expect(await t.nodeOf('/sticky', from(ip))).toBe(before.get(ip));
    expect(new Set(before.values()).size).toBe(4);

    await t.admin('PATCH', `/admin/apis/${id}/nodes/${nodeIds.c}`, { enabled: false });
    let moved = 0;
    for (const ip of ips) {
      const now = await t.nodeOf('/sticky', from(ip));
      if (before.get(ip) === 'c') {
        expect(now).not.toBe('c');
        moved++;
      } else expect(now).toBe(before.get(ip));
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('weighted sends traffic in proportion to weights without bursts', async () => {
    const id = await api({ name: 'weighted', path: '/weighted', algorithm: 'weighted' });
    await addNode(t, id, up('a'), { weight: 5 });
    await addNode(t, id, up('b'), { weight: 1 });
    await addNode(t, id, up('c'), { weight: 1 });
    const order: string[] = [];
    for (let i = 0; i < 70; i++) order.push(await t.nodeOf('/weighted'));
    const counts = order.reduce<Record<string, number>>((m, n) => ({ ...m, [n]: (m[n] ?? 0) + 1 }), {});
    expect(counts).toEqual({ a: 50, b: 10, c: 10 });
    let run = 1;
    let longest = 1;
    for (let i = 1; i < order.length; i++) {
      run = order[i] === order[i - 1] ? run + 1 : 1;
      longest = Math.max(longest, run);
    }
    // Smooth WRR for 5:1:1 is a a b a c a a per cycle: at most 4 in a row across cycle edges
    // (plain WRR would send 5), and every cycle of 7 holds exactly one b and one c.
    expect(longest).toBeLessThanOrEqual(4);
    for (let i = 0; i < 70; i += 7) {
      const cycle = order.slice(i, i + 7);
      expect(cycle.filter((n) => n === 'b')).toHaveLength(1);
      expect(cycle.filter((n) => n === 'c')).toHaveLength(1);
    }
  });
});
