import { Consumer } from '../../model/consumer.js';
import { change, type Change } from '../changes.js';
import { assertNoConsumerConflict } from '../conflicts.js';
import { consumerFromRow, consumerToRow, type ConsumerRow } from '../rows.js';
import type { Mutator, NewConsumer } from '../store.js';
import { deleted, newObject, updatedObject, type WriteOutcome } from '../write-steps.js';
import type { Statements } from './statements.js';

// Consumers on SQLite: the reads, the write steps of the Store's operations and the primitives they
// (and plans) are made of, each reporting the change it made.

/** Every stored consumer, oldest first. */
export function listConsumers(stmt: Statements): Consumer[] {
  return (stmt.listConsumers.all() as ConsumerRow[]).map(consumerFromRow);
}

/** The stored consumer (credentials in their stored form), or null. */
export function readConsumer(stmt: Statements, id: string): Consumer | null {
  const row = stmt.getConsumer.get(id) as ConsumerRow | undefined;
  return row ? consumerFromRow(row) : null;
}

/** Creates a consumer (CONSUMER_NAME_TAKEN or CREDENTIAL_TAKEN when another one holds its name or a credential). */
export function createConsumer(stmt: Statements, input: NewConsumer): WriteOutcome<Consumer> {
  const consumer = newObject(Consumer, input);
  return { value: consumer, changes: [saveConsumer(stmt, consumer, null)] };
}

/** Read-modify-write of a consumer (credentials included); null when there is none. */
export function updateConsumer(stmt: Statements, id: string, mutate: Mutator<Consumer>): WriteOutcome<Consumer | null> {
  const current = readConsumer(stmt, id);
  if (!current) return { value: null, changes: [] };
  const next = updatedObject(Consumer, current, mutate);
  return { value: next, changes: [saveConsumer(stmt, next, current)] };
}

/** Deletes a consumer; false when there was none. */
export function deleteConsumer(stmt: Statements, id: string): WriteOutcome<boolean> {
  const current = readConsumer(stmt, id);
  return deleted(current ? [removeConsumer(stmt, current)] : []);
}

/** Inserts or updates a consumer after the name and credential checks (among every stored consumer). */
export function saveConsumer(stmt: Statements, next: Consumer, current: Consumer | null): Change {
  assertNoConsumerConflict(next, listConsumers(stmt));
  if (current) stmt.updateConsumer.run(consumerToRow(next));
  else stmt.insertConsumer.run(consumerToRow(next));
  return change('consumer', current, next);
}

/** Deletes a consumer. */
export function removeConsumer(stmt: Statements, consumer: Consumer): Change {
  stmt.deleteConsumer.run(consumer.id);
  return change('consumer', consumer, null);
}
