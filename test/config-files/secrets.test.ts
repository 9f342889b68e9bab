import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runConfigCommand, type CommandIo } from '../../src/config-files/cli.js';
import { TestCa, type TestCertificate } from '../helpers/certs.js';
import { startTestGateway, type TestGateway } from '../helpers/isogate.js';
import { handshake } from '../helpers/tls-client.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

// Certificates (issue 15), consumers and API access settings (issue 16) in config files (issue 17):
// exported by name, secrets (private keys, credential hashes and secrets) only with --secrets /
// ?secrets=true, an entry without its secret keeps the stored one, and a round trip with secrets gives
// the same config and the same TLS and access behaviour on an empty installation.

const API_KEY = 'an-api-key-of-at-least-24-characters-0001';
const PASSWORD = 'pa55word-for-the-file-test';

let a: TestGateway;
let b: TestGateway;
let ca: TestCa;
let certs: Record<'shop' | 'api' | 'other', TestCertificate>;
let ups: TestUpstream[];
const dir = mkdtempSync(join(tmpdir(), 'isogate-config-secrets-'));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CommandIo = { out: (t) => (out += t), err: (t) => (err += t), read: (f) => readFileSync(f, 'utf8') };
  return { code: await runConfigCommand(args, {}, io), out, err };
}

const exportText = async (t: TestGateway, query = '') =>
  (
    await fetch(`${t.adminUrl}/admin/config/export?format=yaml${query}`, {
      headers: { authorization: `Bearer ${t.app.adminToken}` },
    })
  ).text();
