import { Consumer } from '../model/consumer.js';
import { Variable } from '../model/variable.js';
import { Certificate } from '../model/certificate.js';
import { consumerNameKey } from './conflicts.js';
import { fromSqlBoolean, type SqlBoolean } from './sql-boolean.js';
import { fromStored } from './stored-data.js';

// The rows of consumers, variables and certificates and their mapping, shared by every driver (see
// rows.ts). Rows are validated on the way out too, as in api-rows.ts.

/** A `consumers` row. */
export interface ConsumerRow {
  id: string;
  name: string;
  name_key: string;
  tags: string;
  /** JSON array of stored (hashed) credentials. */
  credentials: string;
  created_at: string;
  updated_at: string;
}

/** A `variables` row. */
export interface VariableRow {
  name: string;
  value: string;
  updated_at: string;
}

/** A `certificates` row. */
export interface CertificateRow {
  id: string;
  names: string;
  certificate: string;
  private_key: string;
  is_default: SqlBoolean;
  not_before: string;
  not_after: string;
  fingerprint: string;
  subject: string;
  issuer: string;
  created_at: string;
  updated_at: string;
}

/** The `certificates` columns, in the order drivers insert them. */
export const CERTIFICATE_COLUMNS = [
  'id',
  'names',
  'certificate',
  'private_key',
  'is_default',
  'not_before',
  'not_after',
  'fingerprint',
  'subject',
  'issuer',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof CertificateRow>;

/** Maps a `consumers` row to the model. */
export function consumerFromRow(row: ConsumerRow): Consumer {
  return fromStored('consumer', row.id, () =>
    Consumer.parse({
      id: row.id,
      name: row.name,
      tags: JSON.parse(row.tags),
      credentials: JSON.parse(row.credentials),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }),
  );
}

/** Maps a validated consumer to its row. */
export function consumerToRow(consumer: Consumer): ConsumerRow {
  return {
    id: consumer.id,
    name: consumer.name,
    name_key: consumerNameKey(consumer.name),
    tags: JSON.stringify(consumer.tags),
    credentials: JSON.stringify(consumer.credentials),
    created_at: consumer.createdAt,
    updated_at: consumer.updatedAt,
  };
}

/** The columns of a `consumers` row, in order. */
export const CONSUMER_COLUMNS = [
  'id',
  'name',
  'name_key',
  'tags',
  'credentials',
  'created_at',
  'updated_at',
] as const satisfies ReadonlyArray<keyof ConsumerRow>;

/** Maps a `variables` row to the model. */
export function variableFromRow(row: VariableRow): Variable {
  return fromStored('variable', row.name, () =>
    Variable.parse({ name: row.name, value: row.value, updatedAt: row.updated_at }),
  );
}

/** Maps a `certificates` row to the model. */
export function certificateFromRow(row: CertificateRow): Certificate {
  return fromStored('certificate', row.id, () =>
    Certificate.parse({
      id: row.id,
      names: JSON.parse(row.names),
      certificate: row.certificate,
      privateKey: row.private_key,
      isDefault: fromSqlBoolean(row.is_default),
      notBefore: row.not_before,
      notAfter: row.not_after,
      fingerprint: row.fingerprint,
      subject: row.subject,
      issuer: row.issuer,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }),
  );
}

/** Maps a validated certificate to its column values, in CERTIFICATE_COLUMNS order. */
export function certificateValues(cert: Certificate): unknown[] {
  return [
    cert.id,
    JSON.stringify(cert.names),
    cert.certificate,
    cert.privateKey,
    cert.isDefault ? 1 : 0,
    cert.notBefore,
    cert.notAfter,
    cert.fingerprint,
    cert.subject,
    cert.issuer,
    cert.createdAt,
    cert.updatedAt,
  ];
}
