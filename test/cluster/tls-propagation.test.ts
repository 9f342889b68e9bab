import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsogateProcesses, withSchema, type IsogateProcess } from '../helpers/cluster.js';
import { TestCa, type TestCertificate } from '../helpers/certs.js';
import { adminClient, freePort, until } from '../helpers/processes.js';
import { handshake } from '../helpers/tls-client.js';
import { dropSchema, PG_URL, requirePostgres, uniqueSchema } from '../store/pg-fixtures.js';

// A certificate uploaded once reaches the next handshake in every gateway worker of a process and,
// on PostgreSQL, in another gateway process, through the normal config propagation: no restart.
const TOKEN = 'tls-propagation-token-0123456';
const schema = uniqueSchema();
const procs = new IsogateProcesses(TOKEN);
let ca: TestCa;
let first: TestCertificate;
let second: TestCertificate;

beforeAll(async () => {
  ca = new TestCa();
  first = ca.issue(['shop.test']);
  second = ca.issue(['shop.test']);
});

afterAll(async () => {
  await procs.stopAll();
  await dropSchema(schema).catch(() => undefined);
  ca?.dispose();
});

/** `n` handshakes, each a new connection (so they spread over the workers that share the port). */
async function fingerprints(port: number, n: number): Promise<Set<string | null>> {
  const seen = new Set<string | null>();
  for (let i = 0; i < n; i++) seen.add((await handshake(port, 'shop.test')).fingerprint);
  return seen;
}

const fingerprintOf = async (cert: TestCertificate): Promise<string> => new X509Certificate(cert.leaf).fingerprint256;

describe('certificate propagation', () => {
  it('a certificate uploaded or replaced through the admin serves the next handshake in every worker (--workers 2)', async () => {
    const tlsPort = await freePort();
    const proc: IsogateProcess = await procs.start('start', [
      '--workers',
      '2',
      '--gateway-tls-port',
      String(tlsPort),
      '--no-demo',
    ]);
    const call = adminClient(() => proc.admin, TOKEN);
    expect((await handshake(tlsPort, 'shop.test')).ok).toBe(false);
    const created = await call('POST', '/admin/certificates', {
      certificate: first.certificate,
      privateKey: first.privateKey,
    });
    // The admin answers once every local worker serves the write.
    expect(await fingerprints(tlsPort, 12)).toEqual(new Set([await fingerprintOf(first)]));
    await call('PUT', `/admin/certificates/${created.id}`, {
      certificate: second.certificate,
      privateKey: second.privateKey,
    });
    expect(await fingerprints(tlsPort, 12)).toEqual(new Set([await fingerprintOf(second)]));
    // Resumption works across the workers: they share one set of ticket keys.
    const h = await handshake(tlsPort, 'shop.test', { maxVersion: 'TLSv1.2' });
    const reused = await Promise.all(
      Array.from({ length: 6 }, () => handshake(tlsPort, 'shop.test', { maxVersion: 'TLSv1.2', session: h.session! })),
    );
    expect(reused.every((r) => r.reused)).toBe(true);
    expect(await proc.stop()).toBe(0);
  }, 120_000);

  it('on PostgreSQL, a certificate uploaded through the admin process serves the next handshakes of another gateway process', async () => {
    await requirePostgres();
    const url = withSchema(PG_URL, schema);
    const admin = await procs.start('admin', ['--store', url]);
    const tlsPort = await freePort();
    // The version poll is a minute: only LISTEN/NOTIFY can bring the certificate this soon.
    await procs.start('gateway', [
      '--store',
      url,
      '--workers',
      '0',
      '--poll-ms',
      '60000',
      '--gateway-tls-port',
      String(tlsPort),
    ]);
    const call = adminClient(() => admin.admin, TOKEN);
    expect((await handshake(tlsPort, 'shop.test')).ok).toBe(false);
    const created = await call('POST', '/admin/certificates', {
      certificate: first.certificate,
      privateKey: first.privateKey,
    });
    expect(created.names).toEqual(['shop.test']);
    const want = await fingerprintOf(first);
    await until(
      () => handshake(tlsPort, 'shop.test').then((r) => r.fingerprint),
      (f) => f === want,
      100,
      20,
    );
    await call('DELETE', `/admin/certificates/${created.id}`);
    await until(
      () => handshake(tlsPort, 'shop.test').then((r) => r.ok),
      (ok) => ok === false,
      100,
      20,
    );
  }, 120_000);
});
