import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { toAdminError } from '../../src/admin/errors.js';
import { createAdminServer } from '../../src/admin/server.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/store.js';
import { apiInput } from '../store/fixtures.js';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema } from '../store/pg-fixtures.js';
import { startTcpProxy, urlTarget, viaProxy, type TcpProxy } from '../store/tcp-proxy.js';
import { RuntimeDouble } from './runtime-double.js';

const TOKEN = 'test-admin-token-0123456789';
/** Nothing listens on port 1 of the loopback: connections are refused at once. */
const CLOSED_URL = 'postgres://postgres@127.0.0.1:1/test';

/** The real admin server over `store` on an ephemeral port, logging into `lines`. */
async function startAdminOver(store: PostgresStore, lines: string[]) {
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const app: FastifyInstance = await createAdminServer({
    store,
    token: TOKEN,
    runtime: new RuntimeDouble(store),
    logger: pino({ level: 'error' }, logStream),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : JSON.parse(text) };
  };
  return { app, call };
}

const UNAVAILABLE = {
  error: {
    code: 'STORE_UNAVAILABLE',
    message: 'the config store cannot be reached; nothing was written; try again shortly',
  },
};

describe('admin API while the store is unreachable', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('maps StoreUnavailableError to 503 STORE_UNAVAILABLE without leaking the cause', () => {
    const err = toAdminError(
      new StoreUnavailableError('PostgreSQL store unreachable: connect ECONNREFUSED 10.0.0.5:5432'),
    );
    expect([err.code, err.statusCode]).toEqual(['STORE_UNAVAILABLE', 503]);
    expect(err.toBody()).toEqual(UNAVAILABLE);
  });

  it('answers 503 STORE_UNAVAILABLE for reads and writes when PostgreSQL refuses connections, and logs the cause', async () => {
    const store = await openPostgresStore(CLOSED_URL, { migrate: false });
    cleanups.push(() => store.close());
    const lines: string[] = [];
    const { app, call } = await startAdminOver(store, lines);
    cleanups.push(() => app.close());

    for (const [method, path, body] of [
      ['GET', '/admin/apis', undefined],
      ['GET', '/admin/variables', undefined],
      ['POST', '/admin/apis', { name: 'orders', path: '/orders/*', algorithm: 'round_robin' }],
      ['PUT', '/admin/variables/IP1_enable', { value: 'true' }],
    ] as const) {
      const reply = await call(method, path, body);
      expect({ method, path, status: reply.status, body: reply.body }).toEqual({
        method,
        path,
        status: 503,
        body: UNAVAILABLE,
      });
    }
    expect(lines.join('')).toMatch(/ECONNREFUSED/);
  });

  describe('on a real PostgreSQL that goes away and comes back', () => {
    beforeAll(requirePostgres);

    it('writes, answers 503 while PostgreSQL is gone, and writes again once it is back', async () => {
      const schema = uniqueSchema();
      cleanups.push(() => dropSchema(schema));
      const proxy: TcpProxy = await startTcpProxy(urlTarget(PG_URL));
      cleanups.push(() => proxy.close());
      const store = await openPostgresStore(viaProxy(PG_URL, proxy), { schema, connectTimeoutMs: 2_000 });
      cleanups.push(() => store.close());
      const { app, call } = await startAdminOver(store, []);
      cleanups.push(() => app.close());

      expect((await call('POST', '/admin/apis', apiInput())).status).toBe(201);
      await proxy.stop();
      expect(await call('PUT', '/admin/variables/x', { value: '1' })).toEqual({ status: 503, body: UNAVAILABLE });
      expect(await call('GET', '/admin/apis')).toEqual({ status: 503, body: UNAVAILABLE });

      await proxy.start();
      expect((await call('PUT', '/admin/variables/x', { value: '1' })).status).toBe(201);
      const apis = await call('GET', '/admin/apis');
      expect(apis.status).toBe(200);
      expect(apis.body).toHaveLength(1);
      expect(await store.version()).toBe(2);
    });
  });
});
