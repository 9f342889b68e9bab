import { Found, lineOf, memberName, rootOf, walkPattern, patternNames, type AnyNode } from './ast.js';
import { FunctionAnalysis } from './functions.js';
import { MUTATORS } from './rules.js';
import { Scope } from './scope.js';

/** What a top-level binding holds, as far as its declaration tells. */
type TopKind = 'data' | 'code';

/** The walk of a whole script (state-analysis.ts): its top level here, its functions in FunctionAnalysis. */
export class Analysis extends FunctionAnalysis {
  private readonly top = new Scope(null, true, false);
  private readonly kinds = new Map<string, TopKind>();

  /** Walks `program` and returns its top-level names; throws Found with the first state found. */
  run(program: AnyNode): string[] {
    // Top-level names first (a function may use one declared below it).
    for (const stmt of program.body as AnyNode[]) {
      if (stmt.type === 'FunctionDeclaration' || stmt.type === 'ClassDeclaration') {
        this.top.names.add(stmt.id.name);
        this.kinds.set(stmt.id.name, 'code');
      } else if (stmt.type === 'VariableDeclaration') {
        for (const d of stmt.declarations as AnyNode[]) {
          for (const name of patternNames(d.id)) this.top.names.add(name);
        }
      }
    }
    for (const stmt of program.body as AnyNode[]) this.topStatement(stmt);
    return [...this.top.names];
  }

  // ---- the top level: declarations only, running no code of the script's own ----

  private topStatement(stmt: AnyNode): void {
    switch (stmt.type) {
      case 'FunctionDeclaration':
        this.fn(stmt, this.top, false);
        return;
      case 'ClassDeclaration':
        this.topClass(stmt);
        return;
      case 'VariableDeclaration':
        for (const d of stmt.declarations as AnyNode[]) {
          if (d.id.type !== 'Identifier') this.topPattern(d.id);
          if (d.init) {
            this.inert(d.init, true);
            if (d.id.type === 'Identifier') this.kinds.set(d.id.name, holdsCode(d.init, this.kinds) ? 'code' : 'data');
          }
          for (const name of patternNames(d.id)) if (!this.kinds.has(name)) this.kinds.set(name, 'data');
        }
        return;
      case 'EmptyStatement':
        return;
      case 'ExpressionStatement':
        if (typeof stmt.directive === 'string') return;
        break;
    }
    throw new Found(
      'the top level runs code; only declarations of functions and of values built from literals are memoizable',
      lineOf(stmt),
    );
  }

  private topPattern(pattern: AnyNode): void {
    // Destructuring at the top level reads from its (inert) initializer; defaults must be inert too.
    walkPattern(pattern, (target) => {
      if (target.type === 'AssignmentPattern') this.inert(target.right, false);
    });
  }

  private topClass(node: AnyNode): void {
    if (node.superClass && node.superClass.type !== 'Identifier') {
      throw new Found('a class at the top level extends a computed value', lineOf(node));
    }
    for (const el of node.body.body as AnyNode[]) {
      if (el.type === 'StaticBlock' || (el.type === 'PropertyDefinition' && el.static)) {
        throw new Found(
          'a class at the top level has a static field or block (it runs when the script loads)',
          lineOf(el),
        );
      }
      if (el.computed) this.inert(el.key, false);
    }
    this.classBody(node, this.top);
  }

