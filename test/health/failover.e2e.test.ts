import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_HEADER } from '../../src/gateway/errors.js';
import { addNode, createApi, setSelector } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { closedPort } from '../helpers/upstreams.js';
import { FlakyFleet, FlakyUpstream } from './flaky-upstream.js';
import { startLoad, waitFor } from './load.js';

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

type NodeHealth = {
  name: string;
  state: string;
  reason: string | null;
  since: string | null;
  ejections: number;
  ejectedUntil: string | null;
  lastProbe: { ok: boolean } | null;
};

async function health(apiId: string): Promise<Record<string, NodeHealth>> {
  const res = await t.admin('GET', `/admin/apis/${apiId}/health`);
  expect(res.status).toBe(200);
  return Object.fromEntries(res.body.nodes.map((n: NodeHealth) => [n.name, n]));
}

describe('a node whose port closes mid-load', () => {
  it('costs idempotent GETs no error, is taken out, and gets traffic again once it is back and passes probes', async () => {
    const [a, b] = await upstreams('a', 'b');
    const id = await createApi(t, {
      name: 'portclose',
      path: '/portclose',
      algorithm: 'round_robin',
      retries: 1,
      health: {
        active: { path: '/health', intervalMs: 150, timeoutMs: 100, healthyThreshold: 2, unhealthyThreshold: 2 },
        // Long enough that only a passing probe can bring b back within the test.
        passive: { consecutiveFailures: 2, baseEjectionMs: 60_000 },
      },
    });
    await addNode(t, id, a!);
    await addNode(t, id, b!);
    const load = startLoad(t, '/portclose', { concurrency: 4, maxMs: 25_000 });
    await waitFor(
      async () => load.result.byNode['b'] ?? 0,
      (n) => n >= 20,
    );
    await b!.stop();
    const out = await waitFor(
      () => health(id),
      (h) => h['b']!.state !== 'healthy',
    );
    expect(['ejected', 'unhealthy']).toContain(out['b']!.state);
    expect(out['b']!.reason).toMatch(/in a row/);
    const servedWhileDown = load.result.byNode['b'] ?? 0;
    await new Promise((r) => setTimeout(r, 300));
    expect(load.result.byNode['b'] ?? 0).toBe(servedWhileDown); // no traffic reached a closed port as an answer

    await b!.start(); // same port
    const back = await waitFor(
      () => health(id),
      (h) => h['b']!.state === 'healthy',
      10_000,
    );
    expect(back['b']!.lastProbe?.ok).toBe(true);
    expect(back['b']!.reason).toMatch(/probe/);
    const hitsBack = b!.hits;
    await waitFor(
      async () => b!.hits,
      (n) => n >= hitsBack + 20,
    );
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    expect(result.sent).toBeGreaterThan(100);
  });
});

describe('a node that hangs', () => {
  it('times out, the GET is retried on another node, and the node is ejected', async () => {
    const [good, hung] = await upstreams('good', 'hung');
    hung!.mode = 'hang';
    const id = await createApi(t, {
      name: 'hang',
      path: '/hang',
      algorithm: 'round_robin',
      retries: 1,
      timeouts: { headersMs: 250 },
      health: { passive: { consecutiveFailures: 2, baseEjectionMs: 60_000 } },
    });
    await addNode(t, id, good!);
    await addNode(t, id, hung!);
    const answers: string[] = [];
    for (let i = 0; i < 10; i++) answers.push((await t.nodeOf('/hang'))!);
    expect(answers).toEqual(Array(10).fill('good'));
    expect(hung!.hits).toBe(2); // two timeouts in a row, then ejected
    const h = await health(id);
    expect(h['hung']!.state).toBe('ejected');
    expect(h['hung']!.reason).toMatch(/timeout UPSTREAM_HEADERS_TIMEOUT/);
    expect(h['hung']!.ejections).toBe(1);
    expect(Date.parse(h['hung']!.ejectedUntil!) - Date.parse(h['hung']!.since!)).toBe(60_000);
    // Once ejected, requests no longer wait for the hanging node.
    const started = performance.now();
    for (let i = 0; i < 5; i++) expect(await t.nodeOf('/hang')).toBe('good');
    console.log(`5 requests after the ejection took ${(performance.now() - started).toFixed(1)} ms`);
    expect(hung!.hits).toBe(2);
  });
});

