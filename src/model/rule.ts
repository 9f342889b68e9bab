import { z } from 'zod';
import { VariableName, VariableValue } from './variable.js';

/**
 * A condition on a variable attached to a node. A node takes traffic only while all its rules
 * hold; a rule on a missing variable never holds, whatever its operator.
 */
export const Rule = z.discriminatedUnion('op', [
  z.strictObject({ variable: VariableName, op: z.literal('eq'), value: VariableValue }),
  z.strictObject({ variable: VariableName, op: z.literal('ne'), value: VariableValue }),
  z.strictObject({ variable: VariableName, op: z.literal('in'), value: z.array(VariableValue).min(1).max(100) }),
  z.strictObject({ variable: VariableName, op: z.literal('not_in'), value: z.array(VariableValue).min(1).max(100) }),
]);
export type Rule = z.infer<typeof Rule>;

/** Whether one rule holds for the given variables (a missing variable never holds). */
export function ruleHolds(rule: Rule, variables: ReadonlyMap<string, string>): boolean {
  const current = variables.get(rule.variable);
  if (current === undefined) return false;
  switch (rule.op) {
    case 'eq':
      return current === rule.value;
    case 'ne':
      return current !== rule.value;
    case 'in':
      return rule.value.includes(current);
    case 'not_in':
      return !rule.value.includes(current);
  }
}

/** Whether every rule of a node holds (a node without rules always passes). */
export function rulesHold(rules: readonly Rule[], variables: ReadonlyMap<string, string>): boolean {
  for (const rule of rules) if (!ruleHolds(rule, variables)) return false;
  return true;
}
