import type { z } from 'zod';
import { AdminError, zodDetails } from './errors.js';

/**
 * Parses request input with a zod schema or throws VALIDATION_FAILED with one detail per issue.
 * `source` names a path parameter (`name`); body issues are reported by their path in the body.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, source?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new AdminError('VALIDATION_FAILED', undefined, zodDetails(result.error, source));
  return result.data;
}
