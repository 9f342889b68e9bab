import { describe, expect, it } from 'vitest';
import { GATEWAY_ERRORS } from '../../src/gateway/errors.js';
import { ruleHolds as serverRuleHolds, type Rule } from '../../src/model/rule.js';
import { JwtAlgorithm } from '../../src/model/access.js';
import { JWT_ALGORITHMS } from '../../web/src/jwt.js';
import { ruleHolds, ruleState, ruleText } from '../../web/src/rules.js';
import { parseHeaders, parseQuery } from '../../web/src/sample.js';
import { fieldMessage, GATEWAY_ERROR_WORDS, sentence } from '../../web/src/words.js';

// The console's pure helpers, held against the server code they mirror.

describe('console words', () => {
  it('explains every gateway error code with the gateway’s own message', () => {
    expect(GATEWAY_ERROR_WORDS).toEqual(
      Object.fromEntries(Object.entries(GATEWAY_ERRORS).map(([code, e]) => [code, e.message])),
    );
  });

  it.each([
    ['Too small: expected string to have >=1 characters', 'Required.'],
    ['Invalid input: expected string, received undefined', 'Required.'],
    ['Too big: expected string to have <=100 characters', 'Use at most 100 characters.'],
    ['Too small: expected number to be >=1', 'Must be at least 1.'],
    ['Too big: expected number to be <=10000', 'Must be at most 10000.'],
    ['Invalid input: expected int, received number', 'Must be a whole number.'],
    ['Invalid input: expected number, received string', 'Must be a number.'],
    [
      'Invalid option: expected one of "ip_hash"|"round_robin"|"weighted"',
      'Choose one of: ip_hash, round_robin, weighted.',
    ],
    ['Too small: expected array to have >=1 items', 'Add at least one.'],
    [
      'must start with / and contain only URL path characters',
      'Must start with / and contain only URL path characters.',
    ],
    ['unknown field', 'This field is not accepted here.'],
  ])('turns "%s" into "%s"', (raw, words) => {
    expect(fieldMessage(raw)).toBe(words);
  });

  it('offers exactly the JWT algorithms the admin API accepts', () => {
    expect(JWT_ALGORITHMS).toEqual(JwtAlgorithm.options);
  });

  it('makes a sentence of a message', () => {
    expect(sentence('the selector failed')).toBe('The selector failed.');
    expect(sentence('Already one.')).toBe('Already one.');
  });
});

describe('console rules', () => {
  const vars = new Map([
    ['IP1_enable', 'true'],
    ['REGION', 'eu'],
  ]);
  const rules: Rule[] = [
    { variable: 'IP1_enable', op: 'eq', value: 'true' },
    { variable: 'IP1_enable', op: 'eq', value: 'false' },
    { variable: 'IP1_enable', op: 'ne', value: 'false' },
    { variable: 'REGION', op: 'in', value: ['eu', 'us'] },
    { variable: 'REGION', op: 'not_in', value: ['eu'] },
    { variable: 'MISSING', op: 'ne', value: 'x' },
    { variable: 'MISSING', op: 'not_in', value: ['x'] },
  ];

  it.each(rules)('decides %j as the gateway does', (rule) => {
    expect(ruleHolds(rule, vars)).toBe(serverRuleHolds(rule, vars));
  });

  it('says why a rule holds or not, in words', () => {
    expect(ruleText({ variable: 'REGION', op: 'in', value: ['eu', 'us'] })).toBe('REGION is one of "eu", "us"');
    expect(ruleState(rules[0]!, vars)).toEqual({ holds: true, text: 'Holds now: IP1_enable is "true"' });
    expect(ruleState(rules[5]!, vars)).toEqual({
      holds: false,
      text: 'MISSING is not defined, so this rule never holds',
    });
  });
});

describe('test panel parsing', () => {
  it('reads a query string with repeated keys', () => {
    expect(parseQuery('?select_code=temp_node&a=1&a=2&empty=')).toEqual({
      select_code: 'temp_node',
      a: ['1', '2'],
      empty: '',
    });
    expect(parseQuery('')).toEqual({});
  });

  it('reads "Name: value" header lines, lower-casing names, and names the first bad line', () => {
    expect(parseHeaders('X-User: 42\n\nAccept: a\naccept: b\nX-Url: http://x')).toEqual({
      headers: { 'x-user': '42', accept: ['a', 'b'], 'x-url': 'http://x' },
    });
    expect(parseHeaders('X-User: 42\nno colon here')).toEqual({ badLine: 2 });
  });
});
