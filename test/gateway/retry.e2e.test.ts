import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_HEADER } from '../../src/gateway/errors.js';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { FlakyFleet } from '../health/flaky-upstream.js';
import { scrape } from '../helpers/metrics.js';
import { closedPort } from '../helpers/upstreams.js';

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

// Passive checks off, so these tests see retries alone (ejection would hide the failing node).
const noPassive = { passive: null };

/** A request with a body sent in chunks without Content-Length (streamed, so never buffered). */
function chunkedPut(url: string, body: string): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, code: res.headers[ERROR_HEADER] as string | undefined }),
      );
    });
    req.on('error', reject);
    req.write(body.slice(0, 5));
    setTimeout(() => req.end(body.slice(5)), 20);
  });
}

describe('retries after the request reached a node', () => {
  it('retries a GET that got a listed status (503) on another node; a POST gets the 503 as is', async () => {
    const [good, busy] = await upstreams('good', 'busy');
    busy!.mode = 'fail503';
    const id = await createApi(t, { name: 'st', path: '/st', algorithm: 'round_robin', retries: 1, health: noPassive });
    await addNode(t, id, busy!);
    await addNode(t, id, good!);
    for (let i = 0; i < 6; i++) expect(await t.nodeOf('/st')).toBe('good');
    // Round robin's "waited longest goes next": the retry on good makes busy the next first try again.
    expect(busy!.hits).toBe(6);
    const posts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await t.get('/st', { method: 'POST', body: 'x' });
      await res.arrayBuffer();
      expect(res.headers.get(ERROR_HEADER)).toBeNull(); // the node's own answer
      posts.push(res.status);
    }
    expect(posts.sort()).toEqual([200, 200, 503, 503]);
  });

  it('passes a status that is not in retry.statuses on as is', async () => {
    const [bad, good] = await upstreams('bad', 'good2');
    bad!.mode = 'fail500';
    const id = await createApi(t, {
      name: 'st500',
      path: '/st500',
      algorithm: 'round_robin',
      retries: 1,
      health: noPassive,
    });
    await addNode(t, id, bad!);
    await addNode(t, id, good!);
    const res = await t.get('/st500');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ node: 'bad', status: 500 });
    expect(good!.hits).toBe(0);
    // Listing 500 makes it retried.
    expect((await t.admin('PATCH', `/admin/apis/${id}`, { retry: { statuses: [500] } })).status).toBe(200);
    expect(await t.nodeOf('/st500')).toBe('good2');
    expect(await t.nodeOf('/st500')).toBe('good2');
  });

  it('retries at most nodes − 1 times, whatever `retries` says, and passes the last answer on', async () => {
    const list = await upstreams('x1', 'x2', 'x3');
    for (const u of list) u.mode = 'fail503';
    const id = await createApi(t, {
      name: 'cap',
      path: '/cap',
      algorithm: 'round_robin',
      retries: 10,
      health: noPassive,
    });
    for (const u of list) await addNode(t, id, u);
    const res = await t.get('/cap');
    expect(res.status).toBe(503);
    expect(res.headers.get(ERROR_HEADER)).toBeNull();
    expect(list.map((u) => u.hits)).toEqual([1, 1, 1]);
  });

  it('retries a timed-out GET, resends a small PUT body, and never resends a streamed body', async () => {
    const [hung, ok] = await upstreams('hung', 'ok');
    hung!.mode = 'hang';
    const id = await createApi(t, {
      name: 'to',
      path: '/to',
      algorithm: 'round_robin',
      retries: 1,
      timeouts: { headersMs: 200 },
      health: noPassive,
    });
    await addNode(t, id, hung!);
    await addNode(t, id, ok!);
    expect(await t.nodeOf('/to')).toBe('ok'); // hung first (round robin), then ok
    expect(hung!.hits).toBe(1);
    // A body with Content-Length is buffered, so it can be resent whole.
    const put = await t.get('/to', { method: 'PUT', body: 'the whole body' });
    await put.arrayBuffer();
    expect(put.headers.get('x-node')).toBe('ok');
    expect(hung!.hits).toBe(2); // it went to hung first (round robin), then was resent
    expect(hung!.bodies.at(-1)).toBe('the whole body');
    expect(ok!.bodies.at(-1)).toBe('the whole body');
    // A chunked body streams through as it arrives: after a timeout it is gone, so no retry.
    let streamedTimeouts = 0;
    for (let i = 0; i < 2; i++) {
      const r = await chunkedPut(`${t.gatewayUrl}/to`, 'streamed body');
      if (r.code === 'UPSTREAM_TIMEOUT') streamedTimeouts++;
      else expect(r.status).toBe(200);
    }
    expect(streamedTimeouts).toBe(1); // the try that went to hung
  });

  it('a timeout is not retried when retry.timeouts is false', async () => {
    const [hung, ok] = await upstreams('hung2', 'ok2');
    hung!.mode = 'hang';
    const id = await createApi(t, {
      name: 'noto',
      path: '/noto',
      algorithm: 'round_robin',
      retries: 1,
      timeouts: { headersMs: 150 },
      retry: { timeouts: false },
      health: noPassive,
    });
    await addNode(t, id, hung!);
    await addNode(t, id, ok!);
    expect(await t.nodeOf('/noto')).toBe('error:UPSTREAM_TIMEOUT');
    expect(ok!.hits).toBe(0);
  });

  it('ends at the total deadline: the try in progress is cut and no other starts (UPSTREAM_TIMEOUT)', async () => {
    const list = await upstreams('h1', 'h2', 'h3');
    for (const u of list) u.mode = 'hang';
    const id = await createApi(t, {
      name: 'deadline',
      path: '/deadline',
      algorithm: 'round_robin',
      retries: 2,
      timeouts: { headersMs: 1_000 },
      retry: { deadlineMs: 450 },
      health: noPassive,
    });
    for (const u of list) await addNode(t, id, u);
    const started = performance.now();
    expect(await t.nodeOf('/deadline')).toBe('error:UPSTREAM_TIMEOUT');
    const ms = performance.now() - started;
    console.log(`deadline 450 ms, per try 1000 ms: answered after ${ms.toFixed(0)} ms`);
    // The deadline cut the first try short: one try, not three of 1000 ms each.
    expect(list.map((u) => u.hits).reduce((a, b) => a + b)).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(440);
    expect(ms).toBeLessThan(950);
  });
});