const apply = async (t: TestGateway, text: string) => {
  const res = await fetch(`${t.adminUrl}/admin/config/apply`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.app.adminToken}`, 'content-type': 'application/yaml' },
    body: text,
  });
  return { status: res.status, body: await res.json() };
};
const tlsPort = (t: TestGateway) => t.app.gatewayTls!.port;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

beforeAll(async () => {
  ca = new TestCa();
  certs = { shop: ca.issue(['shop.test', '*.shop.test']), api: ca.issue(['api.test']), other: ca.issue(['api.test']) };
  ups = await startUpstreams(['n1']);
  a = await startTestGateway(['--gateway-tls-port', '0']);
  b = await startTestGateway(['--gateway-tls-port', '0']);
  for (const c of [certs.shop, certs.api])
    await a.admin('POST', '/admin/certificates', {
      certificate: c.certificate,
      privateKey: c.privateKey,
      isDefault: c === certs.api,
    });
  await a.admin('POST', '/admin/consumers', {
    name: 'acme',
    tags: ['gold'],
    credentials: [
      { kind: 'key', key: API_KEY },
      { kind: 'basic', username: 'acme', password: PASSWORD },
    ],
  });
  const id = (
    await a.admin('POST', '/admin/apis', {
      name: 'orders',
      path: '/orders/*',
      algorithm: 'round_robin',
      httpsRedirect: true,
      timeouts: { upgradeIdleMs: 45_000 },
      access: {
        auth: { methods: [{ kind: 'key', header: 'x-api-key' }, { kind: 'basic' }], consumers: ['acme'] },
        limits: [{ by: 'consumer', rate: 1000, per: 'minute' }],
        ip: { allow: [], deny: ['10.9.9.9/32'] },
      },
    })
  ).body.id;
  await a.admin('POST', `/admin/apis/${id}/nodes`, { name: 'n1', connector: { kind: 'simple-url', url: ups[0]!.url } });
}, 60_000);
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await Promise.all((ups ?? []).map((u) => u.close()));
  ca?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('config files with certificates, consumers and access settings', () => {
  it('exports certificates by name and consumers with their credentials, leaving every secret out', async () => {
    const text = await exportText(a);
    const file = parseYaml(text);
    expect(file.certificates.map((c: { names: string[]; isDefault: boolean }) => [c.names, c.isDefault])).toEqual([
      [['api.test'], true],
      [['shop.test', '*.shop.test'], false],
    ]);
    expect(file.certificates[0].certificate).toContain('BEGIN CERTIFICATE');
    expect(file.consumers).toEqual([
      {
        name: 'acme',
        tags: ['gold'],
        credentials: [
          { id: expect.any(String), kind: 'key', hint: API_KEY.slice(-4) },
          { id: expect.any(String), kind: 'basic', username: 'acme' },
        ],
      },
    ]);
    expect(file.apis[0]).toMatchObject({
      httpsRedirect: true,
      timeouts: { upgradeIdleMs: 45_000 },
      access: {
        auth: { consumers: ['acme'] },
        limits: [{ by: 'consumer', rate: 1000, per: 'minute' }],
        ip: { deny: ['10.9.9.9/32'] },
      },
    });
    for (const secret of ['PRIVATE KEY', 'hash:', 'scrypt$', API_KEY, PASSWORD]) expect(text).not.toContain(secret);
  });

  it('applies an export without secrets to its own installation as no change, keeping every stored secret', async () => {
    const res = await apply(a, await exportText(a));
    expect(res).toEqual({ status: 200, body: { version: null, changes: [] } });
    // A changed tag and default: updated in place, the stored key and credentials kept.
    const file = parseYaml(await exportText(a));
    file.consumers[0].tags = ['platinum'];
    file.certificates[0].isDefault = false;
    file.certificates[1].isDefault = true;
    const path = join(dir, 'changed.json');
    writeFileSync(path, JSON.stringify(file));
    const applied = await cli(['apply', path, '--data-dir', a.dataDir]);
    expect(applied.code).toBe(0);
    expect(applied.out).toContain('~ consumer acme');
    expect(applied.out).toContain('~ certificate api.test');
    await a.app.plane!.holder.refresh();
    expect((await handshake(tlsPort(a), 'shop.test')).san).toContain('shop.test');
    expect((await handshake(tlsPort(a), undefined)).san).toContain('shop.test');
  });

  it('refuses a file without secrets on an empty installation, naming what is missing, and stores nothing', async () => {
    const res = await apply(b, await exportText(a));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('SECRET_NOT_STORED');
    expect(res.body.error.message).toMatch(/certificates\.0 \(api\.test\)|credential/);
    expect((await b.admin('GET', '/admin/config/version')).body.version).toBe(0);
    expect((await b.admin('GET', '/admin/certificates')).body).toEqual([]);
  });

  it('round trip with secrets: the same config, certificates served by name, consumers authenticated', async () => {
    const viewerSecret = (await a.admin('POST', '/admin/tokens', { name: 'viewer', role: 'viewer' })).body.secret;
    const asViewer = await fetch(`${a.adminUrl}/admin/config/export?secrets=true`, {
      headers: { authorization: `Bearer ${viewerSecret}` },
    });
    expect(asViewer.status).toBe(403);
    const text = await exportText(a, '&secrets=true');
    expect(text).toContain('PRIVATE KEY');
    expect(text).toContain('scrypt$');
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain(PASSWORD);
    const res = await apply(b, text);
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(1);
    expect(await exportText(b, '&secrets=true')).toBe(text);
    expect(await exportText(b)).toBe(await exportText(a));

    await b.app.plane!.holder.refresh();
    for (const name of ['shop.test', 'x.shop.test', 'api.test']) {
      expect({ name, san: (await handshake(tlsPort(b), name)).san }).toEqual({
        name,
        san: (await handshake(tlsPort(a), name)).san,
      });
    }
    // httpsRedirect: a plain-HTTP request is sent to https. The access decision is seen through
    // explain, which runs the same access step on a sample request's credentials.
    const plain = async (t: TestGateway) => {
      const res = await fetch(`${t.gatewayUrl}/orders/x`, { redirect: 'manual' });
      await res.arrayBuffer();
      return [res.status, new URL(res.headers.get('location') ?? 'http://none/').pathname];
    };
    expect(await plain(b)).toEqual(await plain(a));
    expect((await plain(b))[0]).toBe(301);
    const explain = async (t: TestGateway, headers: Record<string, string>) => {
      const api = (await t.admin('GET', '/admin/apis')).body.find((x: { name: string }) => x.name === 'orders');
      const res = await t.admin('POST', `/admin/apis/${api.id}/selector/test`, {
        request: { method: 'GET', path: '/orders/x', headers },
      });
      return { consumer: res.body.access?.auth?.consumer?.name ?? null, code: res.body.access?.errorCode ?? null };
    };
    const samples: Array<Record<string, string>> = [
      { 'x-api-key': API_KEY },
      { authorization: basic('acme', PASSWORD) },
      { authorization: basic('acme', 'wrong-password') },
      {},
    ];
    for (const headers of samples) {
      expect(await explain(b, headers)).toEqual(await explain(a, headers));
    }
    expect(await explain(b, { 'x-api-key': API_KEY })).toEqual({ consumer: 'acme', code: null });
    expect(await explain(b, { authorization: basic('acme', 'wrong-password') })).toMatchObject({
      consumer: null,
      code: expect.any(String),
    });
  });

  it("refuses a certificate entry whose names are not its certificate's, or a key that is not its own, naming the entry", async () => {
    const version = (await b.admin('GET', '/admin/config/version')).body.version;
    const file = parseYaml(await exportText(b, '&secrets=true'));
    file.certificates[0].names = ['wrong.test'];
    const path = join(dir, 'names.json');
    writeFileSync(path, JSON.stringify(file));
    const named = await cli(['apply', path, '--data-dir', b.dataDir]);
    expect(named.code).toBe(1);
    expect(named.err).toContain('certificates.0.names: the certificate serves api.test, not wrong.test');

    const swapped = parseYaml(await exportText(b, '&secrets=true'));
    swapped.certificates[0].certificate = certs.other.certificate;
    const api = await fetch(`${b.adminUrl}/admin/config/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${b.app.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(swapped),
    });
    expect(api.status).toBe(400);
    expect((await api.json()).error.code).toBe('KEY_MISMATCH');

    // Two entries for one host name, two defaults, a credential id twice: found before anything runs.
    const crossed = parseYaml(await exportText(b));
    crossed.certificates.push({ ...crossed.certificates[0], isDefault: true });
    crossed.consumers[0].credentials.push(crossed.consumers[0].credentials[0]);
    writeFileSync(path, JSON.stringify(crossed));
    const cross = await cli(['apply', path, '--data-dir', b.dataDir]);
    expect(cross.err).toContain('certificates.2.names: api.test is already served by certificates.0');
    expect(cross.err).toMatch(/certificates\.\d\.isDefault: certificates\.\d is the default already/);
    expect(cross.err).toContain('consumers.0.credentials.2.id: credential');
    expect((await b.admin('GET', '/admin/config/version')).body.version).toBe(version);
  });
});
