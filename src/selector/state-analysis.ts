import { parse, type Node } from 'acorn';

/**
 * Static state analysis of a selector script: the fast pre-filter of `memoize: "auto"`. A script it
 * finds keeping state between calls is not memoized, and its `reason` names the line; the
 * guarantee that a memoized answer is the script's own answer does not rest on it (a source
 * analysis cannot be sound for JavaScript): the sandbox records what a memoized script's top level
 * left and checks it after every run (isolate/prelude.cjs `settle` and `check`, see
 * docs/selector-sandbox.md). What it refuses, with the line:
 *
 * - **Top-level bindings** (`let count = 0`): no function may assign to a binding that is not its own
 *   or an enclosing function's, nor to a global.
 * - **Closures made while the top level ran** (`const next = (() => { let n = 0; return () => ++n })()`):
 *   the top level may only declare functions, classes without static parts, and values built from
 *   literals and built-ins with plain data; it runs no code of the script's own.
 * - **Objects kept at the top level** (`const seen = new Set()`): direct writes and mutating method
 *   calls on them.
 * - **Built-ins and the global object** (`Math.count = 1`, `globalThis`, prototypes): direct writes,
 *   mutating calls, `globalThis`, `eval`, `Function`, `with` and the members `prototype`,
 *   `constructor` and `__proto__`.
 *
 * It is conservative: a script it refuses may still be stateless (its `reason` says what it saw),
 * and `memoize: true` stays the operator's override.
 */

/** The verdict: stateless (with the script's top-level names), or the first state found. */
export type StateVerdict =
  { stateless: true; keptNames: string[] } | { stateless: false; reason: string; line: number | null };

/** Method names that change the object they are called on (arrays, maps, sets, dates, typed arrays). */
const MUTATORS = new Set([
  'push',
  'pop',
  'shift',
  'unshift',
  'splice',
  'sort',
  'reverse',
  'fill',
  'copyWithin',
  'set',
  'add',
  'delete',
  'clear',
  'assign',
  'defineProperty',
  'defineProperties',
  'setPrototypeOf',
  'getPrototypeOf',
  'deleteProperty',
  'preventExtensions',
  'freeze',
  'seal',
  'apply',
  'call',
  'bind',
  '__defineGetter__',
  '__defineSetter__',
  'compile',
]);

/** Member names that reach prototypes or the Function constructor. */
const FORBIDDEN_MEMBERS = new Set(['prototype', 'constructor', '__proto__']);

/** Globals whose use means code built at run time or the global object itself. */
const FORBIDDEN_GLOBALS = new Set(['eval', 'Function', 'globalThis']);

/**
 * Globals that may be used as values (`nodes.map(String)`): primitives and plain functions. Any other
 * global object used as a value (`const M = Math`) could be changed through the alias, unseen.
 */
const GLOBAL_VALUES = new Set([
  'undefined',
  'NaN',
  'Infinity',
  'String',
  'Number',
  'Boolean',
  'BigInt',
  'Symbol',
  'parseInt',
  'parseFloat',
  'isNaN',
  'isFinite',
  'encodeURIComponent',
  'decodeURIComponent',
  'encodeURI',
  'decodeURI',
]);

/** RegExp's legacy static members, which carry the last match of any call over to the next. */
const REGEXP_LEGACY = /^(\$.*|input|lastMatch|lastParen|leftContext|rightContext)$/;

type AnyNode = Node & Record<string, any>;

/** Thrown inside the walk with the first state found. */
class Found extends Error {
  constructor(
    readonly reason: string,
    readonly line: number | null,
  ) {
    super(reason);
  }
}

/** What a top-level binding holds, as far as its declaration tells. */
type TopKind = 'data' | 'code';

class Scope {
  readonly names = new Set<string>();
  constructor(
    readonly parent: Scope | null,
    /** The script's top level: its bindings outlive a call. */
    readonly top: boolean,
    /** Inside a class body, where `this` is an instance made by the call. */
    readonly inClass: boolean,
  ) {}

  /** The scope declaring `name`, or null for a global. */
  resolve(name: string): Scope | null {
    for (let s: Scope | null = this; s !== null; s = s.parent) if (s.names.has(name)) return s;
    return null;
  }
}

/** Analyses `code` (a selector script); never throws. */
export function analyzeState(code: string): StateVerdict {
  let program: AnyNode;
  try {
    program = parse(code, { ecmaVersion: 'latest', sourceType: 'script', locations: true }) as AnyNode;
  } catch (err) {
    return { stateless: false, reason: `the script does not parse: ${(err as Error).message}`, line: lineOfError(err) };
  }
  try {
    return { stateless: true, keptNames: new Analysis().run(program) };
  } catch (err) {
    if (err instanceof Found) return { stateless: false, reason: err.reason, line: err.line };
    throw err;
  }
}

