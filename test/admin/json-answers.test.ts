import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, TOKEN, type AdminHarness } from './harness.js';

// Every JSON answer of the admin API ends with a newline (so `curl` output ends its line), errors too.
let h: AdminHarness;
beforeAll(async () => {
  h = await startAdmin();
});
afterAll(() => h.close());

/** The raw answer: status, content type, declared length and the exact text. */
async function raw(method: string, path: string, init: { token?: string | null; body?: string } = {}) {
  const headers: Record<string, string> = {};
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? TOKEN}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(h.base + path, { method, headers, body: init.body });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    length: Number(res.headers.get('content-length')),
    text,
  };
}

describe('admin API JSON answers', () => {
  it.each([
    ['a list', 'GET', '/admin/apis', {}, 200],
    ['an object', 'GET', '/admin/config/version', {}, 200],
    [
      'a created object',
      'POST',
      '/admin/apis',
      { body: JSON.stringify({ name: 'nl', path: '/nl', algorithm: 'round_robin' }) },
      201,
    ],
    ['a validation error', 'POST', '/admin/apis', { body: JSON.stringify({ name: '' }) }, 400],
    ['malformed JSON', 'POST', '/admin/apis', { body: '{"name":' }, 400],
    ['an unknown route', 'GET', '/admin/nope', {}, 404],
    ['a missing token', 'GET', '/admin/apis', { token: null }, 401],
  ] as const)(
    '%s ends with one newline and is still JSON of the declared length',
    async (_what, method, path, init, status) => {
      const r = await raw(method, path, init);
      expect(r.status).toBe(status);
      expect(r.type).toMatch(/^application\/json/);
      expect(r.text.endsWith('\n')).toBe(true);
      expect(r.text.endsWith('\n\n')).toBe(false);
      expect(Buffer.byteLength(r.text)).toBe(r.length);
      expect(() => JSON.parse(r.text)).not.toThrow();
    },
  );

  it('a 204 has no body at all', async () => {
    const created = await h.call('POST', '/admin/apis', { name: 'gone', path: '/gone', algorithm: 'round_robin' });
    const r = await raw('DELETE', `/admin/apis/${created.body.id}`);
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
  });
});
