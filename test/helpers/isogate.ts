import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { startIsogate, type Isogate } from '../../src/app.js';
import { parseOptions } from '../../src/config/options.js';

/** A started isogate on free ports with a temp data dir, plus small clients for its ports. */
export interface TestGateway {
  app: Isogate;
  dataDir: string;
  gatewayUrl: string;
  adminUrl: string;
  statusUrl: string;
  /** Calls the admin API with the token; returns status and parsed JSON. */
  admin<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Sends a request through the gateway. */
  get(path: string, init?: RequestInit): Promise<Response>;
  /** Which node answered (the test upstreams' `x-node` header) or the gateway error code. */
  nodeOf(path: string, init?: RequestInit): Promise<string>;
  stop(): Promise<void>;
}

/** Starts isogate in this process on 127.0.0.1 with port 0 everywhere, no demo unless asked (silent unless given a logger). */
export async function startTestGateway(
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
  logger?: Logger,
): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'isogate-test-'));
  const options = parseOptions(
    [
      '--data-dir',
      dataDir,
      '--gateway-host',
      '127.0.0.1',
      '--gateway-port',
      '0',
      '--admin-port',
      '0',
      '--status-host',
      '127.0.0.1',
      '--status-port',
      '0',
      '--no-demo',
      '--poll-ms',
      '200',
      '--drain-ms',
      '2000',
      '--workers',
      '0',
      ...extraArgs,
    ],
    {},
  );
  const app = await startIsogate(options, logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }), {
    ISOGATE_ADMIN_TOKEN: 'test-token-0123456789abcdef',
    ...env,
  });
  const gatewayUrl = `http://127.0.0.1:${app.gateway!.port}`;
  const adminUrl = `http://127.0.0.1:${app.admin!.port}`;
  const t: TestGateway = {
    app,
    dataDir,
    gatewayUrl,
    adminUrl,
    statusUrl: `http://127.0.0.1:${app.status!.port}`,
    async admin(method, path, body) {
      const res = await fetch(adminUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${app.adminToken!}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    get: (path, init) => fetch(gatewayUrl + path, init),
    async nodeOf(path, init) {
      const res = await fetch(gatewayUrl + path, init);
      const node = res.headers.get('x-node');
      const error = res.headers.get('x-isogate-error');
      await res.arrayBuffer();
      return node ?? `error:${error ?? res.status}`;
    },
    async stop() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

/** Sends `n` requests one after another and counts answers per node (or error code). */
export async function spread(
  t: TestGateway,
  path: string,
  n: number,
  init?: RequestInit,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = await t.nodeOf(path, init);
    counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}
