/** Why a write conflicts with what is already stored. */
export type StoreConflictCode = 'API_NAME_TAKEN' | 'ROUTE_CONFLICT';

/** A write refused because it conflicts with another stored object; nothing was written. */
export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';

  constructor(
    readonly code: StoreConflictCode,
    message: string,
    /** The stored API the write conflicts with. */
    readonly conflictingApiId: string,
  ) {
    super(message);
  }
}
