import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminError } from '../../src/admin/errors.js';
import { ApiCreate } from '../../src/model/api.js';
import { localAdminRuntime } from '../../src/runtime/local-runtime.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';

// Explain asked for an API the store has and this process has not loaded yet (written a moment ago
// through another admin process), or no longer has: a real gateway (SQLite) and its own data plane.
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
});

afterAll(async () => {
  await t?.stop();
});

const request = { method: 'GET', path: '/fresh/x', query: {}, headers: {}, body: null, clientIp: '127.0.0.1' };

describe('explain of an API this process has not loaded', () => {
  it('loads the stored config once and explains the new API', async () => {
    // Fixed (was): a plain Error ("not in the serving config"), answered 500 INTERNAL_ERROR.
    const runtime = localAdminRuntime(t.app.plane!);
    const api = await t.app.store.createApi(
      ApiCreate.parse({ name: 'fresh', path: '/fresh/*', algorithm: 'round_robin' }),
    );
    // Same turn of the event loop: no store notification has reached the snapshot holder yet.
    expect(t.app.plane!.holder.current?.apis.has(api.id)).toBe(false);
    const explanation = await runtime.explain(api.id, request);
    expect(explanation.pick).toBeNull();
    expect(t.app.plane!.holder.current?.apis.has(api.id)).toBe(true);
  });

  it('answers API_NOT_FOUND for an API the store does not have either', async () => {
    const runtime = localAdminRuntime(t.app.plane!);
    const err = await runtime.explain('00000000-0000-4000-8000-000000000000', request).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdminError);
    expect((err as AdminError).code).toBe('API_NOT_FOUND');
  });
});
