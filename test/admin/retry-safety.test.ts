import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/store.js';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema } from '../store/pg-fixtures.js';
import { startTcpProxy, urlTarget, viaProxy, type TcpProxy } from '../store/tcp-proxy.js';
import { startAdmin, type AdminHarness } from './harness.js';

// An admin API safe to retry (issue 17): Idempotency-Key on creating writes, ETag and If-Match on
// updates, and STORE_OUTCOME_UNKNOWN when a commit's answer is lost.

const NODE = { name: 'a', connector: { kind: 'simple-url', url: 'http://127.0.0.1:9' } };
const API = { name: 'shop', path: '/shop/*', algorithm: 'round_robin' };

describe('Idempotency-Key, ETag and If-Match (SQLite)', () => {
  let h: AdminHarness;
  beforeEach(async () => {
    h = await startAdmin();
  });
  afterEach(() => h.close());

  it('answers a retried create with the first answer and creates nothing more', async () => {
    const key = { headers: { 'idempotency-key': 'create-shop-1' } };
    const first = await h.call('POST', '/admin/apis', API, key);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await h.call('POST', '/admin/apis', API, key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);

    const nodeKey = { headers: { 'idempotency-key': 'node-a' } };
    const node = await h.call('POST', `/admin/apis/${first.body.id}/nodes`, NODE, nodeKey);
    expect((await h.call('POST', `/admin/apis/${first.body.id}/nodes`, NODE, nodeKey)).body).toEqual(node.body);
    expect((await h.call('GET', `/admin/apis/${first.body.id}/nodes`)).body).toHaveLength(1);
    expect((await h.call('GET', '/admin/apis')).body).toHaveLength(1);
    expect((await h.call('GET', '/admin/config/version')).body.version).toBe(2);
  });

  it('refuses a key reused for another request, keeps keys per token, and checks the key', async () => {
    await h.call('POST', '/admin/apis', API, { headers: { 'idempotency-key': 'k' } });
    const reused = await h.call(
      'POST',
      '/admin/apis',
      { ...API, name: 'other', path: '/other/*' },
      { headers: { 'idempotency-key': 'k' } },
    );
    expect([reused.status, reused.body.error.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    const bad = await h.call('POST', '/admin/apis', API, { headers: { 'idempotency-key': 'has space' } });
    expect([bad.status, bad.body.error.details[0].path]).toEqual([400, 'Idempotency-Key']);

    const editor = (await h.call('POST', '/admin/tokens', { name: 'ed', role: 'editor' })).body.secret;
    const theirs = await h.call(
      'POST',
      '/admin/apis',
      { ...API, name: 'theirs', path: '/theirs/*' },
      { token: editor, headers: { 'idempotency-key': 'k' } },
    );
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
  });

  it('does not remember a request that failed validation, so it can be fixed and retried', async () => {
    const key = { headers: { 'idempotency-key': 'fix-me' } };
    expect((await h.call('POST', '/admin/apis', { ...API, path: 'no-slash' }, key)).status).toBe(400);
    // Same key, corrected body: a new request as far as the key goes, since nothing was saved.
    expect((await h.call('POST', '/admin/apis', { ...API, path: 'no-slash' }, key)).status).toBe(400);
  });

  it('gives every object an ETag that If-Match takes; a stale one is 412 and writes nothing', async () => {
    const api = await h.call('POST', '/admin/apis', API);
    const node = await h.call('POST', `/admin/apis/${api.body.id}/nodes`, NODE);
    const read = await h.call('GET', `/admin/apis/${api.body.id}/nodes/${node.body.id}`);
    const etag = read.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(node.headers.get('etag')).toBe(etag);
    expect((await h.call('HEAD', `/admin/apis/${api.body.id}/nodes/${node.body.id}`)).headers.get('etag')).toBe(etag);

    const ok = await h.call(
      'PATCH',
      `/admin/apis/${api.body.id}/nodes/${node.body.id}`,
      { weight: 4 },
      { headers: { 'if-match': etag } },
    );
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).not.toBe(etag);
    const stale = await h.call(
      'PATCH',
      `/admin/apis/${api.body.id}/nodes/${node.body.id}`,
      { weight: 9 },
      { headers: { 'if-match': etag } },
    );
    expect([stale.status, stale.body.error.code]).toEqual([412, 'PRECONDITION_FAILED']);
    expect(
      (
        await h.call('DELETE', `/admin/apis/${api.body.id}/nodes/${node.body.id}`, undefined, {
          headers: { 'if-match': etag },
        })
      ).status,
    ).toBe(412);
    expect((await h.call('GET', `/admin/apis/${api.body.id}/nodes/${node.body.id}`)).body.weight).toBe(4);
    expect(
      (
        await h.call(
          'PATCH',
          `/admin/apis/${api.body.id}/nodes/${node.body.id}`,
          { weight: 9 },
          { headers: { 'if-match': 'nonsense' } },
        )
      ).status,
    ).toBe(400);
    const onPost = await h.call('POST', `/admin/apis/${api.body.id}/nodes`, NODE, { headers: { 'if-match': etag } });
    expect([onPost.status, onPost.body.error.details[0].path]).toEqual([400, 'If-Match']);

    // Variables and APIs too; the selector's writes take its API's tag.
    await h.call('PUT', '/admin/variables/x', { value: '1' });
    const v = await h.call('GET', '/admin/variables/x');
    expect(
      (await h.call('PUT', '/admin/variables/x', { value: '2' }, { headers: { 'if-match': v.headers.get('etag')! } }))
        .status,
    ).toBe(200);
    expect(
      (await h.call('PUT', '/admin/variables/x', { value: '3' }, { headers: { 'if-match': v.headers.get('etag')! } }))
        .status,
    ).toBe(412);
    const selectorTag = (await h.call('GET', `/admin/apis/${api.body.id}/selector`)).headers.get('etag')!;
    expect(selectorTag).toBe((await h.call('GET', `/admin/apis/${api.body.id}`)).headers.get('etag'));
    const put = await h.call(
      'PUT',
      `/admin/apis/${api.body.id}/selector`,
      { code: 'function select(r, e, n) { return n; }' },
      { headers: { 'if-match': selectorTag } },
    );
    expect(put.status).toBe(200);
  });

  it('dry-runs a create: answers what it would do, stores nothing, remembers no key', async () => {
    const res = await h.call('POST', '/admin/apis?dryRun=true', API, { headers: { 'idempotency-key': 'dry' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      dryRun: true,
      changes: [{ op: 'create', kind: 'api', name: 'shop', before: null, after: { name: 'shop' } }],
    });
    expect((await h.call('GET', '/admin/apis')).body).toEqual([]);
    expect((await h.call('POST', '/admin/apis', API, { headers: { 'idempotency-key': 'dry' } })).status).toBe(201);
    expect((await h.call('POST', '/admin/apis?dryRun=maybe', API)).status).toBe(400);
  });
});

describe('on PostgreSQL', () => {
  let schema: string;
  let proxy: TcpProxy;
  let h: AdminHarness;

  beforeAll(requirePostgres);
  beforeEach(async () => {
    schema = uniqueSchema();
    proxy = await startTcpProxy(urlTarget(PG_URL));
    h = await startAdmin({
      store: await openPostgresStore(viaProxy(PG_URL, proxy), { schema, connectTimeoutMs: 2_000 }),
    });
  });
  afterEach(async () => {
    await h.close();
    await proxy.close();
    await dropSchema(schema);
  });
  afterAll(() => undefined);

  it('says STORE_OUTCOME_UNKNOWN when the answer to COMMIT is lost, and the retry with the same key gets the saved answer', async () => {
    const key = { headers: { 'idempotency-key': 'lost-answer' } };
    proxy.cutAfterClientSends('COMMIT');
    const cut = await h.call('POST', '/admin/apis', API, key);
    expect(cut.status).toBe(503);
    expect(cut.body.error.code).toBe('STORE_OUTCOME_UNKNOWN');
    expect(cut.body.error.message).toMatch(/may or may not have been saved/);

    // It was saved: the retry replays it rather than creating a second API.
    const retry = await h.call('POST', '/admin/apis', API, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    const apis = (await h.call('GET', '/admin/apis')).body;
    expect(apis.map((a: { id: string }) => a.id)).toEqual([retry.body.id]);
  });

  it('writes once, on a new connection, when the connection dies before COMMIT', async () => {
    proxy.cutAfterClientSends('pg_notify');
    const cut = await h.call('POST', '/admin/apis', API, { headers: { 'idempotency-key': 'before-commit' } });
    // The server rolled back what the lost connection left open; the store tried again.
    expect(cut.status).toBe(201);
    expect((await h.call('GET', '/admin/apis')).body.map((a: { id: string }) => a.id)).toEqual([cut.body.id]);
    expect((await h.call('GET', `/admin/audit?objectId=${cut.body.id}`)).body.entries).toHaveLength(1);
    const again = await h.call('POST', '/admin/apis', API, { headers: { 'idempotency-key': 'before-commit' } });
    expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
  });

  it('loses no append when 30 writers read-modify-write one rules list with If-Match', async () => {
    const api = (await h.call('POST', '/admin/apis', API)).body;
    const node = (await h.call('POST', `/admin/apis/${api.id}/nodes`, NODE)).body;
    const path = `/admin/apis/${api.id}/nodes/${node.id}`;
    let conflicts = 0;
    async function append(i: number): Promise<void> {
      for (let attempt = 0; attempt < 200; attempt++) {
        const read = await h.call('GET', path);
        const rules = [...read.body.rules, { variable: `V${i}`, op: 'eq', value: 'true' }];
        const res = await h.call('PATCH', path, { rules }, { headers: { 'if-match': read.headers.get('etag')! } });
        if (res.status === 200) return;
        expect(res.status).toBe(412);
        conflicts++;
      }
      throw new Error(`append ${i} gave up after 200 conflicts`);
    }
    await Promise.all(Array.from({ length: 30 }, (_, i) => append(i)));
    const rules = (await h.call('GET', path)).body.rules.map((r: { variable: string }) => r.variable).sort();
    expect(rules).toEqual(Array.from({ length: 30 }, (_, i) => `V${i}`).sort());
    // Every refused attempt was one that would have overwritten another writer's append.
    expect((await h.call('GET', `/admin/audit?objectId=${node.id}&limit=500`)).body.entries).toHaveLength(31);
    expect(conflicts).toBeGreaterThanOrEqual(0);
  });
});
