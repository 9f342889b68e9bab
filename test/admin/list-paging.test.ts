import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CONFIG_FILE_MAX_BYTES } from '../../src/config-files/format.js';
import { startAdmin, TOKEN, type AdminHarness } from './harness.js';

/**
 * A JSON request that declares a body of `size` bytes and sends its first 64 KiB only: the answer the
 * server gives from the headers alone (a 413 or a 401), without pushing megabytes through a socket
 * the server may close meanwhile.
 */
function declare(
  h: AdminHarness,
  method: string,
  path: string,
  size: number,
  token: string | null = TOKEN,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${h.base}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        'content-length': size,
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.write(' '.repeat(64 * 1024));
  });
}

/** APIs list paging (`limit`/`after`), the runtime asked once per kind, and the config apply body limit. */
describe('admin lists at scale', () => {
  let h: AdminHarness;
  beforeEach(async () => {
    h = await startAdmin();
  });
  afterEach(() => h.close());

  const NAMES = ['delta', 'Alpha', 'charlie', 'Bravo', 'echo', 'foxtrot', 'golf'];

  /** Seeds the APIs (two nodes each, one ticked; `golf` has a selector) in one config apply. */
  async function seed(): Promise<void> {
    const res = await h.call('POST', '/admin/config/apply', {
      isogate: 1,
      apis: NAMES.map((name) => ({
        name,
        path: `/${name.toLowerCase()}/*`,
        algorithm: 'round_robin',
        ...(name === 'golf' ? { selector: { code: 'function select(r, e, n) { return n; }' } } : {}),
      })),
      nodes: NAMES.flatMap((api) =>
        [true, false].map((enabled, i) => ({
          api,
          name: `${api}-${i}`,
          enabled,
          connector: { kind: 'simple-url', url: 'http://10.0.0.1:80' },
        })),
      ),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }

  it('GET /admin/apis without paging is the whole array, as before; with limit it pages by name to the end', async () => {
    await seed();
    const full = await h.call('GET', '/admin/apis');
    expect(full.status).toBe(200);
    expect(Array.isArray(full.body)).toBe(true);
    expect(full.body).toHaveLength(NAMES.length);
    // An unknown query parameter (a cache buster) is ignored, as it always was.
    expect((await h.call('GET', '/admin/apis?_=123')).body).toEqual(full.body);

    const pages: Array<{ items: Array<{ name: string }>; next: string | null }> = [];
    let path = '/admin/apis?limit=3';
    for (;;) {
      const res = await h.call('GET', path);
      expect(res.status).toBe(200);
      pages.push(res.body);
      if (res.body.next === null) break;
      path = `/admin/apis?limit=3&after=${encodeURIComponent(res.body.next)}`;
    }
    expect(pages.map((p) => p.items.length)).toEqual([3, 3, 1]);
    expect(pages.map((p) => p.next)).toEqual(['charlie', 'foxtrot', null]);
    const paged = pages.flatMap((p) => p.items);
    // Case-insensitive name order, every API once, each entry exactly as the whole list has it.
    expect(paged.map((a) => a.name)).toEqual(['Alpha', 'Bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf']);
    const byName = new Map(full.body.map((a: { name: string }) => [a.name, a]));
    for (const entry of paged) expect(entry).toEqual(byName.get(entry.name));
    expect(byName.get('golf')).toMatchObject({ nodeCounts: { enabled: 1, total: 2 }, selectorState: 'active' });
    expect(byName.get('Alpha')).toMatchObject({ nodeCounts: { enabled: 1, total: 2 }, selectorState: 'none' });
  });

  it('asks the runtime once per kind for the whole list, and only about the APIs of the page when paged', async () => {
    await seed();
    const statuses = vi.spyOn(h.runtime, 'selectorStatuses');
    const health = vi.spyOn(h.runtime, 'nodeHealth');
    const stats = vi.spyOn(h.runtime, 'nodeStats');
    const before = { ...h.runtime.asks };
    await h.call('GET', '/admin/apis');
    expect(h.runtime.asks).toEqual({
      selectorStatus: before.selectorStatus,
      selectorStatuses: before.selectorStatuses + 1,
      nodeStats: before.nodeStats + 1,
      nodeHealth: before.nodeHealth + 1,
    });
    expect(statuses.mock.calls[0]![0]).toHaveLength(NAMES.length);
    expect(health.mock.calls[0]![0]).toHaveLength(NAMES.length * 2);

    statuses.mockClear();
    health.mockClear();
    stats.mockClear();
    const page = await h.call('GET', '/admin/apis?limit=2&after=bravo');
    expect(page.body.items.map((a: { name: string }) => a.name)).toEqual(['charlie', 'delta']);
    const ids = page.body.items.map((a: { id: string }) => a.id);
    expect(statuses.mock.calls).toEqual([[ids]]);
    expect(stats.mock.calls).toEqual([[ids]]);
    expect(health.mock.calls[0]![0]).toHaveLength(4);
  });

  it('pages on from a cursor whose API was deleted meanwhile', async () => {
    await seed();
    const first = await h.call('GET', '/admin/apis?limit=2');
    expect(first.body.next).toBe('Bravo');
    const bravo = first.body.items[1];
    expect((await h.call('DELETE', `/admin/apis/${bravo.id}`)).status).toBe(204);
    const second = await h.call('GET', `/admin/apis?limit=2&after=${first.body.next}`);
    expect(second.body.items.map((a: { name: string }) => a.name)).toEqual(['charlie', 'delta']);
    // `after` alone pages with the default page size (100).
    const rest = await h.call('GET', '/admin/apis?after=delta');
    expect(rest.body).toEqual({ items: expect.any(Array), next: null });
    expect(rest.body.items.map((a: { name: string }) => a.name)).toEqual(['echo', 'foxtrot', 'golf']);
    // Past the end: an empty last page.
    expect((await h.call('GET', '/admin/apis?limit=5&after=zulu')).body).toEqual({ items: [], next: null });
  });

  it('refuses a limit outside 1–500 or not a number', async () => {
    for (const q of ['limit=0', 'limit=501', 'limit=x', 'limit=1.5', 'after=']) {
      const res = await h.call('GET', `/admin/apis?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await h.call('GET', '/admin/apis?limit=500')).body).toEqual({ items: [], next: null });
  });

  it('pages variables (case-sensitive names) and consumers the same way', async () => {
    for (const name of ['b', 'A', 'a', 'B', 'c']) await h.call('PUT', `/admin/variables/${name}`, { value: '1' });
    const all = (await h.call('GET', '/admin/variables')).body;
    expect(all.map((v: { name: string }) => v.name)).toEqual(['A', 'B', 'a', 'b', 'c']);
    const v1 = (await h.call('GET', '/admin/variables?limit=2')).body;
    expect(v1).toEqual({ items: all.slice(0, 2), next: 'B' });
    const v2 = (await h.call('GET', '/admin/variables?limit=2&after=B')).body;
    expect(v2).toEqual({ items: all.slice(2, 4), next: 'b' });
    expect((await h.call('GET', '/admin/variables?limit=2&after=b')).body).toEqual({ items: all.slice(4), next: null });

    for (const name of ['zed', 'Amy', 'bob'])
      expect((await h.call('POST', '/admin/consumers', { name })).status).toBe(201);
    expect((await h.call('GET', '/admin/consumers')).body).toHaveLength(3);
    const c1 = (await h.call('GET', '/admin/consumers?limit=2')).body;
    expect(c1.items.map((c: { name: string }) => c.name)).toEqual(['Amy', 'bob']);
    expect(c1.next).toBe('bob');
    const c2 = (await h.call('GET', `/admin/consumers?limit=2&after=${c1.next}`)).body;
    expect(c2.items.map((c: { name: string }) => c.name)).toEqual(['zed']);
    expect(c2.next).toBeNull();
  });

  it('takes a config file over 1 MiB on POST /admin/config/apply, up to the CLI limit; other routes keep 1 MiB', async () => {
    const file = JSON.stringify({ isogate: 1, variables: [{ name: 'BIG', value: 'yes' }] });
    // Whitespace is valid JSON: a 3 MiB body that an export of thousands of APIs would be.
    const big = await h.call('POST', '/admin/config/apply?dryRun=true', undefined, {
      raw: `${file}${' '.repeat(3 * 1024 * 1024)}`,
    });
    expect(big.status, JSON.stringify(big.body)).toBe(200);
    const applied = await h.call('POST', '/admin/config/apply', undefined, {
      raw: `${' '.repeat(2 * 1024 * 1024)}${file}`,
    });
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect((await h.call('GET', '/admin/variables/BIG')).body.value).toBe('yes');

    const tooBig = await declare(h, 'POST', '/admin/config/apply', CONFIG_FILE_MAX_BYTES + 1);
    expect(tooBig.status).toBe(413);
    expect(JSON.parse(tooBig.body).error.code).toBe('BODY_TOO_LARGE');
    expect((await declare(h, 'PUT', '/admin/variables/PAD', 1024 * 1024 + 1)).status).toBe(413);
    // Without a valid token, the big body is not read at all.
    expect((await declare(h, 'POST', '/admin/config/apply', 8 * 1024 * 1024, null)).status).toBe(401);
  });
});
