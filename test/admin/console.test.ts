import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../store/fixtures.js';
import { startAdmin, type AdminHarness } from './harness.js';

const INDEX = '<!doctype html><title>isogate</title><div id="app"></div>';

describe('web console serving (built)', () => {
  let h: AdminHarness;
  let dir: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    dir = tempDir('isogate-console-');
    writeFileSync(join(dir.dir, 'index.html'), INDEX);
    mkdirSync(join(dir.dir, 'assets'));
    writeFileSync(join(dir.dir, 'assets', 'main-abc123.js'), 'console.log(1)');
    h = await startAdmin({ consoleDir: dir.dir });
  });
  afterAll(async () => {
    await h.close();
    dir.remove();
  });

  const get = (path: string, init?: RequestInit) => fetch(h.base + path, init);

  it('serves index.html at / without a token, not cached, with a strict content security policy', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe(INDEX);
  });

  it('serves hashed bundles as immutable JavaScript', async () => {
    const res = await get('/assets/main-abc123.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/javascript/);
    expect(res.headers.get('cache-control')).toContain('immutable');
  });

  it('answers client-side routes with index.html so a reload keeps the page', async () => {
    for (const path of ['/apis', '/apis/some-id/nodes', '/variables?x=1', '/sign-in']) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(await res.text(), path).toBe(INDEX);
    }
    const head = await get('/apis/x/selector', { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('keeps a missing bundle and non-GET requests a plain 404', async () => {
    const asset = await get('/assets/gone-000.js');
    expect(asset.status).toBe(404);
    expect(await asset.text()).not.toContain('<div id="app">');
    const post = await get('/apis', { method: 'POST' });
    expect(post.status).toBe(404);
  });

  it('leaves /admin to the admin API: auth first, JSON errors, no console page', async () => {
    const noToken = await get('/admin/apis');
    expect(noToken.status).toBe(401);
    expect((await noToken.json()).error.code).toBe('UNAUTHORIZED');
    const unknown = await h.call('GET', '/admin/no-such-route');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
    // Bare /admin belongs to the admin scope too, so its auth answers first.
    const bare = await get('/admin');
    expect(bare.status).toBe(401);
    expect(await bare.text()).not.toContain('<div id="app">');
    expect((await h.call('GET', '/admin/apis')).status).toBe(200);
  });
});

describe('web console serving (not built)', () => {
  it('answers every page with a short note to run npm run build', async () => {
    const dir = tempDir('isogate-console-empty-');
    const h = await startAdmin({ consoleDir: join(dir.dir, 'missing') });
    try {
      for (const path of ['/', '/apis/x']) {
        const res = await fetch(h.base + path);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
        expect(await res.text()).toContain('npm run build');
      }
      expect((await h.call('GET', '/admin/apis')).status).toBe(200);
    } finally {
      await h.close();
      dir.remove();
    }
  });
});
