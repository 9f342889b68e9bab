import { parse, type Node } from 'acorn';

/**
 * Exact facts read off a selector's syntax tree, which the sandbox needs to check at run time what a
 * memoized script's top level left behind (isolate/prelude.cjs `settle`). They are facts of the
 * grammar, not guesses about behaviour: which names the top level declares, where each function
 * literal sits, whether private names occur. Nothing here decides that a script is stateless; it
 * only lets the sandbox name and place what it finds in the realm.
 */
export interface SourceFacts {
  /** Names bound by top-level `let`, `const` and `class` declarations (they live outside the global object). */
  lexicalNames: string[];
  /**
   * Every function literal (declarations, expressions, arrows, methods, accessors, classes): its
   * first possible text position, its end, its line, and whether it is made by the top level itself
   * (so it closes over nothing but the script's own bindings and the global object).
   */
  functions: Array<[start: number, end: number, line: number, topLevel: boolean]>;
  /** The script uses private names (`#x`), which can be stamped onto any object, frozen ones too. */
  privateNames: boolean;
}

// acorn's node types are a union without an index signature; the walk reads fields by name.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyNode = Node & Record<string, any>;

const FUNCTION_TYPES = new Set([
  'FunctionDeclaration',
  'FunctionExpression',
  'ArrowFunctionExpression',
  'ClassDeclaration',
  'ClassExpression',
]);

/**
 * Node types that may stand between a function literal and the top level without giving it a scope
 * of its own to close over: statements that open no scope, expressions, and a class's body (its
 * scope holds only the class's own name, which cannot be reassigned inside it).
 */
const TRANSPARENT = new Set([
  'Program',
  'ExpressionStatement',
  'VariableDeclaration',
  'VariableDeclarator',
  'IfStatement',
  'LabeledStatement',
  'ReturnStatement',
  'ThrowStatement',
  'ClassBody',
  'MethodDefinition',
  'Property',
  'ObjectExpression',
  'ArrayExpression',
  'CallExpression',
  'NewExpression',
  'MemberExpression',
  'ChainExpression',
  'ConditionalExpression',
  'LogicalExpression',
  'BinaryExpression',
  'UnaryExpression',
  'UpdateExpression',
  'AssignmentExpression',
  'SequenceExpression',
  'SpreadElement',
  'TemplateLiteral',
  'TaggedTemplateExpression',
  'ParenthesizedExpression',
  'ClassDeclaration',
  'ClassExpression',
  'ObjectPattern',
  'ArrayPattern',
  'AssignmentPattern',
  'RestElement',
]);

/** The facts of `code`, or null when it does not parse (it is then never memoized). */
export function sourceFacts(code: string): SourceFacts | null {
  let program: AnyNode;
  try {
    program = parse(code, { ecmaVersion: 'latest', sourceType: 'script', locations: true }) as AnyNode;
  } catch {
    return null;
  }
  const facts: SourceFacts = { lexicalNames: [], functions: [], privateNames: false };
  for (const stmt of program.body as AnyNode[]) {
    if (stmt.type === 'ClassDeclaration') facts.lexicalNames.push(stmt.id.name);
    if (stmt.type === 'VariableDeclaration' && stmt.kind !== 'var') {
      for (const d of stmt.declarations as AnyNode[]) boundNames(d.id, facts.lexicalNames);
    }
  }
  visit(program, [], facts);
  return facts;
}

/** Walks every node with its ancestors (bounded by the size of the tree, 64 KiB of source at most). */
function visit(node: AnyNode, ancestors: AnyNode[], facts: SourceFacts): void {
  if (node.type === 'PrivateIdentifier') facts.privateNames = true;
  if (FUNCTION_TYPES.has(node.type)) {
    const parent = ancestors[ancestors.length - 1];
    // A method's or accessor's text starts at its key (or `get`, `async`, `*`): the parent's start.
    const start =
      parent && (parent.type === 'Property' || parent.type === 'MethodDefinition') && parent.value === node
        ? parent.start
        : node.start;
    const topLevel = ancestors.every((a) => TRANSPARENT.has(a.type));
    facts.functions.push([start, node.end, node.loc?.start.line ?? 0, topLevel]);
  }
  ancestors.push(node);
  for (const key of Object.keys(node)) {
    if (key === 'loc') continue;
    const value = node[key];
    if (Array.isArray(value)) {
      for (const child of value) if (child && typeof child.type === 'string') visit(child, ancestors, facts);
    } else if (value && typeof value === 'object' && typeof value.type === 'string') {
      visit(value, ancestors, facts);
    }
  }
  ancestors.pop();
}

/** The identifiers a binding pattern declares. */
function boundNames(pattern: AnyNode, into: string[]): void {
  switch (pattern.type) {
    case 'Identifier':
      into.push(pattern.name);
      return;
    case 'ObjectPattern':
      for (const p of pattern.properties as AnyNode[])
        boundNames(p.type === 'RestElement' ? p.argument : p.value, into);
      return;
    case 'ArrayPattern':
      for (const e of pattern.elements as Array<AnyNode | null>) if (e) boundNames(e, into);
      return;
    case 'RestElement':
      boundNames(pattern.argument, into);
      return;
    case 'AssignmentPattern':
      boundNames(pattern.left, into);
      return;
  }
}
