import { createPrivateKey } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCertificate, CertificateProblem } from '../../src/model/certificate-check.js';
import { TestCa, type TestCertificate } from '../helpers/certs.js';
import { startAdmin, type AdminHarness } from './harness.js';

let h: AdminHarness;
let ca: TestCa;
let other: TestCa;
const logLines: string[] = [];
const answers: string[] = [];
const c: Record<string, TestCertificate> = {};

beforeAll(async () => {
  ca = new TestCa();
  other = new TestCa();
  c.good = ca.issue(['shop.test', '*.shop.test']);
  c.second = ca.issue(['api.test']);
  c.overlap = ca.issue(['x.test', 'shop.test']);
  c.expired = ca.issue(['old.test'], -1);
  c.noNames = ca.issue([]);
  c.foreign = other.issue(['foreign.test']);
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  // debug: every line the admin server and fastify would write, request bodies' handling included.
  h = await startAdmin({ logger: pino({ level: 'debug' }, sink) });
}, 60_000);

afterAll(async () => {
  await h?.close();
  ca?.dispose();
  other?.dispose();
});

/** Calls the admin API and keeps the raw answer for the key check at the end. */
async function call(method: string, path: string, body?: unknown) {
  const res = await h.call(method, path, body);
  answers.push(JSON.stringify(res.body));
  return res;
}

const upload = (cert: TestCertificate, extra: Record<string, unknown> = {}) =>
  call('POST', '/admin/certificates', { certificate: cert.certificate, privateKey: cert.privateKey, ...extra });

