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

/**
 * The store's database cannot be reached (refused, dropped, timed out, shutting down). The request
 * may be retried later; for a write whose connection dropped during COMMIT the outcome is unknown.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  /** Stable code the admin API answers with (503). */
  readonly code = 'STORE_UNAVAILABLE';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