describe('a node that answers 500 for a while', () => {
  it('is ejected passively, each ejection longer (base × count), and comes back when its ejection ends', async () => {
    const [ok, bad] = await upstreams('ok', 'bad');
    bad!.mode = 'fail500';
    const id = await createApi(t, {
      name: 'five',
      path: '/five',
      algorithm: 'round_robin',
      retries: 0,
      health: { passive: { consecutiveFailures: 3, baseEjectionMs: 400, maxEjectionMs: 1_000 } },
    });
    await addNode(t, id, ok!);
    await addNode(t, id, bad!);
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await t.get('/five');
      await res.arrayBuffer();
      seen.push(`${res.headers.get('x-node')}:${res.status}`);
    }
    // Round robin: ok, bad, ok, bad, ok, bad → the third 500 ejects bad.
    expect(seen).toEqual(['ok:200', 'bad:500', 'ok:200', 'bad:500', 'ok:200', 'bad:500']);
    let h = await health(id);
    expect(h['bad']!.state).toBe('ejected');
    expect(h['bad']!.reason).toMatch(/3 failed requests in a row \(last: status HTTP 500\)/);
    expect(Date.parse(h['bad']!.ejectedUntil!) - Date.parse(h['bad']!.since!)).toBe(400);
    for (let i = 0; i < 4; i++) expect(await t.nodeOf('/five')).toBe('ok');

    // Still failing when the ejection ends: three more 500s eject it again, for 2 × 400 ms.
    await waitFor(
      () => health(id),
      (x) => x['bad']!.state === 'healthy',
      3_000,
    );
    for (let i = 0; i < 12 && (await health(id))['bad']!.state === 'healthy'; i++)
      await (await t.get('/five')).arrayBuffer();
    h = await health(id);
    expect(h['bad']!.state).toBe('ejected');
    expect(h['bad']!.ejections).toBe(2);
    expect(Date.parse(h['bad']!.ejectedUntil!) - Date.parse(h['bad']!.since!)).toBe(800);

    // Recovered: back in rotation when the ejection ends.
    bad!.mode = 'ok';
    await waitFor(
      () => health(id),
      (x) => x['bad']!.state === 'healthy',
      3_000,
    );
    expect((await health(id))['bad']!.reason).toBe('ejection ended');
    const picks = [];
    for (let i = 0; i < 6; i++) picks.push(await t.nodeOf('/five'));
    expect(picks.filter((p) => p === 'bad').length).toBe(3);
  });
});

describe('panic mode when every node is down', () => {
  async function allDown(name: string, panic: 'use-all' | 'reject'): Promise<{ id: string; ports: number[] }> {
    const ports = [await closedPort(), await closedPort()];
    const id = await createApi(t, {
      name,
      path: `/${name}`,
      algorithm: 'round_robin',
      retries: 1,
      health: { passive: { consecutiveFailures: 1, baseEjectionMs: 60_000 }, panic },
    });
    for (const [i, port] of ports.entries())
      await addNode(t, id, { name: `${name}-${i}`, url: `http://127.0.0.1:${port}` });
    return { id, ports };
  }

  it('use-all (default): still tries every node, so a node that came back answers at once', async () => {
    const { id, ports } = await allDown('panicall', 'use-all');
    const first = await t.get('/panicall');
    expect(first.headers.get(ERROR_HEADER)).toBe('ALL_NODES_TRIED');
    const h = await health(id);
    expect(Object.values(h).map((n) => n.state)).toEqual(['ejected', 'ejected']);
    const res = await t.get('/panicall');
    expect(res.headers.get(ERROR_HEADER)).toBe('ALL_NODES_TRIED'); // tried, not refused up front
    const back = await new FlakyUpstream('panicall-1');
    back.port = ports[1]!;
    flaky.keep(await back.start());
    expect(await t.nodeOf('/panicall')).toBe('panicall-1');
    expect((await health(id))['panicall-1']!.state).toBe('ejected'); // still ejected: panic sent it traffic anyway
  });

  it('reject: answers NO_HEALTHY_NODE (503) without trying', async () => {
    const { id } = await allDown('panicreject', 'reject');
    await (await t.get('/panicreject')).arrayBuffer();
    expect(Object.values(await health(id)).map((n) => n.state)).toEqual(['ejected', 'ejected']);
    const res = await t.get('/panicreject');
    expect(res.status).toBe(503);
    expect(res.headers.get(ERROR_HEADER)).toBe('NO_HEALTHY_NODE');
    expect(await res.json()).toEqual({
      error: {
        code: 'NO_HEALTHY_NODE',
        message: 'Every candidate node is unhealthy and the API rejects in panic mode.',
      },
    });
  });
});

describe('the selector and the explainer', () => {
  it('the selector gets only the healthy nodes, and selector/test shows the health step', async () => {
    const [up, down] = await upstreams('sel-up', 'sel-down');
    down!.mode = 'fail503';
    const id = await createApi(t, {
      name: 'selhealth',
      path: '/selhealth',
      algorithm: 'round_robin',
      retries: 0,
      health: { passive: { consecutiveFailures: 1, statuses: [503], baseEjectionMs: 60_000 } },
    });
    await addNode(t, id, up!);
    await addNode(t, id, down!);
    // Answers nothing when it is given both nodes: a 200 proves it saw only the healthy one.
    await setSelector(t, id, { code: 'function select(r, e, nodes) { return nodes.length === 2 ? [] : nodes; }' });
    expect((await t.get('/selhealth')).headers.get(ERROR_HEADER)).toBe('SELECTOR_EMPTY');
    // Without the selector, round robin reaches the 503 node and ejects it.
    const noSel = await t.admin('DELETE', `/admin/apis/${id}/selector`);
    expect(noSel.status).toBe(204);
    for (let i = 0; i < 2; i++) await (await t.get('/selhealth')).arrayBuffer();
    expect((await health(id))['sel-down']!.state).toBe('ejected');
    await setSelector(t, id, { code: 'function select(r, e, nodes) { return nodes.length === 2 ? [] : nodes; }' });
    expect((await health(id))['sel-down']!.state).toBe('ejected'); // a config change keeps health
    for (let i = 0; i < 3; i++) expect(await t.nodeOf('/selhealth')).toBe('sel-up');

    const explained = await t.admin('POST', `/admin/apis/${id}/selector/test`, {});
    expect(explained.status).toBe(200);
    expect(explained.body.steps.rules.map((n: { name: string }) => n.name)).toEqual(['sel-up', 'sel-down']);
    expect(explained.body.steps.health.map((n: { name: string }) => n.name)).toEqual(['sel-up']);
    expect(explained.body.health).toEqual({ known: true, panic: false });
    expect(explained.body.pick.name).toBe('sel-up');
  });
});