describe('admin certificates', () => {
  it('stores a valid upload with its names, validity and fingerprint, never answering the key', async () => {
    const res = await upload(c.good!);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.any(String),
      names: ['shop.test', '*.shop.test'],
      isDefault: false,
      servesAsDefault: true,
      expiringSoon: false,
      expiresInDays: expect.any(Number),
      subject: 'CN=shop.test',
      issuer: 'CN=isogate test CA',
    });
    expect(res.body.expiresInDays).toBeGreaterThan(360);
    expect(res.body).not.toHaveProperty('privateKey');
    expect(h.runtime.appliedCalls).toBeGreaterThan(0);
    const list = await call('GET', '/admin/certificates');
    expect(list.body).toHaveLength(1);
    expect(list.body[0]).not.toHaveProperty('privateKey');
    expect((await call('GET', `/admin/certificates/${res.body.id}`)).body).toEqual(list.body[0]);
  });

  it.each([
    ['garbage', () => ({ certificate: 'hello', privateKey: c.good!.privateKey }), 'CERTIFICATE_INVALID'],
    [
      'a damaged block',
      () => ({ certificate: c.good!.leaf.replace(/\n[A-Za-z0-9+/]{64}\n/, '\n'), privateKey: c.good!.privateKey }),
      'CERTIFICATE_INVALID',
    ],
    [
      'a key that is not a key',
      () => ({
        certificate: c.second!.certificate,
        privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      }),
      'PRIVATE_KEY_INVALID',
    ],
    [
      'another certificate’s key',
      () => ({ certificate: c.second!.certificate, privateKey: c.good!.privateKey }),
      'KEY_MISMATCH',
    ],
    [
      'a chain in the wrong order',
      () => ({ certificate: c.second!.ca + c.second!.leaf, privateKey: c.second!.privateKey }),
      'KEY_MISMATCH',
    ],
    [
      'an issuer that did not sign it',
      () => ({ certificate: c.second!.leaf + c.foreign!.ca, privateKey: c.second!.privateKey }),
      'CHAIN_INVALID',
    ],
    [
      'an expired certificate',
      () => ({ certificate: c.expired!.certificate, privateKey: c.expired!.privateKey }),
      'CERTIFICATE_EXPIRED',
    ],
    [
      'no DNS name in its SAN',
      () => ({ certificate: c.noNames!.certificate, privateKey: c.noNames!.privateKey }),
      'CERTIFICATE_NO_NAMES',
    ],
    [
      'an encrypted key',
      () => ({ certificate: c.second!.certificate, privateKey: encrypted(c.second!.privateKey) }),
      'PRIVATE_KEY_INVALID',
    ],
  ])('refuses %s with a 400 naming the problem and stores nothing', async (_what, body, code) => {
    const before = (await call('GET', '/admin/certificates')).body.length;
    const version = await h.store.version();
    const res = await call('POST', '/admin/certificates', body());
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message.length).toBeGreaterThan(10);
    expect((await call('GET', '/admin/certificates')).body).toHaveLength(before);
    expect(await h.store.version()).toBe(version);
  });

  it('refuses an upload with a name another certificate serves (409) and stores nothing', async () => {
    const res = await upload(c.overlap!);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CERTIFICATE_NAME_TAKEN');
    expect(res.body.error.message).toContain('shop.test');
    expect((await call('GET', '/admin/certificates')).body).toHaveLength(1);
  });

  it('validates the body shape', async () => {
    const res = await call('POST', '/admin/certificates', {
      certificate: c.good!.certificate,
      privateKey: c.good!.privateKey,
      extra: 1,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('makes another certificate the default, replaces one (PUT) and deletes one', async () => {
    const second = await upload(c.second!, { isDefault: true });
    expect(second.body).toMatchObject({ isDefault: true, servesAsDefault: true });
    const list = (await call('GET', '/admin/certificates')).body as Array<{ id: string; servesAsDefault: boolean }>;
    expect(list.map((x) => x.servesAsDefault)).toEqual([false, true]);
    const first = list[0]!.id;
    const patched = await call('PATCH', `/admin/certificates/${first}`, { isDefault: true });
    expect(patched.body).toMatchObject({ isDefault: true, servesAsDefault: true });
    const renewed = ca.issue(['shop.test', '*.shop.test']);
    const put = await call('PUT', `/admin/certificates/${first}`, {
      certificate: renewed.certificate,
      privateKey: renewed.privateKey,
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ id: first, isDefault: true });
    expect(put.body.fingerprint).not.toBe(list[0]);
    const badPut = await call('PUT', `/admin/certificates/${first}`, {
      certificate: c.expired!.certificate,
      privateKey: c.expired!.privateKey,
    });
    expect(badPut.body.error.code).toBe('CERTIFICATE_EXPIRED');
    expect((await call('GET', `/admin/certificates/${first}`)).body.fingerprint).toBe(put.body.fingerprint);
    expect((await call('DELETE', `/admin/certificates/${second.body.id}`)).status).toBe(204);
    const gone = await call('DELETE', `/admin/certificates/${second.body.id}`);
    expect([gone.status, gone.body.error.code]).toEqual([404, 'CERTIFICATE_NOT_FOUND']);
    expect((await call('GET', '/admin/certificates/nope')).status).toBe(404);
  });

  it('never puts a private key in an answer or a log line', async () => {
    const stored = await h.store.listCertificates();
    const secrets = [...Object.values(c).map((x) => x.privateKey), ...stored.map((s) => s.privateKey)].map(keyBody);
    expect(answers.length).toBeGreaterThan(20);
    expect(logLines.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(answers.some((a) => a.includes(secret))).toBe(false);
      expect(logLines.some((l) => l.includes(secret))).toBe(false);
    }
  });
});

describe('checkCertificate', () => {
  it('refuses a certificate that is not valid yet', () => {
    const err = (() => {
      try {
        checkCertificate(
          { certificate: c.good!.certificate, privateKey: c.good!.privateKey },
          new Date(Date.now() - 86_400_000),
        );
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CertificateProblem);
    expect((err as CertificateProblem).code).toBe('CERTIFICATE_NOT_YET_VALID');
  });

  it('takes the names from the SAN, lower-cased, wildcards kept', () => {
    expect(checkCertificate({ certificate: c.good!.certificate, privateKey: c.good!.privateKey }).names).toEqual([
      'shop.test',
      '*.shop.test',
    ]);
  });
});

/** The base64 body of a PEM key: what would show if a key leaked, whatever its framing. */
function keyBody(pem: string): string {
  return pem
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('')
    .slice(0, 40);
}

function encrypted(pem: string): string {
  return createPrivateKey(pem)
    .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' })
    .toString();
}
