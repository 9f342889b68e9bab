import type { Change } from './changes.js';

/** Why a write conflicts with what is already stored. */
export type StoreConflictCode = 'API_NAME_TAKEN' | 'ROUTE_CONFLICT' | 'CONSUMER_NAME_TAKEN' | 'CREDENTIAL_TAKEN';

/** A write refused because it conflicts with another stored object; nothing was written. */
export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';

  constructor(
    readonly code: StoreConflictCode,
    message: string,
    /** The stored API (or consumer) the write conflicts with. */
    readonly conflictingApiId: string,
  ) {
    super(message);
  }
}

/** A certificate whose name another stored certificate already serves; nothing was written. */
export class CertificateConflictError extends Error {
  override readonly name = 'CertificateConflictError';
  /** Stable code the admin API answers with (409). */
  readonly code = 'CERTIFICATE_NAME_TAKEN';

  constructor(
    readonly certificateName: string,
    /** The stored certificate that serves the name. */
    readonly conflictingCertificateId: string,
  ) {
    super(`the name ${certificateName} is already served by certificate ${conflictingCertificateId}`);
  }
}

/** Why a write was refused before anything was written (each is an admin error code of the same name). */
export type StoreRefusalCode =
  /** `If-Match` named another version of the object than the stored one (412). */
  | 'PRECONDITION_FAILED'
  /** Another request with the same `Idempotency-Key` committed first (409). */
  | 'IDEMPOTENCY_KEY_IN_USE'
  /** An object the reverted write touched was changed again since (409). */
  | 'REVERT_CONFLICT'
  /** The audit log does not hold every write needed (made before it was kept, or pruned) (409). */
  | 'AUDIT_INCOMPLETE'
  /** No such config version (404). */
  | 'VERSION_NOT_FOUND'
  /** Another admin token has this name (409). */
  | 'TOKEN_NAME_TAKEN'
  /**
   * A revert, restore or config apply would put a certificate or a consumer's credential whose secret
   * (private key, credential hash) is no longer stored and not given: the audit log and files exported
   * without secrets never hold one (409).
   */
  | 'SECRET_NOT_STORED'
  /**
   * The write adds selectors or selector memory past the selector budget of the write scope (see
   * src/model/selector-budget.ts) (409).
   */
  | 'SELECTOR_BUDGET_EXCEEDED';

/** A write the store refused; nothing was written. */
export class StoreRefusedError extends Error {
  override readonly name = 'StoreRefusedError';

  constructor(
    readonly code: StoreRefusalCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The store's database cannot be reached (refused, dropped, timed out, shutting down). The request
 * may be retried later; nothing was written.
 */
export class StoreUnavailableError extends Error {
  override readonly name: string = 'StoreUnavailableError';
  /** Stable code the admin API answers with (503). */
  readonly code: 'STORE_UNAVAILABLE' | 'STORE_OUTCOME_UNKNOWN' = 'STORE_UNAVAILABLE';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The connection died after COMMIT was sent and before its answer arrived: the write may or may not
 * have been saved. Read the object back, or retry with the same `Idempotency-Key`, which answers
 * with the first outcome if it was saved.
 */
export class StoreOutcomeUnknownError extends StoreUnavailableError {
  override readonly name = 'StoreOutcomeUnknownError';
  override readonly code = 'STORE_OUTCOME_UNKNOWN';
}

/**
 * A stored row does not read back as a valid object (broken JSON, an unknown field, a value out of
 * range): written by hand, by a newer isogate, or damaged. The stored data is wrong, not the request
 * that read it, so the admin API answers 500 STORE_DATA_INVALID (never 400 VALIDATION_FAILED).
 */
export class StoredDataError extends Error {
  override readonly name = 'StoredDataError';
  /** Stable code the admin API answers with (500). */
  readonly code = 'STORE_DATA_INVALID';

  constructor(
    /** The kind of row (api, node, variable, process, ...). */
    readonly kind: string,
    /** Its id (a variable's name), as stored. */
    readonly id: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Not a failure: a write made in dry-run mode went as far as its commit and was rolled back. Thrown
 * by the store's write helper so that every write, whatever its route, can be tried without effect.
 */
export class DryRunResult extends Error {
  override readonly name = 'DryRunResult';

  constructor(
    /** What the write would have returned. */
    readonly value: unknown,
    /** What it would have changed. */
    readonly changes: readonly Change[],
  ) {
    super('dry run: rolled back');
  }
}

/**
 * A command that only reads the store (`config export`, `config apply --dry-run`) found no isogate
 * store where it was pointed: no such file or schema, or one without isogate's tables. Nothing was
 * created.
 */
export class StoreNotFoundError extends Error {
  override readonly name = 'StoreNotFoundError';
  /** Stable code of the refusal. */
  readonly code = 'STORE_NOT_FOUND';

  constructor(message: string) {
    super(message);
  }
}

/**
 * A command that only reads the store found it at another schema version than this isogate's: an
 * older one it would have to migrate (only a start does that), or a newer one it cannot read.
 */
export class StoreSchemaVersionError extends Error {
  override readonly name = 'StoreSchemaVersionError';
  /** Stable code of the refusal. */
  readonly code: 'STORE_SCHEMA_OLDER' | 'STORE_SCHEMA_NEWER';

  constructor(
    /** Where the store is (a file, or a URL without its password). */
    readonly where: string,
    /** The newest migration the store holds. */
    readonly stored: number,
    /** The newest migration this isogate knows. */
    readonly supported: number,
  ) {
    super(
      stored < supported
        ? `the store at ${where} is at schema version ${stored}, this isogate needs ${supported}: start isogate of this version to upgrade it (this command never migrates)`
        : `the store at ${where} is at schema version ${stored}, newer than this isogate supports (${supported}): upgrade isogate`,
    );
    this.code = stored < supported ? 'STORE_SCHEMA_OLDER' : 'STORE_SCHEMA_NEWER';
  }
}
