import { StoreUnavailableError } from '../errors.js';

// Socket-level failures: the server is down, unreachable or dropped the connection.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

// SQLSTATEs meaning "the server cannot serve you right now" rather than "your request is wrong":
// shutting down, crashed, still starting, out of connection slots, session ended as idle in a
// transaction (idle_in_transaction_session_timeout).
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300', '25P03']);

// node-postgres reports some connection losses only by message.
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable/i;

/** Whether `err` means the database could not be reached or dropped the connection (not a bad query). */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message, errors } = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string') {
    // Class 08 is "connection exception".
    if (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08')) return true;
  }
  if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
  // Node reports a refused multi-address connect (e.g. localhost on IPv4 and IPv6) as an AggregateError.
  return Array.isArray(errors) && errors.some(isConnectionError);
}

// SQLSTATEs of the server giving up on a statement under the connection's own limits:
// statement_timeout (or a cancel) and lock_timeout. The connection itself stays usable.
const TIMEOUT_CODES = new Set(['57014', '55P03']);

/** Whether `err` is the server ending a statement at its statement_timeout or lock_timeout. */
export function isServerTimeout(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && TIMEOUT_CODES.has(code);
}

// SQLSTATEs of isogate's own statements naming what the schema should hold: undefined_table,
// undefined_column, invalid_schema_name. Its queries are fixed, so these mean the schema was dropped,
// restored wrong or edited by hand, not that a request was bad.
const SCHEMA_CODES = new Set(['42P01', '42703', '3F000']);

/** Whether `err` is the server saying a table, column or schema isogate's statements use does not exist. */
export function isSchemaError(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && SCHEMA_CODES.has(code);
}

/**
 * `err` as a StoreUnavailableError when it is a connection failure, a server-side timeout or a schema
 * that lacks isogate's tables or columns; any other error unchanged.
 */
export function asStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  if (isServerTimeout(err))
    return new StoreUnavailableError(`PostgreSQL store did not answer in time: ${describe(err)}`, { cause: err });
  if (isSchemaError(err))
    return new StoreUnavailableError(
      `PostgreSQL store schema is missing or incomplete (dropped, restored wrong or edited by hand?): ${describe(err)}`,
      { cause: err },
    );
  if (!isConnectionError(err)) return err;
  return new StoreUnavailableError(`PostgreSQL store unreachable: ${describe(err)}`, { cause: err });
}

/** A one-line description of an error, for logs and health reports. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const message = err.message || (err as { errors?: Error[] }).errors?.map((e) => e.message).join('; ') || err.name;
    return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
  }
  return String(err);
}
