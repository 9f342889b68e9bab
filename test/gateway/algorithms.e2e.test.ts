import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let t: TestGateway;
let ups: TestUpstream[];
const servers: Server[] = [];

beforeAll(async () => {
  t = await startTestGateway();
  ups = await startUpstreams(['n1', 'n2', 'n3']);
});

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/** An upstream that holds every request until `release()`, and answers at once from then on. */
async function holdingUpstream(
  name: string,
): Promise<{ name: string; url: string; held: ServerResponse[]; release(): void }> {
  const held: ServerResponse[] = [];
  let holding = true;
  const server = createServer((req, res) => {
    req.resume();
    if (holding) held.push(res);
    else {
      res.writeHead(200, { 'x-node': name });
      res.end();
    }
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    name,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    release() {
      holding = false;
      for (const res of held.splice(0)) {
        res.writeHead(200, { 'x-node': name });
        res.end();
      }
    },
  };
}

describe('least_conn', () => {
  it('sends to the node with fewer requests in flight', async () => {
    const slow = await holdingUpstream('slow');
    const id = await createApi(t, { name: 'lc', path: '/lc', algorithm: 'least_conn', retries: 0 });
    await addNode(t, id, slow);
    await addNode(t, id, ups[0]!);
    // Idle and tied: the first request goes to slow (first candidate) and stays in flight there.
    const pending = [t.nodeOf('/lc'), t.nodeOf('/lc')];
    const deadline = Date.now() + 5_000;
    while (slow.held.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(slow.held.length).toBe(1);
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) answers.push(await t.nodeOf('/lc'));
    // slow has 1 in flight, n1 has 0 after each answer: every request goes to n1 (round robin would send half to slow).
    expect(answers).toEqual(Array(20).fill('n1'));
    expect(slow.held.length).toBe(1);
    slow.release();
    expect((await Promise.all(pending)).sort()).toEqual(['n1', 'slow']);
    // Idle again: ties rotate over both nodes.
    const idle = [];
    for (let i = 0; i < 4; i++) idle.push(await t.nodeOf('/lc'));
    expect(idle.sort()).toEqual(['n1', 'n1', 'slow', 'slow']);
  });
});

describe('hash', () => {
  async function api(name: string, hashOn: { source: string; name: string }): Promise<string> {
    const id = await createApi(t, { name, path: `/${name}`, algorithm: 'hash', hashOn });
    for (const u of ups) await addNode(t, id, u);
    return id;
  }

  async function stickiness(
    path: string,
    keys: string[],
    init: (key: string) => RequestInit | string,
  ): Promise<Map<string, string>> {
    const owner = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (const key of keys) {
        const i = init(key);
        const node = typeof i === 'string' ? await t.nodeOf(`${path}${i}`) : await t.nodeOf(path, i);
        expect(node).toMatch(/^n[123]$/);
        if (round === 0) owner.set(key, node);
        else expect(node, `key ${key} moved`).toBe(owner.get(key));
      }
    }
    return owner;
  }

  const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);

  it('on a header: each key keeps its node, keys spread over the nodes', async () => {
    await api('hh', { source: 'header', name: 'X-User' });
    const owner = await stickiness('/hh', users, (u) => ({ headers: { 'x-user': u } }));
    expect(new Set(owner.values()).size).toBe(3);
  });

  it('on a query parameter: each key keeps its node, keys spread over the nodes', async () => {
    await api('hq', { source: 'query', name: 'uid' });
    const owner = await stickiness('/hq', users, (u) => `?other=1&uid=${u}`);
    expect(new Set(owner.values()).size).toBe(3);
  });

  it('on a cookie: each key keeps its node, keys spread over the nodes', async () => {
    await api('hc', { source: 'cookie', name: 'sid' });
    const owner = await stickiness('/hc', users, (u) => ({ headers: { cookie: `a=b; sid=${u}; c=d` } }));
    expect(new Set(owner.values()).size).toBe(3);
    // Another cookie with the same value does not count: only `sid` is the key.
    const fallback = await t.nodeOf('/hc');
    expect(await t.nodeOf('/hc', { headers: { cookie: 'xsid=user-1' } })).toBe(fallback);
  });

  it('falls back to the client IP when the request has no key', async () => {
    await api('hf', { source: 'header', name: 'x-user' });
    const withoutKey = await t.nodeOf('/hf');
    for (let i = 0; i < 5; i++) expect(await t.nodeOf('/hf')).toBe(withoutKey);
    // The fallback hashes the client IP itself: a request whose key is that IP lands on the same node.
    expect(await t.nodeOf('/hf', { headers: { 'x-user': '127.0.0.1' } })).toBe(withoutKey);
    expect(await t.nodeOf('/hf', { headers: { 'x-user': '' } })).toBe(withoutKey);
  });
});
