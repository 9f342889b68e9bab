import { randomUUID } from 'node:crypto';
import type { Change } from './changes.js';
import type { Mutator } from './store.js';

// What the write steps of both drivers share, apart from the SQL: what a step reports, and how it
// makes a new config object or the next one of a stored object (identity and timestamps belong to
// the store, whatever the caller or the mutator gives).

/** What a write step reports: its result and the objects it changed (none: no version, no audit row). */
export interface WriteOutcome<T> {
  value: T;
  changes: Change[];
}

/** Now, as stored (ISO 8601). */
export const nowIso = (): string => new Date().toISOString();

/** The model (zod schema) a config object is validated by. */
interface Model<T> {
  parse(input: unknown): T;
}

/** A new config object: `fields` with a fresh id, created and updated now, validated by `model`. */
export function newObject<T>(model: Model<T>, fields: object): T {
  const now = nowIso();
  return model.parse({ ...fields, id: randomUUID(), createdAt: now, updatedAt: now });
}

/**
 * The stored object `current` after `mutate` (on a copy), validated by `model` and updated now; its
 * id, its creation time and the `kept` fields (a node's API) stay as stored.
 */
export function updatedObject<T extends { id: string; createdAt: string }>(
  model: Model<T>,
  current: T,
  mutate: Mutator<T>,
  kept: Partial<T> = {},
): T {
  return model.parse({
    ...mutate(structuredClone(current)),
    id: current.id,
    ...kept,
    createdAt: current.createdAt,
    updatedAt: nowIso(),
  });
}

/** What a delete step reports: true, with its changes, when it removed something. */
export function deleted(changes: Change[]): WriteOutcome<boolean> {
  return { value: changes.length > 0, changes };
}
