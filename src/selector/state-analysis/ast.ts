import type { Node } from 'acorn';

/** AST helpers of the state analysis (state-analysis.ts): acorn nodes, member chains, patterns, the verdict thrown. */

/** An acorn node with its fields, loosely typed. */
export type AnyNode = Node & Record<string, any>;

/** Thrown inside the walk with the first state found. */
export class Found extends Error {
  constructor(
    readonly reason: string,
    readonly line: number | null,
  ) {
    super(reason);
  }
}

/** The line a node starts on, or null. */
export function lineOf(node: AnyNode): number | null {
  return node.loc?.start.line ?? null;
}

/** A node made by the analysis itself (a class member seen as a function). */
export function synthetic(fields: Record<string, unknown>): AnyNode {
  return { start: 0, end: 0, ...fields } as unknown as AnyNode;
}

/** The identifier (or `this`, or other expression) a member chain starts at. */
export function rootOf(node: AnyNode): AnyNode {
  let n = node;
  for (;;) {
    if (n.type === 'ChainExpression') n = n.expression;
    else if (n.type === 'MemberExpression') n = n.object;
    else return n;
  }
}

/** The name of a member expression's property when it is known statically (`a.b`, `a["b"]`), or null. */
export function memberName(node: AnyNode): string | null {
  if (!node.computed) return node.property.type === 'Identifier' ? node.property.name : null;
  return node.property.type === 'Literal' ? String(node.property.value) : null;
}

/** Calls `each` on every binding or assignment target of a pattern, and on its defaults. */
export function walkPattern(node: AnyNode | null, each: (target: AnyNode) => void): void {
  if (!node) return;
  switch (node.type) {
    case 'ObjectPattern':
      for (const p of node.properties) walkPattern(p.type === 'RestElement' ? p.argument : p.value, each);
      return;
    case 'ArrayPattern':
      for (const e of node.elements) walkPattern(e, each);
      return;
    case 'RestElement':
      walkPattern(node.argument, each);
      return;
    case 'AssignmentPattern':
      each(node);
      walkPattern(node.left, each);
      return;
    default:
      each(node);
  }
}

/** The names a binding pattern declares. */
export function patternNames(node: AnyNode): string[] {
  const names: string[] = [];
  walkPattern(node, (t) => {
    if (t.type === 'Identifier') names.push(t.name);
  });
  return names;
}
