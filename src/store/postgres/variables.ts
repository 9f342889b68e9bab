import { Variable } from '../../model/variable.js';
import { change, type Change } from '../changes.js';
import { variableFromRow, type VariableRow } from '../rows.js';
import { deleted, nowIso, type WriteOutcome } from '../write-steps.js';
import type { Tx } from './connection.js';
import { SQL } from './sql.js';

// Variables on PostgreSQL: the reads, the write steps of the Store's operations and the primitives
// they (and plans) are made of, each reporting the change it made.

/** Every stored variable, by name. */
export async function listVariables(c: Tx): Promise<Variable[]> {
  return (await c.query<VariableRow>(SQL.listVariables)).rows.map(variableFromRow);
}

/** The stored variable, or null. */
export async function readVariable(tx: Tx, name: string): Promise<Variable | null> {
  const row = (await tx.query<VariableRow>(SQL.getVariable, [name])).rows[0];
  return row ? variableFromRow(row) : null;
}

/** Creates or replaces a variable. */
export async function putVariable(tx: Tx, name: string, value: string): Promise<WriteOutcome<Variable>> {
  const variable = Variable.parse({ name, value, updatedAt: nowIso() });
  return { value: variable, changes: [await saveVariable(tx, variable, await readVariable(tx, variable.name))] };
}

/** Deletes a variable; false when there was none. */
export async function deleteVariable(tx: Tx, name: string): Promise<WriteOutcome<boolean>> {
  const current = await readVariable(tx, name);
  return deleted(current ? [await removeVariable(tx, current)] : []);
}

/** Creates or replaces a variable. */
export async function saveVariable(tx: Tx, next: Variable, current: Variable | null): Promise<Change> {
  await tx.query(SQL.putVariable, [next.name, next.value, next.updatedAt]);
  return change('variable', current, next);
}

/** Deletes a variable. */
export async function removeVariable(tx: Tx, variable: Variable): Promise<Change> {
  await tx.query(SQL.deleteVariable, [variable.name]);
  return change('variable', variable, null);
}
