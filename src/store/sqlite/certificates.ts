import { Certificate, CertificateRecord } from '../../model/certificate.js';
import { change, type Change } from '../changes.js';
import { assertNoCertificateConflict } from '../conflicts.js';
import { certificateFromRow, certificateValues, type CertificateRow } from '../rows.js';
import type { Mutator } from '../store.js';
import { deleted, newObject, updatedObject, type WriteOutcome } from '../write-steps.js';
import type { Statements } from './statements.js';

// TLS certificates on SQLite: the reads, the write steps of the Store's operations and the primitives
// they (and plans) are made of, each reporting the changes it made.

/** Every stored certificate, oldest first. */
export function listCertificates(stmt: Statements): Certificate[] {
  return (stmt.listCertificates.all() as CertificateRow[]).map(certificateFromRow);
}

/** The stored certificate (with its private key), or null. */
export function readCertificate(stmt: Statements, id: string): Certificate | null {
  const row = stmt.getCertificate.get(id) as CertificateRow | undefined;
  return row ? certificateFromRow(row) : null;
}

/** Stores a checked certificate (see saveCertificate). */
export function createCertificate(stmt: Statements, record: CertificateRecord): WriteOutcome<Certificate> {
  const cert = newObject(Certificate, CertificateRecord.parse(record));
  return { value: cert, changes: saveCertificate(stmt, cert, null) };
}

/** Read-modify-write of a certificate (same checks as create); null when there is none. */
export function updateCertificate(
  stmt: Statements,
  id: string,
  mutate: Mutator<Certificate>,
): WriteOutcome<Certificate | null> {
  const current = readCertificate(stmt, id);
  if (!current) return { value: null, changes: [] };
  const next = updatedObject(Certificate, current, mutate);
  return { value: next, changes: saveCertificate(stmt, next, current) };
}

/** Deletes a certificate; false when there was none. */
export function deleteCertificate(stmt: Statements, id: string): WriteOutcome<boolean> {
  const current = readCertificate(stmt, id);
  return deleted(current ? [removeCertificate(stmt, current)] : []);
}

/**
 * Inserts or replaces a certificate after the name check (a host name is served by one certificate);
 * a default one takes over from the previous default, whose change follows the certificate's own.
 */
export function saveCertificate(stmt: Statements, next: Certificate, current: Certificate | null): Change[] {
  const all = listCertificates(stmt);
  assertNoCertificateConflict(next, all);
  if (current) stmt.deleteCertificate.run(next.id);
  stmt.insertCertificate.run(...certificateValues(next));
  const changes = [change('certificate', current, next)];
  if (!next.isDefault) return changes;
  for (const other of all) {
    if (other.id === next.id || !other.isDefault) continue;
    stmt.clearCertificateDefault.run(next.updatedAt, other.id);
    changes.push(change('certificate', other, { ...other, isDefault: false, updatedAt: next.updatedAt }));
  }
  return changes;
}

/** Deletes a certificate. */
export function removeCertificate(stmt: Statements, cert: Certificate): Change {
  stmt.deleteCertificate.run(cert.id);
  return change('certificate', cert, null);
}
