import { describe, expect, it } from 'vitest';
import { OptionsError, parseOptions } from '../../src/config/options.js';

describe('parseOptions: empty values', () => {
  it.each([['--gateway-port='], ['--workers='], ['--drain-ms='], ['--store='], ['--trust-proxy='], ['--log-level=']])(
    '%s is refused naming the flag (not read as 0 or the default)',
    (arg) => {
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
    },
  );

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
