import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveAdminToken } from '../../src/admin/token.js';
import { tempDir } from '../store/fixtures.js';

describe('resolveAdminToken', () => {
  let dir: { dir: string; remove: () => void };
  beforeEach(() => {
    dir = tempDir('isogate-token-');
  });
  afterEach(() => dir.remove());

  it('uses ISOGATE_ADMIN_TOKEN when set, without touching the data dir', () => {
    const token = 'x'.repeat(16);
    expect(resolveAdminToken(dir.dir, { ISOGATE_ADMIN_TOKEN: token })).toEqual({ token, generated: false, file: null });
    expect(() => statSync(join(dir.dir, 'admin-token'))).toThrow();
  });

  it('refuses an ISOGATE_ADMIN_TOKEN shorter than 16 characters', () => {
    expect(() => resolveAdminToken(dir.dir, { ISOGATE_ADMIN_TOKEN: 'short' })).toThrow(
      /ISOGATE_ADMIN_TOKEN must be at least 16 characters/,
    );
    expect(() => resolveAdminToken(dir.dir, { ISOGATE_ADMIN_TOKEN: '' })).toThrow(/at least 16/);
  });

  it('generates a 32-byte base64url token into a 0600 file once, then reads it back', () => {
    const dataDir = join(dir.dir, 'nested', 'data');
    const first = resolveAdminToken(dataDir, {});
    const file = join(dataDir, 'admin-token');
    expect(first).toEqual({ token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), generated: true, file });
    expect(readFileSync(file, 'utf8').trim()).toBe(first.token);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const second = resolveAdminToken(dataDir, {});
    expect(second).toEqual({ token: first.token, generated: false, file });
  });

  it('prefers the environment over an existing file', () => {
    const fromFile = resolveAdminToken(dir.dir, {}).token;
    const fromEnv = 'y'.repeat(20);
    expect(resolveAdminToken(dir.dir, { ISOGATE_ADMIN_TOKEN: fromEnv }).token).toBe(fromEnv);
    expect(resolveAdminToken(dir.dir, {}).token).toBe(fromFile);
  });

  it('refuses a token file that holds too short a token', () => {
    writeFileSync(join(dir.dir, 'admin-token'), 'tiny\n');
    expect(() => resolveAdminToken(dir.dir, {})).toThrow(/at least 16 characters; delete it/);
  });
});