describe('retries after a connect failure', () => {
  it('retries every method, POST included (the node never saw the request)', async () => {
    const [ok] = await upstreams('okc');
    const { closedPort } = await import('../helpers/upstreams.js');
    const id = await createApi(t, {
      name: 'conn',
      path: '/conn',
      algorithm: 'round_robin',
      retries: 1,
      retry: { deadlineMs: 2_000 },
      health: noPassive,
    });
    await addNode(t, id, { name: 'dead', url: `http://127.0.0.1:${await closedPort()}` });
    await addNode(t, id, ok!);
    for (let i = 0; i < 4; i++) {
      const res = await t.get('/conn', { method: 'POST', body: `post ${i}` });
      expect(res.headers.get('x-node')).toBe('okc');
      await res.arrayBuffer();
    }
    expect(ok!.bodies).toEqual(['post 0', 'post 1', 'post 2', 'post 3']);
  });
});

/** A node that holds every request until the test answers it. */
async function holdingNode(name: string) {
  const held: ServerResponse[] = [];
  let arrived = 0;
  const server = createServer((req, res) => {
    req.resume();
    arrived++;
    held.push(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    name,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrived: () => arrived,
    /** Answers every request held now with `status`. */
    answerAll(status: number): number {
      const now = held.splice(0);
      for (const res of now) res.writeHead(status, { 'content-type': 'text/plain' }).end(`${name} ${status}`);
      return now.length;
    },
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const until = async (check: () => boolean | Promise<boolean>, ms = 5_000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('the retry budget', () => {
  it('retries only as many requests at once as the budget allows; the others get their failure as it is', async () => {
    const a = await holdingNode('ra');
    const b = await holdingNode('rb');
    try {
      const id = await createApi(t, {
        name: 'budget',
        path: '/budget',
        algorithm: 'round_robin',
        retries: 1,
        retry: { budgetPercent: 0, budgetMinConcurrent: 1 },
        health: noPassive,
      });
      await addNode(t, id, a);
      await addNode(t, id, b);
      const refused = async () =>
        (await scrape(`${t.statusUrl}/metrics`)).sum('isogate_upstream_retries_refused_total', { api: 'budget' });
      const round = async (expectRetried: number) => {
        const answers: Array<{ status: number; body: string }> = [];
        const clients = Array.from({ length: 4 }, () =>
          t.get('/budget').then(async (res) => answers.push({ status: res.status, body: await res.text() })),
        );
        await until(() => a.arrived() + b.arrived() === arrivedBefore + 4);
        // All four first tries fail at once; each wants a retry on the other node.
        expect(a.answerAll(503) + b.answerAll(503)).toBe(4);
        await until(
          () => answers.length === 4 - expectRetried && a.arrived() + b.arrived() === arrivedBefore + 4 + expectRetried,
        );
        expect(answers.map((x) => x.status)).toEqual(Array(4 - expectRetried).fill(503));
        // The retries admitted are held by their node: release them.
        expect(a.answerAll(200) + b.answerAll(200)).toBe(expectRetried);
        await Promise.all(clients);
        expect(answers.filter((x) => x.status === 200)).toHaveLength(expectRetried);
        arrivedBefore += 4 + expectRetried;
      };
      let arrivedBefore = 0;
      // One retry at a time: the first failure's retry takes the place, the other three are answered 503.
      await round(1);
      await until(async () => (await refused()) === 3);
      // No budget: every failure is retried.
      expect((await t.admin('PATCH', `/admin/apis/${id}`, { retry: { budgetPercent: null } })).status).toBe(200);
      await t.app.plane!.holder.refresh();
      await round(4);
      expect(await refused()).toBe(3);
      // The budget's places were all given back: one retry at a time again.
      expect((await t.admin('PATCH', `/admin/apis/${id}`, { retry: { budgetPercent: 0 } })).status).toBe(200);
      await t.app.plane!.holder.refresh();
      await round(1);
      await until(async () => (await refused()) === 6);

      // A connect failure's retry takes no place (the node never saw the request): with no place at
      // all, a dead node's requests are still all served by the other.
      const live = await holdingNode('live');
      const dead = await createApi(t, {
        name: 'budget-dead',
        path: '/budget-dead',
        algorithm: 'round_robin',
        retries: 1,
        retry: { budgetPercent: 0, budgetMinConcurrent: 0 },
        health: noPassive,
      });
      await addNode(t, dead, { name: 'dead', url: `http://127.0.0.1:${await closedPort()}` });
      await addNode(t, dead, live);
      const statuses = Array.from({ length: 6 }, () => t.get('/budget-dead').then((res) => res.status));
      await until(() => live.arrived() === 6);
      expect(live.answerAll(200)).toBe(6);
      expect(await Promise.all(statuses)).toEqual(Array(6).fill(200));
      await live.close();
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("retries after the node's wait queue refused the request (the node never saw it)", () => {
  // One connection per node and one request waiting for it; a wait of at most 400 ms.
  const WAIT_MS = 400;
  let q: TestGateway;
  beforeAll(async () => {
    q = await startTestGateway([
      '--upstream-connections',
      '1',
      '--upstream-max-waiting',
      '1',
      '--upstream-wait-ms',
      String(WAIT_MS),
    ]);
  });
  afterAll(async () => {
    await q?.stop();
  });

  /** In-flight counts (queued requests included) by node name. */
  const inFlight = async (id: string): Promise<Record<string, number>> => {
    const res = await q.admin('GET', `/admin/apis/${id}/health`);
    return Object.fromEntries(
      (res.body.nodes as Array<{ name: string; inFlight: number }>).map((n) => [n.name, n.inFlight]),
    );
  };
  const states = async (id: string): Promise<Record<string, string>> => {
    const res = await q.admin('GET', `/admin/apis/${id}/health`);
    return Object.fromEntries((res.body.nodes as Array<{ name: string; state: string }>).map((n) => [n.name, n.state]));
  };
  /** A request's answer as `x-node`, else `error:<code>`, and how long it took. */
  const timed = async (path: string, init?: RequestInit) => {
    const started = performance.now();
    const who = await q.nodeOf(path, init);
    return { who, ms: performance.now() - started };
  };

  it('a full queue moves the request to another node at once, a POST too; neither health nor the budget is charged', async () => {
    const busy = await holdingNode('qf-busy');
    const [free] = await upstreams('qf-free');
    try {
      const id = await createApi(q, {
        name: 'qfull',
        path: '/qfull',
        algorithm: 'weighted',
        retries: 1,
        // One failure would eject the node, and no retry that takes a place in the budget is allowed.
        health: { passive: { consecutiveFailures: 1 } },
        retry: { budgetPercent: 0, budgetMinConcurrent: 0 },
      });
      // Smooth weighted round robin with 10000 : 1 picks qf-busy first for thousands of requests.
      await addNode(q, id, busy, { weight: 10_000 });
      await addNode(q, id, free!, { weight: 1 });
      const held = q.get('/qfull').then((res) => res.text()); // takes qf-busy's one connection
      await until(() => busy.arrived() === 1);
      const queued = q.get('/qfull').then((res) => res.text()); // waits for it
      await until(async () => (await inFlight(id))['qf-busy'] === 2);
      // The queue is full: each of these is refused by qf-busy's pool and sent to qf-free.
      const get = await timed('/qfull');
      const post = await timed('/qfull', { method: 'POST', body: 'moved post' });
      expect([get.who, post.who]).toEqual(['qf-free', 'qf-free']);
      expect(Math.max(get.ms, post.ms)).toBeLessThan(WAIT_MS);
      expect(free!.bodies).toEqual(['', 'moved post']);
      expect(busy.arrived()).toBe(1);
      // Busy, not failing: still healthy, so still picked first.
      expect((await states(id))['qf-busy']).toBe('healthy');
      expect(busy.answerAll(200)).toBe(1);
      expect(await held).toBe('qf-busy 200');
      await until(() => busy.arrived() === 2);
      expect(busy.answerAll(200)).toBe(1);
      expect(await queued).toBe('qf-busy 200');
      const m = await scrape(`${q.statusUrl}/metrics`);
      expect(m.sum('isogate_upstream_retries_total', { api: 'qfull', reason: 'queue' })).toBe(2);
      expect(m.sum('isogate_upstream_retries_refused_total', { api: 'qfull' })).toBe(0);
      expect(m.sum('isogate_upstream_connect_failures_total', { api: 'qfull' })).toBe(0);
      await until(async () => (await inFlight(id))['qf-busy'] === 0);
    } finally {
      await busy.close();
    }
  });

  it('with one node only, or no retries, a full queue still answers 503 UPSTREAM_QUEUE_FULL at once', async () => {
    const busy = await holdingNode('qf-alone');
    const [other] = await upstreams('qf-other');
    try {
      const id = await createApi(q, {
        name: 'qalone',
        path: '/qalone',
        algorithm: 'round_robin',
        retries: 1,
        health: noPassive,
      });
      await addNode(q, id, busy);
      const held = q.get('/qalone').then((res) => res.status);
      await until(() => busy.arrived() === 1);
      const queued = q.get('/qalone').then((res) => res.status);
      await until(async () => (await inFlight(id))['qf-alone'] === 2);
      const res = await q.get('/qalone', { method: 'POST', body: 'x' });
      expect(res.status).toBe(503);
      expect(res.headers.get(ERROR_HEADER)).toBe('UPSTREAM_QUEUE_FULL');
      await res.arrayBuffer();
      // A second node, but no retries: the refusal as it is.
      expect((await q.admin('PATCH', `/admin/apis/${id}`, { retries: 0 })).status).toBe(200);
      await addNode(q, id, other!);
      await q.app.plane!.holder.refresh();
      const picks = await Promise.all(Array.from({ length: 4 }, () => q.nodeOf('/qalone')));
      expect(picks.filter((p) => p !== 'qf-other')).toEqual(Array(2).fill('error:UPSTREAM_QUEUE_FULL'));
      expect(busy.arrived()).toBe(1);
      busy.answerAll(200);
      await until(() => busy.arrived() === 2);
      busy.answerAll(200);
      expect(await Promise.all([held, queued])).toEqual([200, 200]);
    } finally {
      await busy.close();
    }
  });

  it('a queue timeout moves the request to another node (a POST too), within the total deadline', async () => {
    const busy = await holdingNode('qt-busy');
    const busy2 = await holdingNode('qt-busy2');
    const [free] = await upstreams('qt-free');
    try {
      const id = await createApi(q, {
        name: 'qtime',
        path: '/qtime',
        algorithm: 'weighted',
        retries: 1,
        health: { passive: { consecutiveFailures: 1 } },
      });
      await addNode(q, id, busy, { weight: 10_000 });
      await addNode(q, id, free!, { weight: 1 });
      const held = q.get('/qtime').then((res) => res.text());
      await until(() => busy.arrived() === 1);
      // Waits WAIT_MS for qt-busy's connection, then goes to qt-free.
      const post = await timed('/qtime', { method: 'POST', body: 'waited post' });
      expect(post.who).toBe('qt-free');
      expect(post.ms).toBeGreaterThanOrEqual(WAIT_MS - 10);
      expect(free!.bodies).toEqual(['waited post']);
      expect(busy.arrived()).toBe(1);
      expect((await states(id))['qt-busy']).toBe('healthy');
      expect(
        (await scrape(`${q.statusUrl}/metrics`)).sum('isogate_upstream_retries_total', {
          api: 'qtime',
          reason: 'queue',
        }),
      ).toBe(1);

      // The wait counts against the total deadline: 400 ms waited for qt-busy, then the deadline (600 ms)
      // ends the second wait, for qt-busy2, which is busy too.
      const both = await createApi(q, {
        name: 'qtdead',
        path: '/qtdead',
        algorithm: 'weighted',
        retries: 1,
        retry: { deadlineMs: 600 },
        health: noPassive,
      });
      await addNode(q, both, busy, { weight: 10_000 });
      await addNode(q, both, busy2, { weight: 1 });
      // qt-busy's connection is still held (pools are per origin); hold qt-busy2's through an API of its own.
      const direct = await createApi(q, {
        name: 'qtdirect',
        path: '/qtdirect',
        algorithm: 'round_robin',
        retries: 0,
        health: noPassive,
      });
      await addNode(q, direct, busy2);
      const heldDirect = q.get('/qtdirect').then((res) => res.text());
      await until(() => busy2.arrived() === 1);
      const late = await timed('/qtdead');
      expect(late.who).toBe('error:UPSTREAM_TIMEOUT');
      expect(late.ms).toBeGreaterThanOrEqual(590);
      expect(late.ms).toBeLessThan(600 + WAIT_MS);
      busy.answerAll(200);
      busy2.answerAll(200);
      expect(await Promise.all([held, heldDirect])).toEqual(['qt-busy 200', 'qt-busy2 200']);
    } finally {
      await busy.close();
      await busy2.close();
    }
  });
});
