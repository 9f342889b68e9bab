import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { assertSchemaName, clientConfig } from '../../src/store/postgres/connection.js';
import { HealthTracker } from '../../src/store/postgres/health.js';
import { backoffDelay } from '../../src/store/postgres/listener.js';
import { asStoreError, isConnectionError, isSchemaError } from '../../src/store/postgres/unavailable.js';

const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

describe('postgres driver parts', () => {
  it('backs off exponentially from the initial delay up to the cap, with at most 20% jitter below', () => {
    const backoff = { initialMs: 100, maxMs: 5_000 };
    const nominal = [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000];
    for (let attempt = 0; attempt < nominal.length; attempt++) {
      for (let i = 0; i < 20; i++) {
        const delay = backoffDelay(backoff, attempt);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(nominal[attempt]! * 0.8));
        expect(delay).toBeLessThanOrEqual(nominal[attempt]!);
      }
    }
    expect(backoffDelay(backoff, 10_000)).toBeLessThanOrEqual(5_000);
  });

  it('tells connection failures from bad queries', () => {
    for (const err of [
      withCode('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'),
      withCode('read ECONNRESET', 'ECONNRESET'),
      withCode('terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('connection failure', '08006'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], ''),
    ]) {
      expect({ message: err.message, unavailable: isConnectionError(err) }).toEqual({
        message: err.message,
        unavailable: true,
      });
      expect(asStoreError(err)).toBeInstanceOf(StoreUnavailableError);
    }
    for (const err of [
      withCode('duplicate key value violates unique constraint', '23505'),
      withCode('password authentication failed', '28P01'),
      new Error('disk on fire'),
      'a string',
      null,
    ]) {
      expect(isConnectionError(err)).toBe(false);
      expect(asStoreError(err)).toBe(err);
    }
    const wrapped = asStoreError(withCode('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED')) as StoreUnavailableError;
    expect(wrapped.code).toBe('STORE_UNAVAILABLE');
    expect(wrapped.message).toMatch(/unreachable: connect ECONNREFUSED 127\.0\.0\.1:1/);
    expect(wrapped.cause).toBeInstanceOf(Error);
  });

  it('takes a missing table, column or schema for a store failure naming the schema, not a connection error', () => {
    for (const err of [
      withCode('relation "meta" does not exist', '42P01'),
      withCode('column "version_token" does not exist', '42703'),
      withCode('schema "t_gone" does not exist', '3F000'),
    ]) {
      expect(isConnectionError(err)).toBe(false);
      expect(isSchemaError(err)).toBe(true);
      const mapped = asStoreError(err) as StoreUnavailableError;
      expect(mapped).toBeInstanceOf(StoreUnavailableError);
      expect(mapped.code).toBe('STORE_UNAVAILABLE');
      expect(mapped.message).toContain('schema is missing or incomplete');
      expect(mapped.message).toContain(err.message);
    }
    expect(isSchemaError(withCode('syntax error at or near "x"', '42601'))).toBe(false);
  });

  it('reports connected until a source fails, the newest failure, and recovers per source', () => {
    const health = new HealthTracker();
    const a = {};
    const b = {};
    expect(health.snapshot()).toEqual({ connected: true, lastError: null });
    health.listenerDown(a, 'first');
    health.poolFailed('second');
    expect(health.snapshot()).toEqual({ connected: false, lastError: 'second' });
    health.poolSucceeded();
    expect(health.snapshot()).toEqual({ connected: false, lastError: 'first' });
    health.listenerDown(b, 'third');
    health.listenerUp(a);
    expect(health.snapshot()).toEqual({ connected: false, lastError: 'third' });
    health.listenerRemoved(b);
    expect(health.snapshot()).toEqual({ connected: true, lastError: null });
  });

  it('puts the schema on the search_path of every connection and names the connection', () => {
    const config = clientConfig(
      { url: 'postgres://u@127.0.0.1/db', schema: 'isogate_prod', connectTimeoutMs: 1_000 },
      'store',
    );
    expect(config).toMatchObject({
      options: '-c search_path="isogate_prod"',
      application_name: 'isogate-store:isogate_prod',
    });
    expect(
      clientConfig({ url: 'postgres://u@127.0.0.1/db', schema: undefined, connectTimeoutMs: 1_000 }, 'store').options,
    ).toBeUndefined();
    expect(() =>
      clientConfig(
        { url: 'postgres://u@127.0.0.1/db?options=-c%20x%3Dy', schema: 's', connectTimeoutMs: 1_000 },
        'store',
      ),
    ).toThrow(/not both/);
    expect(() => assertSchemaName('a'.repeat(64))).toThrow(/invalid PostgreSQL schema name/);
    expect(() => assertSchemaName('Ok_1')).not.toThrow();
  });
});
