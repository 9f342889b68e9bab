import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { FlakyFleet } from './flaky-upstream.js';
import { waitFor } from './load.js';

let t: TestGateway;
const flaky = new FlakyFleet();
const upstreams = (...names: string[]) => flaky.start(...names);

beforeAll(async () => {
  t = await startTestGateway();
});

afterAll(async () => {
  await t?.stop();
  await flaky.stopAll();
});

const fast = { path: '/health', intervalMs: 100, timeoutMs: 80, healthyThreshold: 2, unhealthyThreshold: 2 };
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('active health checks', () => {
  it('probe from the moment the config loads, with no request sent, and take a failing node out', async () => {
    const [a, b] = await upstreams('pa', 'pb');
    b!.mode = 'fail503';
    const id = await createApi(t, {
      name: 'probe',
      path: '/probe',
      algorithm: 'round_robin',
      health: { active: fast },
    });
    await addNode(t, id, a!);
    await addNode(t, id, b!);
    await waitFor(
      async () => Math.min(a!.probes, b!.probes),
      (n) => n >= 3,
      5_000,
    );
    expect(a!.hits + b!.hits).toBe(0); // only probes so far
    const res = await t.admin('GET', `/admin/apis/${id}/health`);
    const [ha, hb] = res.body.nodes;
    expect(res.body.source).toBe('process');
    expect(ha.state).toBe('healthy');
    expect(ha.lastProbe).toEqual({
      at: expect.any(String),
      ok: true,
      status: 200,
      error: null,
      ms: expect.any(Number),
    });
    expect(hb.state).toBe('unhealthy');
    expect(hb.reason).toBe('2 probes failed in a row (last: HTTP 503)');
    for (let i = 0; i < 6; i++) expect(await t.nodeOf('/probe')).toBe('pa');
    // It passes again: healthyThreshold probes later it is back.
    b!.mode = 'ok';
    const back = await waitFor(
      () => t.admin('GET', `/admin/apis/${id}/health`),
      (r) => r.body.nodes[1].state === 'healthy',
      5_000,
    );
    expect(back.body.nodes[1].reason).toBe('2 probes passed in a row');
    const picks = new Set<string>();
    for (let i = 0; i < 4; i++) picks.add(await t.nodeOf('/probe'));
    expect([...picks].sort()).toEqual(['pa', 'pb']);
  });

  it('follow config changes: new and disabled nodes, changed settings, turning checks off, a deleted API', async () => {
    const [a, b] = await upstreams('fa', 'fb');
    const id = await createApi(t, {
      name: 'follow',
      path: '/follow',
      algorithm: 'round_robin',
      health: { active: fast },
    });
    await addNode(t, id, a!);
    await waitFor(
      async () => a!.probes,
      (n) => n >= 2,
      5_000,
    );
    expect(b!.probes).toBe(0);

    const nodeB = await addNode(t, id, b!); // a new node is probed
    await waitFor(
      async () => b!.probes,
      (n) => n >= 2,
      5_000,
    );

    // Unticked: no more probes.
    expect((await t.admin('PATCH', `/admin/apis/${id}/nodes/${nodeB}`, { enabled: false })).status).toBe(200);
    await settle(150);
    const bAfterUntick = b!.probes;
    await settle(400);
    expect(b!.probes).toBe(bAfterUntick);

    // A changed probe path takes effect: a 404 on the new path fails the probes.
    a!.mode = 'ok';
    expect(
      (
        await t.admin('PATCH', `/admin/apis/${id}`, {
          health: { active: { path: '/health/deep', expectedStatuses: [204] } },
        })
      ).status,
    ).toBe(200);
    const out = await waitFor(
      () => t.admin('GET', `/admin/apis/${id}/health`),
      (r) => r.body.nodes[0].state === 'unhealthy',
      5_000,
    );
    expect(out.body.nodes[0].reason).toBe('2 probes failed in a row (last: HTTP 200)');

    // Checks off: the probes stop and their verdict is dropped.
    expect((await t.admin('PATCH', `/admin/apis/${id}`, { health: { active: null } })).status).toBe(200);
    const off = await t.admin('GET', `/admin/apis/${id}/health`);
    expect(off.body.nodes[0]).toMatchObject({ state: 'healthy', reason: 'active checks turned off', lastProbe: null });
    await settle(150);
    const aAfterOff = a!.probes;
    await settle(400);
    expect(a!.probes).toBe(aAfterOff);

    // On again, then the API is deleted: probes stop.
    expect((await t.admin('PATCH', `/admin/apis/${id}`, { health: { active: fast } })).status).toBe(200);
    await waitFor(
      async () => a!.probes,
      (n) => n >= aAfterOff + 2,
      5_000,
    );
    expect((await t.admin('DELETE', `/admin/apis/${id}`)).status).toBe(204);
    await settle(150);
    const aAfterDelete = a!.probes;
    await settle(400);
    expect(a!.probes).toBe(aAfterDelete);
  });

  it("keep a node's health across config versions while the node stays, and start fresh when its URL changes", async () => {
    const [a, b, c] = await upstreams('ka', 'kb', 'kc');
    b!.mode = 'fail500';
    const id = await createApi(t, { name: 'keep', path: '/keep', algorithm: 'round_robin', health: { active: fast } });
    await addNode(t, id, a!);
    const nodeB = await addNode(t, id, b!);
    await waitFor(
      () => t.admin('GET', `/admin/apis/${id}/health`),
      (r) => r.body.nodes[1].state === 'unhealthy',
      5_000,
    );
    // Unrelated writes make new snapshots: b stays out.
    await t.admin('PUT', '/admin/variables/keep_flag', { value: '1' });
    await t.admin('PATCH', `/admin/apis/${id}/nodes/${nodeB}`, { weight: 3 });
    const kept = await t.admin('GET', `/admin/apis/${id}/health`);
    expect(kept.body.nodes[1].state).toBe('unhealthy');
    for (let i = 0; i < 3; i++) expect(await t.nodeOf('/keep')).toBe('ka');
    // Pointing the node at another backend is a new backend: healthy until its own probes say otherwise.
    await t.admin('PATCH', `/admin/apis/${id}/nodes/${nodeB}`, { connector: { kind: 'simple-url', url: c!.url } });
    const fresh = await t.admin('GET', `/admin/apis/${id}/health`);
    expect(fresh.body.nodes[1].state).toBe('healthy');
    expect(fresh.body.nodes[1].reason).toBeNull();
  });
});
