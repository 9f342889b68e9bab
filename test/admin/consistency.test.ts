import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Api } from '../../src/model/api.js';
import { Node } from '../../src/model/node.js';
import { Variable } from '../../src/model/variable.js';
import { startAdmin, type AdminHarness, type Reply } from './harness.js';

const connector = { kind: 'simple-url', url: 'http://10.0.0.1:8080' };
const goodSelector = (i: number) => `function select(request, env, nodes) { return nodes; } // ${i}`;

describe('admin writes under concurrency and failure', () => {
  let h: AdminHarness;
  afterEach(() => h.close());

  it('bumps the version by exactly the number of successful writes among 50 parallel requests', async () => {
    h = await startAdmin();
    const mk = async (name: string) =>
      (await h.call('POST', '/admin/apis', { name, path: `/${name}`, methods: ['GET'], algorithm: 'weighted' }))
        .body as Api;
    const [a, b, c] = [await mk('a'), await mk('b'), await mk('c')];
    const node = (await h.call('POST', `/admin/apis/${a!.id}/nodes`, { name: 'n', connector })).body as Node;
    const startVersion = await h.store.version();
    const startApplied = h.runtime.appliedCalls;

    // Ten kinds of request, five of each: five that succeed and five that must fail without writing.
    const requests: Array<() => Promise<Reply>> = [];
    for (let i = 0; i < 50; i++) {
      const kinds: Array<() => Promise<Reply>> = [
        () => h.call('PATCH', `/admin/apis/${a!.id}`, { retries: i % 10, timeouts: { connectMs: 100 + i } }),
        () => h.call('PUT', `/admin/variables/V${i % 7}`, { value: String(i) }),
        () => h.call('PATCH', `/admin/apis/${a!.id}/nodes/${node.id}`, { weight: i + 1, enabled: i % 2 === 0 }),
        () => h.call('PUT', `/admin/apis/${c!.id}/selector`, { code: goodSelector(i) }),
        () => h.call('POST', `/admin/apis/${b!.id}/nodes`, { name: `b${i}`, connector }),
        () => h.call('PATCH', `/admin/apis/${b!.id}`, { path: '/a' }), // route conflict with a
        () => h.call('PATCH', `/admin/apis/${c!.id}`, { name: 'A' }), // name conflict with a
        () => h.call('PATCH', `/admin/apis/${c!.id}`, { timeouts: { connectMs: -1 } }),
        () => h.call('PUT', `/admin/apis/${c!.id}/selector`, { code: `throw ${i}` }),
        () =>
          h.call('PATCH', `/admin/apis/${a!.id}/nodes/${node.id}`, {
            connector: { kind: 'simple-url', url: 'gopher://x' },
          }),
      ];
      requests.push(kinds[i % kinds.length]!);
    }
    const replies = await Promise.all(requests.map((r) => r()));

    const statuses = replies.map((r) => r.status);
    const ok = statuses.filter((s) => s >= 200 && s < 300).length;
    expect(ok).toBe(25);
    expect(statuses.filter((s) => s === 409)).toHaveLength(10);
    expect(statuses.filter((s) => s === 400)).toHaveLength(15);
    expect(await h.store.version()).toBe(startVersion + ok);
    expect(h.runtime.appliedCalls).toBe(startApplied + ok);

    const config = await h.store.loadConfig();
    for (const api of config.apis) expect(() => Api.parse(api)).not.toThrow();
    for (const n of config.nodes) expect(() => Node.parse(n)).not.toThrow();
    for (const v of config.variables) expect(() => Variable.parse(v)).not.toThrow();
    expect(config.apis.find((x) => x.id === b!.id)!.path).toBe('/b');
    expect(config.apis.find((x) => x.id === c!.id)).toMatchObject({ name: 'c', timeouts: { connectMs: 3000 } });
    expect(config.apis.find((x) => x.id === c!.id)!.selector!.code).toMatch(/^function select/);
    expect(config.nodes.filter((n) => n.apiId === b!.id)).toHaveLength(5);
    expect((await h.store.getNode(a!.id, node.id))!.connector).toEqual(connector);
    expect(await h.store.listSelectorVersions(c!.id)).toHaveLength(5);
  });

  it('writes nothing, bumps nothing and applies nothing when a write fails half-way', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    h = await startAdmin({ logger: pino({ level: 'info' }, sink) });
    const startupLines = lines.length;
    const api = (
      await h.call('POST', '/admin/apis', {
        name: 'a',
        path: '/a',
        algorithm: 'weighted',
        selector: { code: goodSelector(0) },
      })
    ).body as Api;
    await h.call('GET', '/admin/apis');
    expect(lines.slice(startupLines)).toEqual([]); // successful admin requests stay quiet at info level

    // The API row is updated first; the history insert after it fails, inside the same transaction.
    const db = new Database(h.file);
    db.exec(
      "CREATE TRIGGER fail_history BEFORE INSERT ON selector_versions BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
    );
    db.close();
    const version = await h.store.version();
    const applied = h.runtime.appliedCalls;

    const res = await h.call('PUT', `/admin/apis/${api.id}/selector`, { code: goodSelector(1) });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'INTERNAL_ERROR', message: 'internal error' } });
    expect(await h.store.version()).toBe(version);
    expect(h.runtime.appliedCalls).toBe(applied);
    expect(await h.store.getApi(api.id)).toEqual(api);
    expect(lines.some((l) => l.level >= 50 && /admin request failed/.test(l.msg))).toBe(true);
  });
});
