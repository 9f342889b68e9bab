import { ZodError, z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminError, adminErrors, toAdminError } from '../../src/admin/errors.js';
import { StoreConflictError, StoredDataError } from '../../src/store/errors.js';
import { startAdmin, type AdminHarness } from './harness.js';

describe('admin error table', () => {
  it('gives every code a 4xx/5xx status and a message, and AdminError uses them', () => {
    for (const [code, { status, message }] of Object.entries(adminErrors)) {
      expect(status >= 400 && status < 600, code).toBe(true);
      expect(message.length, code).toBeGreaterThan(0);
      const err = new AdminError(code as keyof typeof adminErrors);
      expect(err.statusCode).toBe(status);
      expect(err.toBody()).toEqual({ error: { code, message } });
    }
  });

  it('maps store conflicts, zod failures and unknown errors', () => {
    const conflict = toAdminError(new StoreConflictError('ROUTE_CONFLICT', 'taken', 'id1'));
    expect([conflict.code, conflict.statusCode, conflict.message]).toEqual(['ROUTE_CONFLICT', 409, 'taken']);

    const zod = toAdminError(
      z.strictObject({ a: z.object({ b: z.number() }) }).safeParse({ a: { b: 'x' }, c: 1 }).error as ZodError,
    );
    expect(zod.code).toBe('VALIDATION_FAILED');
    expect(zod.details!.map((d) => d.path).sort()).toEqual(['a.b', 'c']);

    // A stored row that does not read back is the store's fault: 500 with a store code, never 400.
    const stored = toAdminError(new StoredDataError('process', 'p1', 'stored process "p1" is not valid: role'));
    expect([stored.code, stored.statusCode, stored.details]).toEqual(['STORE_DATA_INVALID', 500, undefined]);

    const internal = toAdminError(new Error('secret detail'));
    expect([internal.code, internal.statusCode]).toEqual(['INTERNAL_ERROR', 500]);
    expect(internal.message).not.toContain('secret');
  });
});

describe('admin request errors', () => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdmin();
  });
  afterAll(() => h.close());

  it('answers bad JSON with 400 VALIDATION_FAILED', async () => {
    const res = await h.call('POST', '/admin/apis', undefined, { raw: '{"name": ' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.message).toMatch(/not valid JSON/);
  });

  it('refuses a __proto__ key in the body', async () => {
    const res = await h.call('POST', '/admin/apis', undefined, {
      raw: '{"name":"p","path":"/p","algorithm":"weighted","__proto__":{"polluted":true}}',
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('answers a missing body with 400 and a non-JSON body with 415', async () => {
    const missing = await h.call('POST', '/admin/apis');
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: '' }] });

    const text = await h.call('POST', '/admin/apis', undefined, {
      raw: 'name=x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
    expect(text.body).toEqual({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.any(String) } });
  });

  it('answers a body over 1 MiB with 413 BODY_TOO_LARGE', async () => {
    const res = await h.call('POST', '/admin/apis', {
      name: 'big',
      path: '/big',
      algorithm: 'weighted',
      pad: 'x'.repeat(1024 * 1024),
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('BODY_TOO_LARGE');
    expect(await h.store.version()).toBe(0);
  });
});
