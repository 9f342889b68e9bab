import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

// `npm install` on the Node.js the README names must not warn about engines (EBADENGINE): every
// locked package accepts the oldest Node this project supports and the one running the tests.
const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => JSON.parse(readFileSync(root + path, 'utf8'));
// semver comes with fastify; resolved from the project so the test runs the installed copy.
const semver = createRequire(root + 'package.json')('semver') as {
  satisfies(version: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};

describe('package engines', () => {
  const supported: string = read('package.json').engines.node;
  const oldest = semver.minVersion(supported)!.version;
  const locked = Object.entries(
    read('package-lock.json').packages as Record<string, { version?: string; engines?: { node?: string } }>,
  ).filter(([path, p]) => path !== '' && typeof p.engines?.node === 'string');

  it('the project supports the Node.js it runs on', () => {
    expect(semver.satisfies(process.version, supported)).toBe(true);
    expect(locked.length).toBeGreaterThan(50);
  });

  it('every locked package accepts the oldest supported Node.js and this one', () => {
    const refusing = locked
      .filter(
        ([, p]) => !semver.satisfies(oldest, p.engines!.node!) || !semver.satisfies(process.version, p.engines!.node!),
      )
      .map(([path, p]) => `${path.replace(/^node_modules\//, '')}@${p.version} wants node ${p.engines!.node}`);
    expect(refusing).toEqual([]);
  });

  it("fastify's inject still sends cookies with the cookie version the override picks", async () => {
    const app = Fastify();
    app.get('/', async (request) => ({ cookie: request.headers.cookie ?? null }));
    const res = await app.inject({ method: 'GET', url: '/', cookies: { a: '1', b: 'x y' } });
    expect(res.json()).toEqual({ cookie: 'a=1; b=x%20y' });
    await app.close();
  });
});
