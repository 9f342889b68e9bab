import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ApiCreate } from '../model/api.js';
import { packageRoot } from '../paths.js';
import type { Store } from '../store/store.js';
import { startEchoUpstream, type EchoUpstream } from './echo.js';

/** The demo's nodes: two servers (IP1, IP2), one canary; each gets its own echo upstream. */
export const DEMO_NODES = [
  { api: 'demo', name: 'ip1-a', server: 'IP1', tags: [] as string[] },
  { api: 'demo', name: 'ip2-a', server: 'IP2', tags: [] },
  { api: 'demo', name: 'ip1-canary', server: 'IP1', tags: ['temp'] },
  { api: 'demo-sticky', name: 'ip1-b', server: 'IP1', tags: [] },
  { api: 'demo-sticky', name: 'ip2-b', server: 'IP2', tags: [] },
] as const;

/** First port of the demo's echo upstreams (one per demo node, in order). */
export const DEMO_PORT_BASE = 19081;

/**
 * Seeds the demo config into an empty store: variables IP1_enable/IP2_enable, the API `demo`
 * (`/demo/*`, round robin, canary selector) and `demo-sticky` (`/sticky/*`, ip_hash).
 */
export async function seedDemo(store: Store, portBase: number): Promise<void> {
  await store.putVariable('IP1_enable', 'true');
  await store.putVariable('IP2_enable', 'true');
  const code = readFileSync(join(packageRoot(), 'scripts-examples', 'canary-by-query.js'), 'utf8');
  const demo = await store.createApi(
    ApiCreate.parse({
      name: 'demo',
      host: null,
      methods: ['GET', 'HEAD', 'POST'],
      path: '/demo/*',
      stripPrefix: false,
      algorithm: 'round_robin',
      timeouts: { connectMs: 3000, headersMs: 30000, bodyMs: 60000 },
      retries: 1,
      maxBodyBytes: 1024 * 1024,
      selector: null,
    }),
  );
  const sticky = await store.createApi(
    ApiCreate.parse({
      name: 'demo-sticky',
      host: null,
      methods: ['GET', 'HEAD'],
      path: '/sticky/*',
      stripPrefix: false,
      algorithm: 'ip_hash',
      timeouts: { connectMs: 3000, headersMs: 30000, bodyMs: 60000 },
      retries: 1,
      maxBodyBytes: 1024 * 1024,
      selector: null,
    }),
  );
  const apiIds: Record<string, string> = { demo: demo.id, 'demo-sticky': sticky.id };
  for (const [i, n] of DEMO_NODES.entries()) {
    await store.createNode(apiIds[n.api]!, {
      name: n.name,
      connector: { kind: 'simple-url', url: `http://127.0.0.1:${portBase + i}` },
      enabled: true,
      weight: 1,
      tags: [...n.tags],
      rules: [{ variable: `${n.server}_enable`, op: 'eq', value: 'true' }],
    });
  }
  await store.setSelector(demo.id, { code, onError: 'use-all', timeoutMs: 20, memoryMb: 32, memoize: 'auto' });
}

/** The names of the demo's APIs: the ones `--reset-demo` deletes and seeds again. */
export const DEMO_APIS = ['demo', 'demo-sticky'] as const;

/**
 * Puts the demo back as first seeded: deletes the APIs named `demo` and `demo-sticky` (with their
 * nodes) and seeds them and both variables again. Other APIs and variables are left alone. Each step
 * is its own write, as an operator's would be: a route another API took meanwhile fails the seed
 * with ROUTE_CONFLICT after the old demo APIs are gone.
 */
export async function resetDemo(store: Store, portBase: number): Promise<void> {
  for (const api of await store.listApis()) {
    if ((DEMO_APIS as readonly string[]).includes(api.name)) await store.deleteApi(api.id);
  }
  await seedDemo(store, portBase);
}

/** Starts the demo's echo upstreams; a port already in use is logged and skipped. */
export async function startDemoUpstreams(portBase: number, log: Logger): Promise<EchoUpstream[]> {
  const started: EchoUpstream[] = [];
  for (const [i, n] of DEMO_NODES.entries()) {
    try {
      started.push(await startEchoUpstream(n.name, portBase + i));
    } catch (err) {
      log.warn({ port: portBase + i, err: (err as Error).message }, `demo upstream ${n.name} not started`);
    }
  }
  return started;
}
