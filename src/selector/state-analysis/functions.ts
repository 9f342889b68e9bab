import { Found, lineOf, memberName, rootOf, synthetic, walkPattern, patternNames, type AnyNode } from './ast.js';
import { FORBIDDEN_GLOBALS, FORBIDDEN_MEMBERS, GLOBAL_VALUES, MUTATORS, REGEXP_LEGACY } from './rules.js';
import { declareLexical, hoistVars, Scope } from './scope.js';

/** The walk inside functions: code run per call, and what it may not touch; Analysis (walker.ts) adds the top level. */
export class FunctionAnalysis {
  // ---- functions: run per call; what they may not touch ----

  protected fn(node: AnyNode, parent: Scope, inClass: boolean): void {
    const scope = new Scope(parent, false, inClass || parent.inClass);
    if (node.type === 'FunctionExpression' && node.id) scope.names.add(node.id.name);
    if (node.type !== 'ArrowFunctionExpression') scope.names.add('arguments');
    for (const p of node.params as AnyNode[]) for (const name of patternNames(p)) scope.names.add(name);
    if (node.body.type === 'BlockStatement') {
      hoistVars(node.body, scope);
      declareLexical(node.body.body, scope);
    }
    for (const p of node.params as AnyNode[]) this.pattern(p, scope, false);
    if (node.body.type === 'BlockStatement') for (const s of node.body.body) this.visit(s, scope);
    else this.visit(node.body, scope);
  }

  protected classBody(node: AnyNode, scope: Scope): void {
    const inner = new Scope(scope, false, true);
    if (node.id) inner.names.add(node.id.name);
    if (node.superClass) this.visit(node.superClass, scope);
    for (const el of node.body.body as AnyNode[]) {
      if (el.computed) this.visit(el.key, inner);
      if (el.type === 'MethodDefinition') this.fn(el.value, inner, true);
      else if (el.type === 'PropertyDefinition') {
        // A field's initializer runs per instance, like the body of an arrow function.
        if (el.value) this.fn(synthetic({ type: 'ArrowFunctionExpression', params: [], body: el.value }), inner, true);
      } else if (el.type === 'StaticBlock') {
        this.fn(
          synthetic({
            type: 'FunctionExpression',
            params: [],
            body: synthetic({ type: 'BlockStatement', body: el.body }),
          }),
          inner,
          true,
        );
      }
    }
  }

  /** Visits a statement or expression inside a function. */
  protected visit(node: AnyNode | null | undefined, scope: Scope): void {
    if (!node) return;
    switch (node.type) {
      case 'Identifier':
        this.reference(node, scope);
        this.bare(node, scope);
        return;
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        this.fn(node, scope, false);
        return;
      case 'ClassDeclaration':
      case 'ClassExpression':
        this.classBody(node, scope);
        return;
      case 'BlockStatement':
      case 'StaticBlock': {
        const inner = new Scope(scope, false, scope.inClass);
        declareLexical(node.body, inner);
        for (const s of node.body) this.visit(s, inner);
        return;
      }
      case 'SwitchStatement': {
        this.visit(node.discriminant, scope);
        const inner = new Scope(scope, false, scope.inClass);
        for (const c of node.cases) declareLexical(c.consequent, inner);
        for (const c of node.cases) {
          this.visit(c.test, inner);
          for (const s of c.consequent) this.visit(s, inner);
        }
        return;
      }
      case 'ForStatement':
      case 'ForInStatement':
      case 'ForOfStatement': {
        const inner = new Scope(scope, false, scope.inClass);
        const head = node.type === 'ForStatement' ? node.init : node.left;
        if (head?.type === 'VariableDeclaration') {
          if (head.kind !== 'var')
            for (const d of head.declarations) for (const n of patternNames(d.id)) inner.names.add(n);
          this.visit(head, inner);
        } else if (node.type !== 'ForStatement') this.pattern(head, inner, true);
        else this.visit(head, inner);
        if (node.type === 'ForStatement') {
          this.visit(node.test, inner);
          this.visit(node.update, inner);
        } else this.visit(node.right, inner);
        this.visit(node.body, inner);
        return;
      }
      case 'CatchClause': {
        const inner = new Scope(scope, false, scope.inClass);
        if (node.param) for (const n of patternNames(node.param)) inner.names.add(n);
        if (node.param) this.pattern(node.param, inner, false);
        this.visit(node.body, inner);
        return;
      }
      case 'VariableDeclaration':
        for (const d of node.declarations) {
          this.pattern(d.id, scope, false);
          this.visit(d.init, scope);
        }
        return;
      case 'AssignmentExpression':
        this.pattern(node.left, scope, true);
        this.visit(node.right, scope);
        return;
      case 'UpdateExpression':
        this.pattern(node.argument, scope, true);
        return;
      case 'UnaryExpression':
        if (node.operator === 'delete') this.pattern(node.argument, scope, true);
        else if (node.operator === 'typeof' && node.argument.type === 'Identifier')
          this.reference(node.argument, scope);
        else this.visit(node.argument, scope);
        return;
      case 'MemberExpression':
        this.memberExpression(node, scope);
        if (node.object.type === 'Identifier') this.reference(node.object, scope);
        else this.visit(node.object, scope);
        if (node.computed) this.visit(node.property, scope);
        return;
      case 'BinaryExpression':
        // `x instanceof Map` names the global without handing it anywhere.
        this.visit(node.left, scope);
        if (node.operator === 'instanceof' && node.right.type === 'Identifier') this.reference(node.right, scope);
        else this.visit(node.right, scope);
        return;
      case 'CallExpression':
      case 'NewExpression': {
        const callee = node.callee.type === 'ChainExpression' ? node.callee.expression : node.callee;
        if (callee.type === 'MemberExpression') {
          const name = memberName(callee);
          // `Object.assign({}, …)` fills a fresh object: the common copy idiom.
          const fresh = name === 'assign' && ['ObjectExpression', 'ArrayExpression'].includes(node.arguments[0]?.type);
          if (name !== null && MUTATORS.has(name) && !fresh) {
            const kept = this.keptRoot(callee.object, scope);
            if (kept !== null)
              throw new Found(`calls \`${name}\` on \`${kept}\`, which is kept between calls`, lineOf(node));
          }
        }
        if (node.callee.type === 'Identifier') this.reference(node.callee, scope);
        else this.visit(node.callee, scope);
        for (const a of node.arguments) this.visit(a, scope);
        return;
      }
      case 'ThisExpression':
        return;
      case 'WithStatement':
        throw new Found('`with` is not memoizable', lineOf(node));
      case 'ImportExpression':
        throw new Found('`import()` is not memoizable', lineOf(node));
      case 'LabeledStatement':
        this.visit(node.body, scope);
        return;
      case 'BreakStatement':
      case 'ContinueStatement':
        return;
      case 'Property':
        if (node.computed) this.visit(node.key, scope);
        else this.memberName(node.key, node);
        this.visit(node.value, scope);
        return;
      case 'MetaProperty':
        return;
    }
    for (const key of Object.keys(node)) {
      if (key === 'type' || key === 'loc' || key === 'start' || key === 'end') continue;
      const child = node[key];
      if (Array.isArray(child)) for (const c of child) if (c && typeof c.type === 'string') this.visit(c, scope);
      if (child && typeof child.type === 'string') this.visit(child, scope);
    }
  }

