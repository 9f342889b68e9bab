import { afterEach, describe, expect, it } from 'vitest';
import { SelectorCompileError, type SelectorSandbox } from '../../src/selector/sandbox.js';
import type { SelectorHandle } from '../../src/selector/types.js';
import { config, node, request, startSandbox } from './fixtures.js';

// The sandbox's ceiling on live selector versions (twice the selector budget), with real host
// processes: versions kept only for requests of an older config, and idle ones, make room for new
// ones; past the ceiling with nothing to drop, a new version fails `unavailable`; a version
// superseded while idle is dropped at once.

const PICK_B = 'function select(request, env, nodes) { return ["b"]; }';
const catalog = [node('a'), node('b')];
let sandbox: SelectorSandbox | undefined;

afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

/** Loads a version of `apiId`'s selector; each `revision` is a save of its own. */
function load(s: SelectorSandbox, apiId: string, revision: string): Promise<SelectorHandle> {
  return s.load({ apiId, config: config(PICK_B), revision }, catalog, {});
}

async function picks(handle: SelectorHandle): Promise<string> {
  const outcome = await handle.select(request(), [0, 1]);
  return outcome.ok ? `picked ${outcome.picked.join(',')}` : `${outcome.error.kind}: ${outcome.error.message}`;
}

describe('the ceiling on live selector versions', () => {
  it('drops the oldest version kept only for an older config to load a new one', async () => {
    ({ sandbox } = await startSandbox({ maxHosts: 1, selectorBudget: { programs: 2, memoryMb: 1000 } }));
    // Each config version saves a's selector again while requests of the older ones are in flight
    // (their snapshots still hold their handles): a1, a2 and a3 are kept beside b.
    const b = await load(sandbox, 'b', 'r1');
    const a1 = await load(sandbox, 'a', 'r1');
    const a2 = await load(sandbox, 'a', 'r2');
    const a3 = await load(sandbox, 'a', 'r3');
    expect(sandbox.hosts().versions).toBe(4);
    // A fifth would pass the ceiling (4): a1, the oldest superseded, goes.
    const a4 = await load(sandbox, 'a', 'r4');
    expect(sandbox.hosts().versions).toBe(4);
    expect(await picks(a1)).toBe('unavailable: the selector was released');
    for (const handle of [a2, a3, a4, b]) expect(await picks(handle)).toBe('picked 1');
  });

  it('fails a new version unavailable when every live one serves', async () => {
    ({ sandbox } = await startSandbox({ maxHosts: 1, selectorBudget: { programs: 1, memoryMb: 20 } }));
    const a = await load(sandbox, 'a', 'r1');
    // 32 MB of the ceiling's 40: a second API's version does not fit, and nothing can be dropped.
    const refused = await load(sandbox, 'b', 'r1').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(SelectorCompileError);
    expect((refused as SelectorCompileError).failure).toMatchObject({
      kind: 'unavailable',
      message: expect.stringMatching(
        /as many selector versions as it may \(2 versions, 40 MB .*twice the selector budget/,
      ),
    });
    expect(await picks(a)).toBe('picked 1');
    // Once a's last config is gone its version is idle, and makes room.
    a.release();
    expect(await picks(await load(sandbox, 'b', 'r1'))).toBe('picked 1');
    expect(sandbox.hosts().versions).toBe(1);
  });

  it('drops a version superseded while idle at once, not after its idle time', async () => {
    ({ sandbox } = await startSandbox({ maxHosts: 1 }));
    // A selector removed (its last config released) and saved again, over and over.
    for (let i = 1; i <= 4; i++) (await load(sandbox, 'a', `r${i}`)).release();
    expect(sandbox.hosts().versions).toBe(1);
  });
});
