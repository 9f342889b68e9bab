import { describe, expect, it } from 'vitest';
import { parseStoreSpec, UnsupportedStoreError } from '../../src/config/store-spec.js';

describe('parseStoreSpec', () => {
  it('empty: the SQLite file in the data dir', () => {
    expect(parseStoreSpec('', 'data')).toEqual({ kind: 'sqlite', file: 'data/isogate.db' });
  });

  it('postgres:// and postgresql:// URLs', () => {
    expect(parseStoreSpec('postgres://u@h/db?schema=s', 'data')).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h/db?schema=s',
    });
    expect(parseStoreSpec('PostgreSQL://u@h/db', 'data').kind).toBe('postgres');
  });

  it('a path is a SQLite file', () => {
    expect(parseStoreSpec('/var/lib/isogate/config.db', 'data')).toEqual({
      kind: 'sqlite',
      file: '/var/lib/isogate/config.db',
    });
    expect(parseStoreSpec('conf.db', 'data')).toEqual({ kind: 'sqlite', file: 'conf.db' });
  });

  it.each(['mysql://root@localhost/isogate', 'redis://127.0.0.1:6379', 'file:///tmp/x.db', 'sqlite://x.db'])(
    '%s is an unsupported store that says what works',
    (spec) => {
      expect(() => parseStoreSpec(spec, 'data')).toThrow(UnsupportedStoreError);
      expect(() => parseStoreSpec(spec, 'data')).toThrow(
        /^unsupported store [a-z]+:\/\/ \(isogate stores its config in PostgreSQL, as postgres:\/\/user@host\/db, or in a SQLite file path\)$/,
      );
    },
  );
});
