import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { createAdminServer } from '../../src/admin/server.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../store/fixtures.js';
import { RuntimeDouble } from './runtime-double.js';

/** The admin token the harness server expects. */
export const TOKEN = 'test-admin-token-0123456789';

/** A response with its JSON body parsed (null when empty). */
export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** Options of one request: another token (null: none), raw body text, extra headers. */
export interface CallOptions {
  token?: string | null;
  raw?: string;
  headers?: Record<string, string>;
}

/** A running admin server on 127.0.0.1 with a real SQLite file and the runtime double. */
export interface AdminHarness {
  store: Store;
  runtime: RuntimeDouble;
  app: FastifyInstance;
  base: string;
  /** The SQLite file, for tests that reach under the store. */
  file: string;
  call<T = any>(method: string, path: string, body?: unknown, options?: CallOptions): Promise<Reply<T>>;
  close(): Promise<void>;
}

/**
 * Starts the real admin server on an ephemeral port (silent unless given a logger); the dirs override
 * the console's and templates' folders; `store` replaces the SQLite file (and is closed with the harness).
 */
export async function startAdmin(
  options: { logger?: Logger; consoleDir?: string; templatesDir?: string; store?: Store } = {},
): Promise<AdminHarness> {
  const dir = tempDir('isogate-admin-');
  const file = join(dir.dir, 'isogate.db');
  const store = options.store ?? (await openSqliteStore(file));
  const runtime = new RuntimeDouble(store);
  const app = await createAdminServer({
    store,
    token: TOKEN,
    runtime,
    logger: options.logger ?? pino({ level: 'silent' }),
    ...(options.consoleDir === undefined ? {} : { consoleDir: options.consoleDir }),
    ...(options.templatesDir === undefined ? {} : { templatesDir: options.templatesDir }),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  async function call<T>(method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? TOKEN : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined = options.raw;
    if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(base + path, { method, headers, body: payload });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : JSON.parse(text), headers: res.headers };
  }

  return {
    store,
    runtime,
    app,
    base,
    file,
    call,
    async close() {
      await app.close();
      await store.close();
      dir.remove();
    },
  };
}
