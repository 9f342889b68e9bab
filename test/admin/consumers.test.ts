import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/access/secrets.js';
import { startAdmin, type AdminHarness } from './harness.js';

// The consumers API: secrets are hashed before they reach the store, shown once when generated, and
// never returned again or written to the log.

let h: AdminHarness;
const logged: string[] = [];
const PASSWORD = 'pa55word-that-must-never-show';
const OWN_KEY = 'own-key-that-must-never-show-0123456789';
const JWT_SECRET = 'jwt-secret-that-must-never-show-0123456789';

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      logged.push(String(chunk));
      done();
    },
  });
  h = await startAdmin({ logger: pino({ level: 'trace' }, sink) });
});
afterAll(async () => h?.close());

describe('admin consumers', () => {
  let id = '';
  let generatedKey = '';
  const answers: unknown[] = [];

  it('creates a consumer: generated secrets once, given ones never, hashes stored', async () => {
    const res = await h.call('POST', '/admin/consumers', {
      name: 'acme',
      tags: ['beta', 'beta', 'gold'],
      credentials: [
        { kind: 'key' },
        { kind: 'key', key: OWN_KEY },
        { kind: 'basic', username: 'acme', password: PASSWORD },
        { kind: 'jwt', subject: 'acme', secret: JWT_SECRET },
        { kind: 'jwt', subject: 'acme-gen', secret: 'generate' },
      ],
    });
    answers.push(res.body);
    expect(res.status).toBe(201);
    id = res.body.id;
    expect(res.body.tags).toEqual(['beta', 'gold']);
    const [gen, own, basic, jwt, jwtGen] = res.body.credentials;
    generatedKey = gen.secret;
    expect(gen).toMatchObject({
      kind: 'key',
      hint: generatedKey.slice(-4),
      secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    expect(own).toEqual({
      id: expect.any(String),
      kind: 'key',
      hint: OWN_KEY.slice(-4),
      createdAt: expect.any(String),
    });
    expect(basic).toEqual({ id: expect.any(String), kind: 'basic', username: 'acme', createdAt: expect.any(String) });
    expect(jwt).toEqual({
      id: expect.any(String),
      kind: 'jwt',
      subject: 'acme',
      hasSecret: true,
      publicKey: null,
      createdAt: expect.any(String),
    });
    expect(jwtGen.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const stored = (await h.store.getConsumer(id))!;
    const storedBasic = stored.credentials.find((c) => c.kind === 'basic')!;
    expect(storedBasic.kind === 'basic' && storedBasic.hash.startsWith('scrypt$')).toBe(true);
    expect(await verifyPassword((storedBasic as { hash: string }).hash, PASSWORD)).toBe(true);
    expect(JSON.stringify(stored)).not.toContain(PASSWORD);
    expect(JSON.stringify(stored)).not.toContain(OWN_KEY);
    expect(JSON.stringify(stored)).not.toContain(generatedKey);
  });

  it('never returns a secret after creation', async () => {
    for (const path of ['/admin/consumers', `/admin/consumers/${id}`]) {
      const res = await h.call('GET', path);
      answers.push(res.body);
      const text = JSON.stringify(res.body);
      for (const secret of [PASSWORD, OWN_KEY, generatedKey, JWT_SECRET, 'scrypt$']) expect(text).not.toContain(secret);
      expect(text).not.toContain('"secret"');
      expect(text).not.toContain('"hash"');
    }
  });

  it('adds and removes credentials; refuses a credential another consumer holds', async () => {
    const added = await h.call('POST', `/admin/consumers/${id}/credentials`, { kind: 'key' });
    expect(added.status).toBe(201);
    expect(added.body.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const other = await h.call('POST', '/admin/consumers', {
      name: 'other',
      credentials: [{ kind: 'key', key: OWN_KEY }],
    });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('CREDENTIAL_TAKEN');
    expect(JSON.stringify(other.body)).not.toContain(OWN_KEY);
    const taken = await h.call('POST', '/admin/consumers', { name: 'ACME' });
    expect(taken.body.error.code).toBe('CONSUMER_NAME_TAKEN');
    const version = await h.store.version();
    const gone = await h.call('DELETE', `/admin/consumers/${id}/credentials/${added.body.id}`);
    expect(gone.status).toBe(204);
    const missing = await h.call('DELETE', `/admin/consumers/${id}/credentials/${added.body.id}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('CREDENTIAL_NOT_FOUND');
    expect(await h.store.version()).toBe(version + 1);
  });

  it('validates input with field paths and writes nothing', async () => {
    const version = await h.store.version();
    const res = await h.call('POST', '/admin/consumers', {
      name: 'bad name!',
      credentials: [
        { kind: 'key', key: 'short' },
        { kind: 'basic', username: 'a:b', password: 'x' },
        { kind: 'jwt', subject: 's', secret: 'too-short', publicKey: 'nope' },
      ],
    });
    answers.push(res.body);
    expect(res.status).toBe(400);
    expect([...new Set(res.body.error.details.map((d: { path: string }) => d.path))].sort()).toEqual(
      [
        'credentials.0.key',
        'credentials.1.password',
        'credentials.1.username',
        'credentials.2.publicKey',
        'credentials.2.secret',
        'name',
      ].sort(),
    );
    expect(await h.store.version()).toBe(version);
  });

  it('renames, retags and deletes', async () => {
    const patched = await h.call('PATCH', `/admin/consumers/${id}`, { name: 'acme-corp', tags: ['gold'] });
    expect(patched.body).toMatchObject({ name: 'acme-corp', tags: ['gold'] });
    expect((await h.call('PATCH', `/admin/consumers/${id}`, { credentials: [] })).status).toBe(400);
    expect((await h.call('DELETE', `/admin/consumers/${id}`)).status).toBe(204);
    expect((await h.call('GET', `/admin/consumers/${id}`)).body.error.code).toBe('CONSUMER_NOT_FOUND');
  });

  it('logged no secret anywhere', () => {
    const all = logged.join('\n');
    expect(all.length).toBeGreaterThan(0);
    for (const secret of [PASSWORD, OWN_KEY, generatedKey, JWT_SECRET]) expect(all).not.toContain(secret);
    for (const answer of answers.slice(1))
      for (const secret of [PASSWORD, OWN_KEY, JWT_SECRET]) expect(JSON.stringify(answer)).not.toContain(secret);
  });
});
