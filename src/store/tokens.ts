import { randomUUID } from 'node:crypto';
import { AdminToken, type TokenCreate } from '../model/token.js';
import type { Mutator } from './store.js';
import { currentWriteScope } from './write-scope.js';

// What both drivers do to make and change a named admin token, apart from the SQL.

/** A new token record, made by the actor of the current write scope. */
export function newToken(input: TokenCreate): AdminToken {
  const now = new Date().toISOString();
  return AdminToken.parse({
    ...input,
    id: randomUUID(),
    createdBy: currentWriteScope().actor.name,
    createdAt: now,
    updatedAt: now,
  });
}

/** A token after `mutate`; its id, maker and creation time belong to the store. */
export function updatedToken(current: AdminToken, mutate: Mutator<AdminToken>): AdminToken {
  return AdminToken.parse({
    ...mutate({ ...current }),
    id: current.id,
    createdBy: current.createdBy,
    createdAt: current.createdAt,
    updatedAt: new Date().toISOString(),
  });
}
