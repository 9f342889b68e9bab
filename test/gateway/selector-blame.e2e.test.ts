import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNode, createApi, setSelector } from '../helpers/fixtures.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// Blame only what the script did, end to end: a sandbox process killed from outside (as the OOM
// killer or an operator would) is nobody's fault, and a quarantine ends with a new save or an
// explicit restart.
let t: TestGateway;
let ups: TestUpstream[];

beforeAll(async () => {
  t = await startTestGateway();
  ups = await startUpstreams(['a', 'b', 'temp']);
});

afterAll(async () => {
  await t?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
});

const up = (name: string) => ups.find((u) => u.name === name)!;
const canary = readFileSync(new URL('../../scripts-examples/canary-by-query.js', import.meta.url), 'utf8');
const sandbox = () => t.app.plane!.sandbox;

/** Waits (bounded) until `done` holds. */
async function until(done: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a sandbox process killed from outside', () => {
  it('SIGKILL of the serving host while calls are in flight, three times: every request is routed right, nothing is quarantined', async () => {
    const id = await createApi(t, { name: 'kill', path: '/kill/*', algorithm: 'round_robin', selector: null });
    await addNode(t, id, up('a'));
    await addNode(t, id, up('b'));
    await addNode(t, id, up('temp'), { tags: ['temp'] });
    // Not memoized, so every request is a call in the sandbox.
    await setSelector(t, id, { code: canary, memoize: false, onError: 'reject' });
    const wrong: string[] = [];
    let answered = 0;
    for (let round = 0; round < 3; round++) {
      const before = sandbox().hosts();
      const pid = before.slots[0]!;
      expect(pid).not.toBeNull();
      const requests = Array.from({ length: 120 }, async (_, i) => {
        const temp = i % 2 === 0;
        const node = await t.nodeOf(temp ? '/kill/x?select_code=temp_node' : '/kill/x');
        answered++;
        if (temp ? node !== 'temp' : node !== 'a' && node !== 'b') wrong.push(`${i}: ${node}`);
      });
      // Kill it once calls are going through it.
      await until(() => answered >= round * 120 + 10);
      process.kill(pid, 'SIGKILL');
      await Promise.all(requests);
      await until(() => sandbox().hosts().slots[0] !== null && sandbox().hosts().slots[0] !== pid);
    }
    expect(wrong).toEqual([]);
    expect(sandbox().hosts().killedFromOutside).toBeGreaterThanOrEqual(3);
    const { body } = await t.admin('GET', `/admin/apis/${id}/selector`);
    expect(body.status).toMatchObject({ state: 'active', failures: 0 });
  });
});

describe('lifting a quarantine', () => {
  const failing = [
    'function select(request, env, nodes) {',
    '  if (request.headers["x-boom"]) throw new Error("boom");',
    '  return nodes.filter((n) => !n.tags.includes("temp"));',
    '}',
  ].join('\n');

  async function quarantine(id: string): Promise<void> {
    for (let i = 0; i < 5; i++)
      expect(await t.nodeOf('/lift/x', { headers: { 'x-boom': '1' } })).toBe('error:SELECTOR_FAILED');
    const { body } = await t.admin('GET', `/admin/apis/${id}/selector`);
    expect(body.status.state).toBe('quarantined');
    // Now even a harmless request gets the onError answer without running.
    expect(await t.nodeOf('/lift/x')).toBe('error:SELECTOR_FAILED');
  }

  it('saving the same code again, or POST …/selector/restart, starts the selector afresh', async () => {
    const id = await createApi(t, { name: 'lift', path: '/lift/*', algorithm: 'round_robin', selector: null });
    await addNode(t, id, up('a'));
    await addNode(t, id, up('temp'), { tags: ['temp'] });
    await setSelector(t, id, { code: failing, onError: 'reject' });
    await quarantine(id);

    // The identical code saved again.
    await setSelector(t, id, { code: failing, onError: 'reject' });
    let { body } = await t.admin('GET', `/admin/apis/${id}/selector`);
    expect(body.status).toMatchObject({ state: 'active', failures: 0 });
    expect(await t.nodeOf('/lift/x')).toBe('a');

    await quarantine(id);
    const restarted = await t.admin('POST', `/admin/apis/${id}/selector/restart`);
    expect(restarted.status).toBe(200);
    expect(restarted.body.status).toMatchObject({ state: 'active', failures: 0 });
    expect(restarted.body.selector.code).toBe(failing);
    expect(await t.nodeOf('/lift/x')).toBe('a');
    ({ body } = await t.admin('GET', `/admin/apis/${id}/selector`));
    expect(body.versions.length).toBe(3);

    const none = await createApi(t, {
      name: 'lift-none',
      path: '/lift-none/*',
      algorithm: 'round_robin',
      selector: null,
    });
    expect((await t.admin('POST', `/admin/apis/${none}/selector/restart`)).body.error.code).toBe('SELECTOR_NOT_FOUND');
  });
});
