import type { Api } from '../model/api.js';
import type { Certificate } from '../model/certificate.js';
import { credentialLookup, type Consumer } from '../model/consumer.js';
import { CertificateConflictError, StoreConflictError } from './errors.js';

type RouteFields = Pick<Api, 'id' | 'name' | 'host' | 'methods' | 'path'>;

/** The key API names are unique by (case-insensitive). */
export function apiNameKey(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

/** Whether two APIs would answer the same request: same host (or both any), same path, a shared method. */
export function routesCollide(a: RouteFields, b: RouteFields): boolean {
  return a.host === b.host && a.path === b.path && a.methods.some((m) => b.methods.includes(m));
}

/**
 * Throws the StoreConflictError `api` would cause among `others` (the stored APIs with the same name
 * key or path; `api` itself may be among them and is skipped).
 */
export function assertNoApiConflict(api: RouteFields, others: readonly RouteFields[]): void {
  const key = apiNameKey(api.name);
  for (const other of others) {
    if (other.id === api.id) continue;
    if (apiNameKey(other.name) === key) {
      throw new StoreConflictError('API_NAME_TAKEN', `an API named "${other.name}" already exists`, other.id);
    }
  }
  for (const other of others) {
    if (other.id === api.id) continue;
    if (routesCollide(api, other)) {
      const shared = api.methods.filter((m) => other.methods.includes(m)).join(',');
      const where = `${other.host ?? '(any host)'}${other.path}`;
      throw new StoreConflictError(
        'ROUTE_CONFLICT',
        `route ${shared} ${where} is already served by API "${other.name}"`,
        other.id,
      );
    }
  }
}

/**
 * Throws the CertificateConflictError `cert` would cause among `others` (every stored certificate;
 * `cert` itself may be among them): one name is served by one certificate, so SNI never has to choose.
 */
export function assertNoCertificateConflict(
  cert: Pick<Certificate, 'id' | 'names'>,
  others: ReadonlyArray<Pick<Certificate, 'id' | 'names'>>,
): void {
  for (const other of others) {
    if (other.id === cert.id) continue;
    const shared = cert.names.find((n) => other.names.includes(n));
    if (shared !== undefined) throw new CertificateConflictError(shared, other.id);
  }
}

/** The key consumer names are unique by (case-insensitive). */
export function consumerNameKey(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

/**
 * Throws the StoreConflictError `consumer` would cause among `others` (every stored consumer;
 * `consumer` itself may be among them): a name taken, or a credential another consumer holds (the
 * same API key, Basic username or JWT subject would make the gateway's lookup ambiguous).
 */
export function assertNoConsumerConflict(consumer: Consumer, others: readonly Consumer[]): void {
  const key = consumerNameKey(consumer.name);
  const mine = new Map<string, string>();
  for (const c of consumer.credentials) {
    const lookup = credentialLookup(c);
    if (mine.has(lookup))
      throw new StoreConflictError(
        'CREDENTIAL_TAKEN',
        `the consumer lists the same ${c.kind} credential twice`,
        consumer.id,
      );
    mine.set(lookup, c.kind);
  }
  for (const other of others) {
    if (other.id === consumer.id) continue;
    if (consumerNameKey(other.name) === key)
      throw new StoreConflictError('CONSUMER_NAME_TAKEN', `a consumer named "${other.name}" already exists`, other.id);
    for (const c of other.credentials) {
      const kind = mine.get(credentialLookup(c));
      if (kind !== undefined)
        throw new StoreConflictError(
          'CREDENTIAL_TAKEN',
          `consumer "${other.name}" already holds this ${kind} credential`,
          other.id,
        );
    }
  }
}
