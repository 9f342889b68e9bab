import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SelectorSandbox } from '../../src/selector/sandbox.js';
import type { SelectorNode, SelectorRequest } from '../../src/selector/types.js';
import { config, example, node, request, startSandbox } from './fixtures.js';

let sandbox: SelectorSandbox;
beforeAll(async () => {
  ({ sandbox } = await startSandbox());
});
afterAll(async () => {
  await sandbox?.close();
});

interface Row {
  name: string;
  nodes: SelectorNode[];
  request: Partial<SelectorRequest>;
  env?: Record<string, string>;
  /** Ids of the nodes the example returns, in order. */
  picks: string[];
}

const canary = [node('s1'), node('t1', ['temp']), node('s2'), node('t2', ['temp'])];
const byType = [node('pc1', ['pc']), node('m1', ['mobile']), node('pc2', ['pc']), node('any')];
const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148';
const android = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36';
const desktop = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36';

// Buckets of by-user-percent.js's hash: u10 → 9, u5 → 11, alice → 79, user-42 → 99.
const table: Record<string, Row[]> = {
  'canary-by-query.js': [
    {
      name: 'select_code=temp_node → only temp nodes',
      nodes: canary,
      request: { query: { select_code: 'temp_node' } },
      picks: ['t1', 't2'],
    },
    { name: 'no parameter → never temp nodes', nodes: canary, request: {}, picks: ['s1', 's2'] },
    {
      name: 'another value → never temp nodes',
      nodes: canary,
      request: { query: { select_code: 'x' } },
      picks: ['s1', 's2'],
    },
    {
      name: 'no temp node left → empty (503)',
      nodes: [node('s1')],
      request: { query: { select_code: 'temp_node' } },
      picks: [],
    },
  ],
  'canary-by-header.js': [
    {
      name: 'x-canary: 1 → only temp nodes',
      nodes: canary,
      request: { headers: { 'x-canary': '1' } },
      picks: ['t1', 't2'],
    },
    {
      name: 'repeated header, first is 1',
      nodes: canary,
      request: { headers: { 'x-canary': ['1', '0'] } },
      picks: ['t1', 't2'],
    },
    {
      name: 'x-canary: 0 → never temp nodes',
      nodes: canary,
      request: { headers: { 'x-canary': '0' } },
      picks: ['s1', 's2'],
    },
    { name: 'no header → never temp nodes', nodes: canary, request: {}, picks: ['s1', 's2'] },
  ],
  'by-client-type.js': [
    { name: 'iPhone → mobile nodes', nodes: byType, request: { headers: { 'user-agent': iphone } }, picks: ['m1'] },
    {
      name: 'Android phone → mobile nodes',
      nodes: byType,
      request: { headers: { 'user-agent': android } },
      picks: ['m1'],
    },
    {
      name: 'desktop browser → pc nodes',
      nodes: byType,
      request: { headers: { 'user-agent': desktop } },
      picks: ['pc1', 'pc2'],
    },
    { name: 'no User-Agent → pc nodes', nodes: byType, request: {}, picks: ['pc1', 'pc2'] },
    {
      name: 'no mobile node available → all nodes',
      nodes: [node('pc1', ['pc']), node('any')],
      request: { headers: { 'user-agent': iphone } },
      picks: ['pc1', 'any'],
    },
  ],
  'by-user-percent.js': [
    { name: 'bucket 9 < default 10 → temp', nodes: canary, request: { query: { uid: 'u10' } }, picks: ['t1', 't2'] },
    { name: 'bucket 11 ≥ default 10 → stable', nodes: canary, request: { query: { uid: 'u5' } }, picks: ['s1', 's2'] },
    {
      name: 'bucket 11 < 20 → temp',
      nodes: canary,
      request: { query: { uid: 'u5' } },
      env: { CANARY_PERCENT: '20' },
      picks: ['t1', 't2'],
    },
    {
      name: 'header x-user-id when no query',
      nodes: canary,
      request: { headers: { 'x-user-id': 'u10' } },
      picks: ['t1', 't2'],
    },
    {
      name: 'query uid wins over the header',
      nodes: canary,
      request: { query: { uid: 'alice' }, headers: { 'x-user-id': 'u10' } },
      picks: ['s1', 's2'],
    },
    {
      name: '0 percent → nobody on the canary',
      nodes: canary,
      request: { query: { uid: 'u10' } },
      env: { CANARY_PERCENT: '0' },
      picks: ['s1', 's2'],
    },
    {
      name: '100 percent → everybody',
      nodes: canary,
      request: { query: { uid: 'user-42' } },
      env: { CANARY_PERCENT: '100' },
      picks: ['t1', 't2'],
    },
    {
      name: 'not a number → default 10',
      nodes: canary,
      request: { query: { uid: 'u10' } },
      env: { CANARY_PERCENT: 'lots' },
      picks: ['t1', 't2'],
    },
    { name: 'no user id → stable', nodes: canary, request: {}, env: { CANARY_PERCENT: '100' }, picks: ['s1', 's2'] },
  ],
};

describe.each(Object.keys(table))('scripts-examples/%s', (file) => {
  it('compiles in the sandbox as the editor saves it', async () => {
    const result = await sandbox.trial(config(example(file)), request(), {}, canary);
    expect(result.error).toBeUndefined();
    expect(result.ok).toBe(true);
  });

  it.each(table[file]!)('$name', async (row) => {
    const env = row.env ?? {};
    const handle = await sandbox.load({ apiId: file, config: config(example(file)) }, row.nodes, env);
    try {
      const outcome = await handle.select(
        request(row.request),
        row.nodes.map((_, i) => i),
      );
      expect(outcome.ok).toBe(true);
      if (outcome.ok) expect(outcome.picked.map((i) => row.nodes[i]!.id)).toEqual(row.picks);
      // A trial of the same script on the same input agrees.
      const trial = await sandbox.trial(config(example(file)), request(row.request), env, row.nodes);
      expect(trial).toMatchObject({ ok: true, picked: row.picks });
    } finally {
      handle.release();
    }
  });
});