  /**
   * Checks an expression evaluated at the top level runs nothing of the script's own. `functions`:
   * function values may appear (they are only created); false where the value reaches a built-in
   * that could call it (operands, arguments).
   */
  private inert(node: AnyNode, functions: boolean): void {
    const refuse = (what: string): never => {
      throw new Found(
        `the top level runs code (${what}); only values built from literals and built-ins are memoizable`,
        lineOf(node),
      );
    };
    switch (node.type) {
      case 'Literal':
        if (node.regex && /[gy]/.test(node.regex.flags)) {
          throw new Found(
            'a regular expression kept at the top level with the g or y flag keeps its lastIndex between calls',
            lineOf(node),
          );
        }
        return;
      case 'Identifier':
        this.reference(node, this.top);
        this.bare(node, this.top);
        if (!functions && this.kinds.get(node.name) === 'code') refuse(`\`${node.name}\` handed to a built-in`);
        return;
      case 'ThisExpression':
        throw new Found('keeps `this` of the top level, which is the global object', lineOf(node));
      case 'TemplateLiteral':
        for (const e of node.expressions) this.inert(e, false);
        return;
      case 'ArrayExpression':
        for (const e of node.elements) if (e) this.inert(e.type === 'SpreadElement' ? e.argument : e, functions);
        return;
      case 'ObjectExpression':
        for (const p of node.properties as AnyNode[]) {
          if (p.type === 'SpreadElement') {
            this.inert(p.argument, false);
            continue;
          }
          if (p.kind !== 'init') refuse('a getter or setter');
          if (p.computed) this.inert(p.key, false);
          else this.memberName(p.key, p);
          this.inert(p.value, functions);
        }
        return;
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        if (!functions) refuse('a function handed to a built-in');
        this.fn(node, this.top, false);
        return;
      case 'ClassExpression':
        if (!functions) refuse('a class handed to a built-in');
        this.topClass(node);
        return;
      case 'UnaryExpression':
        if (node.operator === 'delete') refuse('delete');
        this.inert(node.argument, false);
        return;
      case 'BinaryExpression':
        this.inert(node.left, false);
        this.inert(node.right, false);
        return;
      case 'LogicalExpression':
        this.inert(node.left, functions);
        this.inert(node.right, functions);
        return;
      case 'ConditionalExpression':
        this.inert(node.test, false);
        this.inert(node.consequent, functions);
        this.inert(node.alternate, functions);
        return;
      case 'SequenceExpression':
        for (const e of node.expressions) this.inert(e, functions);
        return;
      case 'ChainExpression':
        this.inert(node.expression, functions);
        return;
      case 'MemberExpression':
        this.memberExpression(node, this.top);
        if (node.object.type === 'Identifier') this.reference(node.object, this.top);
        else this.inert(node.object, false);
        if (node.computed) this.inert(node.property, false);
        return;
      case 'CallExpression':
      case 'NewExpression': {
        // Only built-ins, on plain data: a global's member (`Object.freeze`, `new Set`) or a method of
        // a value that holds no code (`"a,b".split(",")`).
        const callee: AnyNode = node.callee;
        const root = rootOf(callee);
        const global = root.type === 'Identifier' && this.top.resolve(root.name) === null;
        const onData = callee.type === 'MemberExpression' && !holdsCode(callee.object, this.kinds);
        if (!global && !onData) refuse("a call of the script's own code");
        if (callee.type === 'MemberExpression') this.inert(callee, false);
        else this.reference(callee, this.top);
        const method = callee.type === 'MemberExpression' ? memberName(callee) : null;
        if (method !== null && method !== 'freeze' && MUTATORS.has(method)) refuse(`a call of \`${method}\``);
        for (const a of node.arguments as AnyNode[]) this.inert(a.type === 'SpreadElement' ? a.argument : a, false);
        return;
      }
      default:
        refuse(node.type);
    }
  }
}

/** True when evaluating `node` may yield a function or an object holding one (code a built-in could call). */
function holdsCode(node: AnyNode, kinds: Map<string, TopKind>): boolean {
  let found = false;
  const visit = (n: AnyNode | null | undefined): void => {
    if (!n || found) return;
    if (n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression' || n.type === 'ClassExpression') {
      found = true;
      return;
    }
    if (n.type === 'Identifier') {
      if (kinds.get(n.name) === 'code') found = true;
      return;
    }
    for (const key of Object.keys(n)) {
      if (key === 'loc') continue;
      const child = n[key];
      if (Array.isArray(child)) for (const c of child) if (c && typeof c.type === 'string') visit(c);
      if (child && typeof child.type === 'string') visit(child);
    }
  };
  visit(node);
  return found;
}
