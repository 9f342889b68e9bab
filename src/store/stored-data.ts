import { ZodError } from 'zod';
import { StoredDataError } from './errors.js';

// Reading a row back into the model: a failure there is the stored data's fault, never the caller's.

/**
 * Runs `read` (a row mapper) and turns a validation or JSON failure into a StoredDataError naming
 * the row, so the bad row is not mistaken for a bad request.
 */
export function fromStored<T>(kind: string, id: unknown, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof ZodError) && !(err instanceof SyntaxError)) throw err;
    const rowId = typeof id === 'string' ? id : String(id);
    throw new StoredDataError(kind, rowId, `stored ${kind} ${JSON.stringify(rowId)} is not valid: ${reason(err)}`, {
      cause: err,
    });
  }
}

/** A one-line reason: the JSON error, or each failing field with its message. */
function reason(err: ZodError | SyntaxError): string {
  if (err instanceof SyntaxError) return `bad JSON (${err.message})`;
  return err.issues.map((i) => `${i.path.map(String).join('.') || '(row)'}: ${i.message}`).join('; ');
}
