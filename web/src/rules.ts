import type { Rule } from './types.js';

/** Operators of a rule, in words. */
export const OPERATORS: Array<{ op: Rule['op']; words: string; list: boolean }> = [
  { op: 'eq', words: 'equals', list: false },
  { op: 'ne', words: 'does not equal', list: false },
  { op: 'in', words: 'is one of', list: true },
  { op: 'not_in', words: 'is none of', list: true },
];

/**
 * Whether a rule holds for the given variables; a missing variable never holds. The same logic as the
 * gateway's `ruleHolds` (src/model/rule.ts), kept here so the bundle does not carry zod; a test holds
 * the two together.
 */
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

/** A rule in words: `IP1_enable equals "true"`, `REGION is one of "eu", "us"`. */
export function ruleText(rule: Rule): string {
  const words = OPERATORS.find((o) => o.op === rule.op)?.words ?? rule.op;
  const value = Array.isArray(rule.value)
    ? rule.value.map((v) => JSON.stringify(v)).join(', ')
    : JSON.stringify(rule.value);
  return `${rule.variable} ${words} ${value}`;
}

/** Why a rule holds or not, in words, for the row that shows it. */
export function ruleState(rule: Rule, variables: ReadonlyMap<string, string>): { holds: boolean; text: string } {
  const current = variables.get(rule.variable);
  if (current === undefined)
    return { holds: false, text: `${rule.variable || 'The variable'} is not defined, so this rule never holds` };
  const holds = ruleHolds(rule, variables);
  return {
    holds,
    text: `${holds ? 'Holds now' : 'Does not hold now'}: ${rule.variable} is ${JSON.stringify(current)}`,
  };
}
