import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SelectorSandbox } from '../../src/selector/sandbox.js';
import type { SelectorNode, SelectorRequest } from '../../src/selector/types.js';
import { config, example, node, request, startSandbox } from '../selector/fixtures.js';

// The selector examples that use request.consumer, run in the real sandbox, memoized as the editor
// saves them (memoize: "auto").

let sandbox: SelectorSandbox;
beforeAll(async () => {
  ({ sandbox } = await startSandbox());
});
afterAll(async () => {
  await sandbox?.close();
});

const canary = [node('s1'), node('t1', ['temp']), node('s2'), node('t2', ['temp'])];
const dedicated = [node('shared1'), node('d1', ['dedicated']), node('shared2')];
const consumer = (name: string, tags: string[] = []) => ({ consumer: { name, tags } });

const table: Record<
  string,
  Array<{
    name: string;
    nodes: SelectorNode[];
    request: Partial<SelectorRequest>;
    env?: Record<string, string>;
    picks: string[];
  }>
> = {
  'canary-by-consumer-tag.js': [
    {
      name: 'tagged beta → temp nodes',
      nodes: canary,
      request: consumer('acme', ['gold', 'beta']),
      picks: ['t1', 't2'],
    },
    { name: 'other tags → stable nodes', nodes: canary, request: consumer('acme', ['gold']), picks: ['s1', 's2'] },
    { name: 'anonymous → stable nodes', nodes: canary, request: { consumer: null }, picks: ['s1', 's2'] },
  ],
  'by-consumer.js': [
    { name: 'the default customer → its nodes', nodes: dedicated, request: consumer('acme'), picks: ['d1'] },
    {
      name: 'another consumer → shared nodes',
      nodes: dedicated,
      request: consumer('globex'),
      picks: ['shared1', 'shared2'],
    },
    {
      name: 'the variable names the customer',
      nodes: dedicated,
      request: consumer('globex'),
      env: { DEDICATED_CONSUMER: 'globex' },
      picks: ['d1'],
    },
    {
      name: 'no dedicated node left → shared',
      nodes: [node('shared1')],
      request: consumer('acme'),
      picks: ['shared1'],
    },
    { name: 'anonymous → shared nodes', nodes: dedicated, request: { consumer: null }, picks: ['shared1', 'shared2'] },
  ],
};

describe.each(Object.keys(table))('scripts-examples/%s', (file) => {
  it.each(table[file]!)('$name', async (row) => {
    const env = row.env ?? {};
    const handle = await sandbox.load(
      { apiId: file, config: config(example(file), { memoize: 'auto' }) },
      row.nodes,
      env,
    );
    try {
      for (let i = 0; i < 2; i++) {
        const outcome = await handle.select(
          request(row.request),
          row.nodes.map((_, j) => j),
        );
        expect(outcome.ok).toBe(true);
        if (outcome.ok) expect(outcome.picked.map((j) => row.nodes[j]!.id)).toEqual(row.picks);
      }
    } finally {
      handle.release();
    }
  });
});
