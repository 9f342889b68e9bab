import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiCreate } from '../../src/model/api.js';
import type { CertificateRecord } from '../../src/model/certificate.js';
import { NodeCreate } from '../../src/model/node.js';

/** A fresh temp directory and a function that removes it. */
export function tempDir(prefix = 'isogate-store-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An `ApiCreate` with defaults filled, as the admin API passes it to the store. */
export function apiInput(fields: Record<string, unknown> = {}): ApiCreate {
  return ApiCreate.parse({ name: 'orders', path: '/orders/*', algorithm: 'round_robin', ...fields });
}

/** A `NodeCreate` with defaults filled. */
export function nodeInput(fields: Record<string, unknown> = {}): NodeCreate {
  return NodeCreate.parse({ name: 'n1', connector: { kind: 'simple-url', url: 'http://127.0.0.1:9001' }, ...fields });
}

/** A certificate record as the admin API stores it after its checks (the store does not parse PEM). */
export function certRecord(names: string[], fields: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    names,
    certificate: `-----BEGIN CERTIFICATE-----\n${names.join(',')}\n-----END CERTIFICATE-----\n`,
    privateKey: '-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n',
    isDefault: false,
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2027-01-01T00:00:00.000Z',
    fingerprint: 'AB:CD',
    subject: `CN=${names[0]}`,
    issuer: 'CN=test CA',
    ...fields,
  };
}