/** Formats a verdict's reason with its line, for logs and the admin API. */
export function describeVerdict(verdict: StateVerdict): string | null {
  if (verdict.stateless) return null;
  return verdict.line === null ? verdict.reason : `line ${verdict.line}: ${verdict.reason}`;
}

function lineOfError(err: unknown): number | null {
  const loc = (err as { loc?: { line?: number } }).loc;
  return typeof loc?.line === 'number' ? loc.line : null;
}

function lineOf(node: AnyNode): number | null {
  return node.loc?.start.line ?? null;
}

class Analysis {
  private readonly top = new Scope(null, true, false);
  private readonly kinds = new Map<string, TopKind>();

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

  // ---- functions: run per call; what they may not touch ----

  private fn(node: AnyNode, parent: Scope, inClass: boolean): void {
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

  private classBody(node: AnyNode, scope: Scope): void {
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
  private visit(node: AnyNode | null | undefined, scope: Scope): void {
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
  private pattern(node: AnyNode, scope: Scope, assign: boolean): void {
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
  private keptRoot(node: AnyNode, scope: Scope): string | null {
    const root = rootOf(node);
    if (root.type !== 'Identifier') return null;
    const at = scope.resolve(root.name);
    return at === null || at.top ? root.name : null;
  }

  private reference(node: AnyNode, scope: Scope): void {
    if (FORBIDDEN_GLOBALS.has(node.name) && scope.resolve(node.name) === null) {
      throw new Found(`uses \`${node.name}\`, which is not memoizable`, lineOf(node));
    }
  }

  /** A global object used as a value, not through its members: it could be changed through the alias. */
  private bare(node: AnyNode, scope: Scope): void {
    if (!GLOBAL_VALUES.has(node.name) && scope.resolve(node.name) === null) {
      throw new Found(
        `uses the global \`${node.name}\` itself as a value (only its members are memoizable)`,
        lineOf(node),
      );
    }
  }

  private memberExpression(node: AnyNode, scope: Scope): void {
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

  private memberName(key: AnyNode, at: AnyNode): void {
    const name = key.type === 'Identifier' ? key.name : key.type === 'Literal' ? String(key.value) : null;
    if (name !== null && FORBIDDEN_MEMBERS.has(name)) {
      throw new Found(`reaches \`${name}\`, which is not memoizable`, lineOf(at));
    }
  }
}

/** A node made by the analysis itself (a class member seen as a function). */
function synthetic(fields: Record<string, unknown>): AnyNode {
  return { start: 0, end: 0, ...fields } as unknown as AnyNode;
}

/** The identifier (or `this`, or other expression) a member chain starts at. */
function rootOf(node: AnyNode): AnyNode {
  let n = node;
  for (;;) {
    if (n.type === 'ChainExpression') n = n.expression;
    else if (n.type === 'MemberExpression') n = n.object;
    else return n;
  }
}

function memberName(node: AnyNode): string | null {
  if (!node.computed) return node.property.type === 'Identifier' ? node.property.name : null;
  return node.property.type === 'Literal' ? String(node.property.value) : null;
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

/** Calls `each` on every binding or assignment target of a pattern, and on its defaults. */
function walkPattern(node: AnyNode | null, each: (target: AnyNode) => void): void {
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
function patternNames(node: AnyNode): string[] {
  const names: string[] = [];
  walkPattern(node, (t) => {
    if (t.type === 'Identifier') names.push(t.name);
  });
  return names;
}

/** Declares the `var`s and nested function declarations of a function body (not of inner functions). */
function hoistVars(node: AnyNode, scope: Scope): void {
  const visit = (n: AnyNode | null | undefined): void => {
    if (!n || typeof n.type !== 'string') return;
    if (n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression' || n.type.startsWith('Class')) return;
    if (n.type === 'FunctionDeclaration') {
      // Sloppy-mode block functions are also var-scoped (Annex B): declaring it here is the safe side.
      scope.names.add(n.id.name);
      return;
    }
    if (n.type === 'VariableDeclaration' && n.kind === 'var') {
      for (const d of n.declarations) for (const name of patternNames(d.id)) scope.names.add(name);
    }
    for (const key of Object.keys(n)) {
      if (key === 'loc') continue;
      const child = n[key];
      if (Array.isArray(child)) for (const c of child) visit(c);
      else if (child && typeof child.type === 'string') visit(child);
    }
  };
  visit(node);
}

/** Declares the let/const/class/function declarations made directly in a list of statements. */
function declareLexical(statements: AnyNode[], scope: Scope): void {
  for (const s of statements) {
    if (s.type === 'VariableDeclaration' && s.kind !== 'var') {
      for (const d of s.declarations) for (const name of patternNames(d.id)) scope.names.add(name);
    } else if ((s.type === 'ClassDeclaration' || s.type === 'FunctionDeclaration') && s.id) scope.names.add(s.id.name);
  }
}
