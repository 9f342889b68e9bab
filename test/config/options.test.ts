import { describe, expect, it } from 'vitest';
import { Options, OptionsError, parseOptions, usage } from '../../src/config/options.js';

describe('parseOptions: empty values', () => {
  it.each([
    ['--gateway-port='],
    ['--workers='],
    ['--drain-ms='],
    ['--store='],
    ['--trust-proxy='],
    ['--log-level='],
    ['--access-log-fields='],
  ])('%s is refused naming the flag (not read as 0 or the default)', (arg) => {
    const flag = arg.slice(0, -1);
    let err: unknown;
    try {
      parseOptions([arg], {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OptionsError);
    expect((err as OptionsError).code).toBe('EMPTY_OPTION_VALUE');
    expect((err as OptionsError).message).toBe(`${flag}: needs a value, got an empty one`);
  });

  it('an empty value as the next argument is refused too', () => {
    expect(() => parseOptions(['--gateway-port', ''], {})).toThrow(/^--gateway-port: needs a value/);
  });

  it('an empty environment variable is taken as unset (the default applies)', () => {
    const o = parseOptions([], { ISOGATE_GATEWAY_PORT: '', ISOGATE_WORKERS: '' });
    expect(o.gatewayPort).toBe(8080);
    expect(o.workers).toBeGreaterThanOrEqual(1);
  });

  it('a bad value keeps its code BAD_OPTION', () => {
    expect(() => parseOptions(['--workers', '-1'], {})).toThrow(OptionsError);
    try {
      parseOptions(['--workers', '-1'], {});
    } catch (e) {
      expect((e as OptionsError).code).toBe('BAD_OPTION');
      expect((e as OptionsError).message).toMatch(/^--workers: /);
    }
  });
});

describe('parseOptions: --access-log-fields', () => {
  it('is none by default, and takes a comma list from the flag or ISOGATE_ACCESS_LOG_FIELDS (the flag wins)', () => {
    expect(parseOptions([], {}).accessLogFields).toEqual([]);
    expect(parseOptions(['--access-log-fields', 'query, host,,user-agent,query'], {}).accessLogFields).toEqual([
      'query',
      'host',
      'user-agent',
    ]);
    expect(parseOptions([], { ISOGATE_ACCESS_LOG_FIELDS: 'referer' }).accessLogFields).toEqual(['referer']);
    expect(
      parseOptions(['--access-log-fields=host'], { ISOGATE_ACCESS_LOG_FIELDS: 'referer' }).accessLogFields,
    ).toEqual(['host']);
    expect(usage()).toContain('--access-log-fields');
  });

  it.each(['cookie', 'authorization', 'x-api-key', 'Query', 'query,headers'])(
    'refuses %s naming the flag and the fields there are',
    (value) => {
      expect(() => parseOptions(['--access-log-fields', value], {})).toThrow(
        /^--access-log-fields: unknown field "[^"]+"; the fields are query, host, user-agent, referer$/,
      );
      expect(() => parseOptions([], { ISOGATE_ACCESS_LOG_FIELDS: value })).toThrow(/^--access-log-fields: /);
    },
  );

  it('survives the round trip to a gateway worker (options as JSON, parsed again)', () => {
    const o = parseOptions(['--access-log-fields', 'query,referer'], {});
    expect(Options.parse(JSON.parse(JSON.stringify(o))).accessLogFields).toEqual(['query', 'referer']);
  });
});
