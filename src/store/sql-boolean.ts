// The row mapping every driver shares: both schemas store the same columns with the same meaning
// (JSON as text, ISO 8601 timestamps as text). Only booleans differ on the way out.

/**
 * A stored boolean: SQLite returns 0/1, PostgreSQL true/false. Rows are written with 0/1, which both
 * accept (PostgreSQL reads the text '1'/'0' as a boolean).
 */
export type SqlBoolean = number | boolean;

/** A stored boolean as a boolean: true for PostgreSQL's true or SQLite's 1. */
export function fromSqlBoolean(value: SqlBoolean): boolean {
  return value === true || value === 1;
}
