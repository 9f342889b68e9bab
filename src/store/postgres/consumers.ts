import { Consumer } from '../../model/consumer.js';
import { change, type Change } from '../changes.js';
import { assertNoConsumerConflict } from '../conflicts.js';
import { CONSUMER_COLUMNS, consumerFromRow, consumerToRow, type ConsumerRow } from '../rows.js';
import type { Mutator, NewConsumer } from '../store.js';
import { deleted, newObject, updatedObject, type WriteOutcome } from '../write-steps.js';
import type { Tx } from './connection.js';
import { SQL } from './sql.js';

// Consumers on PostgreSQL: the reads, the write steps of the Store's operations and the primitives
// they (and plans) are made of, each reporting the change it made.

/** Every stored consumer, oldest first. */
export async function listConsumers(tx: Tx): Promise<Consumer[]> {
  return (await tx.query<ConsumerRow>(SQL.listConsumers)).rows.map(consumerFromRow);
}

/** The stored consumer (credentials in their stored form), or null; `forUpdate` locks its row. */
export async function readConsumer(tx: Tx, id: string, forUpdate = false): Promise<Consumer | null> {
  const row = (await tx.query<ConsumerRow>(forUpdate ? SQL.getConsumerForUpdate : SQL.getConsumer, [id])).rows[0];
  return row ? consumerFromRow(row) : null;
}

/** Creates a consumer (CONSUMER_NAME_TAKEN or CREDENTIAL_TAKEN when another one holds its name or a credential). */
export async function createConsumer(tx: Tx, input: NewConsumer): Promise<WriteOutcome<Consumer>> {
  const consumer = newObject(Consumer, input);
  return { value: consumer, changes: [await saveConsumer(tx, consumer, null)] };
}

/** Read-modify-write of a consumer (credentials included); null when there is none. */
export async function updateConsumer(
  tx: Tx,
  id: string,
  mutate: Mutator<Consumer>,
): Promise<WriteOutcome<Consumer | null>> {
  const current = await readConsumer(tx, id, true);
  if (!current) return { value: null, changes: [] };
  const next = updatedObject(Consumer, current, mutate);
  return { value: next, changes: [await saveConsumer(tx, next, current)] };
}

/** Deletes a consumer; false when there was none. */
export async function deleteConsumer(tx: Tx, id: string): Promise<WriteOutcome<boolean>> {
  const current = await readConsumer(tx, id, true);
  return deleted(current ? [await removeConsumer(tx, current)] : []);
}

/** Inserts or updates a consumer after the name and credential checks (among every stored consumer, under the meta lock). */
export async function saveConsumer(tx: Tx, next: Consumer, current: Consumer | null): Promise<Change> {
  assertNoConsumerConflict(next, await listConsumers(tx));
  const r = consumerToRow(next);
  if (current) await tx.query(SQL.updateConsumer, [r.id, r.name, r.name_key, r.tags, r.credentials, r.updated_at]);
  else
    await tx.query(
      SQL.insertConsumer,
      CONSUMER_COLUMNS.map((c) => r[c]),
    );
  return change('consumer', current, next);
}

/** Deletes a consumer. */
export async function removeConsumer(tx: Tx, consumer: Consumer): Promise<Change> {
  await tx.query(SQL.deleteConsumer, [consumer.id]);
  return change('consumer', consumer, null);
}
