import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiCreate } from '../../src/model/api.js';
import { NodeCreate } from '../../src/model/node.js';

/** A fresh temp directory and a function that removes it. */
export function tempDir(prefix = 'isogate-store-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An `ApiCreate` with defaults filled, as the admin API passes it to the store. */
export function apiInput(fields: Record<string, unknown> = {}): ApiCreate {
  return ApiCreate.parse({ name: 'orders', path: '/orders/*', algorithm: 'round_robin', ...fields });
}

/** A `NodeCreate` with defaults filled. */
export function nodeInput(fields: Record<string, unknown> = {}): NodeCreate {
  return NodeCreate.parse({ name: 'n1', connector: { kind: 'simple-url', url: 'http://127.0.0.1:9001' }, ...fields });
}
