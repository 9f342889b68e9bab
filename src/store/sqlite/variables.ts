import { Variable } from '../../model/variable.js';
import { change, type Change } from '../changes.js';
import { variableFromRow, type VariableRow } from '../rows.js';
import { deleted, nowIso, type WriteOutcome } from '../write-steps.js';
import type { Statements } from './statements.js';

// Variables on SQLite: the reads, the write steps of the Store's operations and the primitives they
// (and plans) are made of, each reporting the change it made.

/** Every stored variable, by name. */
export function listVariables(stmt: Statements): Variable[] {
  return (stmt.listVariables.all() as VariableRow[]).map(variableFromRow);
}

/** The stored variable, or null. */
export function readVariable(stmt: Statements, name: string): Variable | null {
  const row = stmt.getVariable.get(name) as VariableRow | undefined;
  return row ? variableFromRow(row) : null;
}

/** Creates or replaces a variable. */
export function putVariable(stmt: Statements, name: string, value: string): WriteOutcome<Variable> {
  const variable = Variable.parse({ name, value, updatedAt: nowIso() });
  return { value: variable, changes: [saveVariable(stmt, variable, readVariable(stmt, variable.name))] };
}

/** Deletes a variable; false when there was none. */
export function deleteVariable(stmt: Statements, name: string): WriteOutcome<boolean> {
  const current = readVariable(stmt, name);
  return deleted(current ? [removeVariable(stmt, current)] : []);
}

/** Creates or replaces a variable. */
export function saveVariable(stmt: Statements, next: Variable, current: Variable | null): Change {
  stmt.putVariable.run({ name: next.name, value: next.value, updated_at: next.updatedAt });
  return change('variable', current, next);
}

/** Deletes a variable. */
export function removeVariable(stmt: Statements, variable: Variable): Change {
  stmt.deleteVariable.run(variable.name);
  return change('variable', variable, null);
}
