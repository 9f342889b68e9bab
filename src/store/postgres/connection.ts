import pg from 'pg';

/** One pooled connection, inside a transaction. */
export type Tx = pg.PoolClient;

/** The NOTIFY channel every write signals on; the payload is `<schema>:<config version>`. */
export const CONFIG_CHANNEL = 'isogate_config';

// Plain identifiers only: the name goes into SQL and into the connection's startup options, so it
// must need no escaping beyond the double quotes (and stays within PostgreSQL's 63-byte limit).
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Throws unless `schema` is a plain identifier (a letter or _, then letters, digits, _; at most 63). */
export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(
      `invalid PostgreSQL schema name "${schema}": use letters, digits and _ (not first a digit), at most 63`,
    );
  }
}

/** A name as a quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const INT8_OID = 20;

/** Reads a BIGINT as a number; isogate's BIGINTs (versions, byte limits) stay far below 2^53. */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`BIGINT ${text} does not fit a JavaScript number`);
  return n;
}

// Per connection rather than pg.types.setTypeParser, which would change every pg user in the process.
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** How every isogate connection to PostgreSQL is made. */
export interface ConnectionSettings {
  readonly url: string;
  /** The schema put first on the search_path; undefined keeps the server's default search_path. */
  readonly schema: string | undefined;
  /** How long establishing a connection may take before it fails. */
  readonly connectTimeoutMs: number;
}

/**
 * Limits the server enforces on one connection's own work, so a client that gave up (or vanished)
 * leaves no backend behind waiting on a lock or holding one. Sent as startup parameters; a URL that
 * sets the same parameter wins.
 */
export interface ServerTimeouts {
  /** Most one statement may run, and wait for one lock (statement_timeout and lock_timeout). */
  readonly statementMs: number;
  /** Most a transaction may sit idle between statements (idle_in_transaction_session_timeout); omit for none. */
  readonly idleInTransactionMs?: number;
}

/**
 * The pg client config for one connection; `role` names it in pg_stat_activity (`isogate-<role>[:<schema>]`).
 * Without `timeouts` the server's defaults apply (the migration connection waits for its advisory lock).
 */
export function clientConfig(settings: ConnectionSettings, role: string, timeouts?: ServerTimeouts): pg.ClientConfig {
  if (settings.schema !== undefined) assertSchemaName(settings.schema);
  // pg lets parameters in the URL override these, so a URL-given `options` would silently drop the
  // search_path: refuse the ambiguity instead.
  if (settings.schema !== undefined && /[?&]options=/.test(settings.url)) {
    throw new Error('the store URL sets "options" itself: give the schema there or as the schema option, not both');
  }
  return {
    connectionString: settings.url,
    application_name: `isogate-${role}${settings.schema === undefined ? '' : `:${settings.schema}`}`,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    // Lets the OS notice a peer that vanished without closing the socket (machine gone, network cut).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    types,
    ...(timeouts === undefined
      ? {}
      : {
          statement_timeout: timeouts.statementMs,
          lock_timeout: timeouts.statementMs,
          ...(timeouts.idleInTransactionMs === undefined
            ? {}
            : { idle_in_transaction_session_timeout: timeouts.idleInTransactionMs }),
        }),
    // A startup option, so the search_path is in place before the first query on every connection.
    ...(settings.schema === undefined ? {} : { options: `-c search_path=${quoteIdent(settings.schema)}` }),
  };
}
