import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from './harness.js';

const minimal = { name: 'orders', path: '/orders/*', algorithm: 'round_robin' };

describe('admin: health, retry and hash settings', () => {
  let h: AdminHarness;
  beforeEach(async () => {
    h = await startAdmin();
  });
  afterEach(() => h.close());

  it('refuses bad settings with 400 and the field paths, writing nothing', async () => {
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ health: { active: { intervalMs: 50, timeoutMs: 40 } } }, ['health.active.intervalMs']],
      [{ health: { active: { intervalMs: 1000, timeoutMs: 2000 } } }, ['health.active.timeoutMs']],
      [{ health: { active: { path: 'health' } } }, ['health.active.path']],
      [
        { health: { active: { expectedStatuses: ['6xx', 99] } } },
        ['health.active.expectedStatuses.0', 'health.active.expectedStatuses.1'],
      ],
      [{ health: { active: { expectedStatuses: [] } } }, ['health.active.expectedStatuses']],
      [
        { health: { active: { healthyThreshold: 0, unhealthyThreshold: 1.5 } } },
        ['health.active.healthyThreshold', 'health.active.unhealthyThreshold'],
      ],
      [
        { health: { passive: { consecutiveFailures: 0, statuses: [404] } } },
        ['health.passive.consecutiveFailures', 'health.passive.statuses.0'],
      ],
      [{ health: { passive: { baseEjectionMs: 10_000, maxEjectionMs: 5_000 } } }, ['health.passive.maxEjectionMs']],
      [{ health: { panic: 'maybe', extra: 1 } }, ['health.extra', 'health.panic']],
      [
        { retry: { methods: ['GET', 'FETCH'], statuses: [200], deadlineMs: 0 } },
        ['retry.deadlineMs', 'retry.methods.1', 'retry.statuses.0'],
      ],
      [{ retry: { timeouts: 'yes' } }, ['retry.timeouts']],
      [{ algorithm: 'hash' }, ['hashOn']],
      [{ algorithm: 'hash', hashOn: { source: 'body', name: 'a b' } }, ['hashOn.name', 'hashOn.source']],
      [{ algorithm: 'least_conn', hashOn: { source: 'header' } }, ['hashOn.name']],
    ];
    for (const [fields, paths] of cases) {
      const res = await h.call('POST', '/admin/apis', { ...minimal, ...fields });
      expect(res.status, JSON.stringify(fields)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(
        [...new Set(res.body.error.details.map((d: { path: string }) => d.path))].sort(),
        JSON.stringify(fields),
      ).toEqual(paths);
    }
    expect(await h.store.version()).toBe(0);
  });

  it('fills active-check defaults, and a PATCH merges health and retry and keeps what it leaves out', async () => {
    const created = await h.call('POST', '/admin/apis', {
      ...minimal,
      algorithm: 'hash',
      hashOn: { source: 'header', name: 'X-User' },
      health: { active: { path: '/healthz' } },
      retry: { statuses: [503] },
    });
    expect(created.status).toBe(201);
    expect(created.body.health.active).toEqual({
      path: '/healthz',
      intervalMs: 5000,
      timeoutMs: 2000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      expectedStatuses: ['2xx', '3xx'],
    });
    expect(created.body.retry).toEqual({
      methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
      timeouts: true,
      statuses: [503],
      deadlineMs: null,
      budgetPercent: 20,
      budgetMinConcurrent: 3,
    });
    const id = created.body.id;

    const patched = await h.call('PATCH', `/admin/apis/${id}`, {
      health: { active: { intervalMs: 10_000 }, passive: { consecutiveFailures: 2 }, panic: 'reject' },
      retry: { deadlineMs: 5_000 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.health.active.path).toBe('/healthz');
    expect(patched.body.health.active.intervalMs).toBe(10_000);
    expect(patched.body.health.passive).toEqual({
      consecutiveFailures: 2,
      statuses: [500, 502, 503, 504],
      timeouts: true,
      baseEjectionMs: 30000,
      maxEjectionMs: 300000,
    });
    expect(patched.body.health.panic).toBe('reject');
    expect(patched.body.retry).toEqual({
      methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
      timeouts: true,
      statuses: [503],
      deadlineMs: 5000,
      budgetPercent: 20,
      budgetMinConcurrent: 3,
    });
    expect((await h.call('GET', `/admin/apis/${id}`)).body).toEqual(patched.body);

    // null turns a check off; a partial active section on an API without one gets the defaults.
    const off = await h.call('PATCH', `/admin/apis/${id}`, { health: { active: null, passive: null } });
    expect(off.body.health).toEqual({ active: null, passive: null, panic: 'reject' });
    const on = await h.call('PATCH', `/admin/apis/${id}`, { health: { active: { intervalMs: 1000, timeoutMs: 500 } } });
    expect(on.body.health.active).toEqual({
      path: '/',
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      expectedStatuses: ['2xx', '3xx'],
    });
  });

  it('checks a PATCH against the merged API: cross-field errors are 400 and nothing changes', async () => {
    const id = (await h.call('POST', '/admin/apis', minimal)).body.id;
    const version = await h.store.version();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ algorithm: 'hash' }, 'hashOn'],
      [{ health: { active: { intervalMs: 1000 } } }, 'health.active.timeoutMs'], // default timeout 2000 > 1000
      [{ health: { passive: { maxEjectionMs: 1000 } } }, 'health.passive.maxEjectionMs'], // base 30000
    ];
    for (const [patch, path] of cases) {
      const res = await h.call('PATCH', `/admin/apis/${id}`, patch);
      expect(res.status, JSON.stringify(patch)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
    }
    expect(await h.store.version()).toBe(version);
    expect((await h.call('GET', `/admin/apis/${id}`)).body.algorithm).toBe('round_robin');
  });

  it('GET /admin/apis/:id/health without a data plane says so: state unknown, with the reason', async () => {
    const id = (await h.call('POST', '/admin/apis', minimal)).body.id;
    await h.call('POST', `/admin/apis/${id}/nodes`, {
      name: 'n1',
      connector: { kind: 'simple-url', url: 'http://127.0.0.1:9' },
    });
    const res = await h.call('GET', `/admin/apis/${id}/health`);
    expect(res.status).toBe(200);
    expect(res.body.source).toBe('none');
    expect(res.body.settings.panic).toBe('use-all');
    expect(res.body.nodes).toEqual([
      expect.objectContaining({
        name: 'n1',
        enabled: true,
        state: 'unknown',
        reason: expect.any(String),
        lastProbe: null,
      }),
    ]);
    expect((await h.call('GET', '/admin/apis/00000000-0000-0000-0000-000000000000/health')).body.error.code).toBe(
      'API_NOT_FOUND',
    );
  });
});
