import { describe, expect, it } from 'vitest';
import { Rule, ruleHolds, rulesHold } from '../../src/model/rule.js';

const variables = new Map<string, string>([
  ['IP1_enable', 'true'],
  ['region', 'cn-east'],
  ['empty', ''],
]);

// rule → whether it holds against `variables`.
const ruleCases: [rule: Rule, holds: boolean][] = [
  [{ variable: 'IP1_enable', op: 'eq', value: 'true' }, true],
  [{ variable: 'IP1_enable', op: 'eq', value: 'false' }, false],
  [{ variable: 'IP1_enable', op: 'eq', value: 'TRUE' }, false],
  [{ variable: 'empty', op: 'eq', value: '' }, true],
  [{ variable: 'IP1_enable', op: 'ne', value: 'false' }, true],
  [{ variable: 'IP1_enable', op: 'ne', value: 'true' }, false],
  [{ variable: 'empty', op: 'ne', value: '' }, false],
  [{ variable: 'region', op: 'in', value: ['cn-east', 'cn-north'] }, true],
  [{ variable: 'region', op: 'in', value: ['cn-north'] }, false],
  [{ variable: 'region', op: 'in', value: ['cn'] }, false],
  [{ variable: 'region', op: 'not_in', value: ['cn-north', 'us-west'] }, true],
  [{ variable: 'region', op: 'not_in', value: ['cn-east'] }, false],
  [{ variable: 'empty', op: 'in', value: [''] }, true],
  // A missing variable never holds, whatever the operator (ShowAPI: the node stays out).
  [{ variable: 'IP2_enable', op: 'eq', value: 'true' }, false],
  [{ variable: 'IP2_enable', op: 'ne', value: 'true' }, false],
  [{ variable: 'IP2_enable', op: 'in', value: ['true', 'false'] }, false],
  [{ variable: 'IP2_enable', op: 'not_in', value: ['true'] }, false],
  // Names are case-sensitive.
  [{ variable: 'ip1_enable', op: 'eq', value: 'true' }, false],
];

describe('ruleHolds', () => {
  it.each(ruleCases)('%j → %s', (rule, holds) => {
    expect(Rule.parse(rule)).toEqual(rule);
    expect(ruleHolds(rule, variables)).toBe(holds);
  });
});

describe('rulesHold', () => {
  const on: Rule = { variable: 'IP1_enable', op: 'eq', value: 'true' };
  const east: Rule = { variable: 'region', op: 'in', value: ['cn-east'] };
  const off: Rule = { variable: 'IP1_enable', op: 'eq', value: 'false' };
  const missing: Rule = { variable: 'IP2_enable', op: 'ne', value: 'x' };

  const cases: [name: string, rules: Rule[], vars: ReadonlyMap<string, string>, holds: boolean][] = [
    ['no rules', [], variables, true],
    ['no rules, no variables', [], new Map(), true],
    ['one rule that holds', [on], variables, true],
    ['all rules hold', [on, east], variables, true],
    ['one of them fails', [on, off], variables, false],
    ['the failing one first', [off, on], variables, false],
    ['one on a missing variable', [on, missing], variables, false],
    ['a rule with no variables at all', [on], new Map(), false],
    ['the variable flipped at run time', [on], new Map([...variables, ['IP1_enable', 'false']]), false],
  ];

  it.each(cases)('%s → %s', (_name, rules, vars, holds) => {
    expect(rulesHold(rules, vars)).toBe(holds);
  });
});