  /** A pattern that binds (`assign` false: declarations, parameters) or writes (`assign` true). */
  protected pattern(node: AnyNode, scope: Scope, assign: boolean): void {
    walkPattern(node, (target) => {
      if (target.type === 'AssignmentPattern') return this.visit(target.right, scope);
      if (!assign) return;
      if (target.type === 'Identifier') {
        const at = scope.resolve(target.name);
        if (at === null) throw new Found(`assigns to the global \`${target.name}\``, lineOf(target));
        if (at.top) throw new Found(`assigns to \`${target.name}\`, which is kept between calls`, lineOf(target));
        return;
      }
      if (target.type === 'MemberExpression') {
        const root = rootOf(target);
        if (root.type === 'ThisExpression' && !scope.inClass)
          throw new Found('writes to `this` outside a class', lineOf(target));
        const kept = this.keptRoot(target.object, scope);
        if (kept !== null) throw new Found(`changes \`${kept}\`, which is kept between calls`, lineOf(target));
        this.visit(target, scope);
        return;
      }
      this.visit(target, scope);
    });
  }

  /** The name of the kept binding or global an expression's member chain starts at, or null. */
  protected keptRoot(node: AnyNode, scope: Scope): string | null {
    const root = rootOf(node);
    if (root.type !== 'Identifier') return null;
    const at = scope.resolve(root.name);
    return at === null || at.top ? root.name : null;
  }

  protected reference(node: AnyNode, scope: Scope): void {
    if (FORBIDDEN_GLOBALS.has(node.name) && scope.resolve(node.name) === null) {
      throw new Found(`uses \`${node.name}\`, which is not memoizable`, lineOf(node));
    }
  }

  /** A global object used as a value, not through its members: it could be changed through the alias. */
  protected bare(node: AnyNode, scope: Scope): void {
    if (!GLOBAL_VALUES.has(node.name) && scope.resolve(node.name) === null) {
      throw new Found(
        `uses the global \`${node.name}\` itself as a value (only its members are memoizable)`,
        lineOf(node),
      );
    }
  }

  protected memberExpression(node: AnyNode, scope: Scope): void {
    if (!node.computed || node.property.type === 'Literal') this.memberName(node.property, node);
    const name = memberName(node);
    if (
      node.object.type === 'Identifier' &&
      node.object.name === 'RegExp' &&
      scope.resolve('RegExp') === null &&
      name !== null &&
      REGEXP_LEGACY.test(name)
    ) {
      throw new Found(`reads \`RegExp.${name}\`, which carries the last match over from an earlier call`, lineOf(node));
    }
  }

  protected memberName(key: AnyNode, at: AnyNode): void {
    const name = key.type === 'Identifier' ? key.name : key.type === 'Literal' ? String(key.value) : null;
    if (name !== null && FORBIDDEN_MEMBERS.has(name)) {
      throw new Found(`reaches \`${name}\`, which is not memoizable`, lineOf(at));
    }
  }
}
