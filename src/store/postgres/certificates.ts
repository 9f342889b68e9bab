import { Certificate, CertificateRecord } from '../../model/certificate.js';
import { change, type Change } from '../changes.js';
import { assertNoCertificateConflict } from '../conflicts.js';
import { certificateFromRow, certificateValues, type CertificateRow } from '../rows.js';
import type { Mutator } from '../store.js';
import { deleted, newObject, updatedObject, type WriteOutcome } from '../write-steps.js';
import type { Tx } from './connection.js';
import { SQL } from './sql.js';

// TLS certificates on PostgreSQL: the reads, the write steps of the Store's operations and the
// primitives they (and plans) are made of, each reporting the changes it made.

/** Every stored certificate, oldest first. */
export async function listCertificates(tx: Tx): Promise<Certificate[]> {
  return (await tx.query<CertificateRow>(SQL.listCertificates)).rows.map(certificateFromRow);
}

/** The stored certificate (with its private key), or null; `forUpdate` locks its row. */
export async function readCertificate(tx: Tx, id: string, forUpdate = false): Promise<Certificate | null> {
  const row = (await tx.query<CertificateRow>(forUpdate ? SQL.getCertificateForUpdate : SQL.getCertificate, [id]))
    .rows[0];
  return row ? certificateFromRow(row) : null;
}

/** Stores a checked certificate (see saveCertificate). */
export async function createCertificate(tx: Tx, record: CertificateRecord): Promise<WriteOutcome<Certificate>> {
  const cert = newObject(Certificate, CertificateRecord.parse(record));
  return { value: cert, changes: await saveCertificate(tx, cert, null) };
}

/** Read-modify-write of a certificate (same checks as create); null when there is none. */
export async function updateCertificate(
  tx: Tx,
  id: string,
  mutate: Mutator<Certificate>,
): Promise<WriteOutcome<Certificate | null>> {
  const current = await readCertificate(tx, id, true);
  if (!current) return { value: null, changes: [] };
  const next = updatedObject(Certificate, current, mutate);
  return { value: next, changes: await saveCertificate(tx, next, current) };
}

/** Deletes a certificate; false when there was none. */
export async function deleteCertificate(tx: Tx, id: string): Promise<WriteOutcome<boolean>> {
  const current = await readCertificate(tx, id, true);
  return deleted(current ? [await removeCertificate(tx, current)] : []);
}

/**
 * Inserts or replaces a certificate after the name check (a host name is served by one certificate;
 * writers queue on the meta row, so every certificate committed before is in the list); a default one
 * takes over from the previous default, whose change follows the certificate's own.
 */
export async function saveCertificate(tx: Tx, next: Certificate, current: Certificate | null): Promise<Change[]> {
  const all = await listCertificates(tx);
  assertNoCertificateConflict(next, all);
  if (current) await tx.query(SQL.deleteCertificate, [next.id]);
  await tx.query(SQL.insertCertificate, certificateValues(next));
  const changes = [change('certificate', current, next)];
  if (!next.isDefault) return changes;
  for (const other of all) {
    if (other.id === next.id || !other.isDefault) continue;
    await tx.query(SQL.clearCertificateDefault, [next.updatedAt, other.id]);
    changes.push(change('certificate', other, { ...other, isDefault: false, updatedAt: next.updatedAt }));
  }
  return changes;
}

/** Deletes a certificate. */
export async function removeCertificate(tx: Tx, cert: Certificate): Promise<Change> {
  await tx.query(SQL.deleteCertificate, [cert.id]);
  return change('certificate', cert, null);
}
