import { patternNames, type AnyNode } from './ast.js';

/** Scopes of the state analysis (state-analysis.ts): which bindings a name resolves to, and what a body declares. */

/** A lexical or function scope and the names it declares; the top level's bindings outlive a call. */
export class Scope {
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

/** Declares the `var`s and nested function declarations of a function body (not of inner functions). */
export function hoistVars(node: AnyNode, scope: Scope): void {
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
export function declareLexical(statements: AnyNode[], scope: Scope): void {
  for (const s of statements) {
    if (s.type === 'VariableDeclaration' && s.kind !== 'var') {
      for (const d of s.declarations) for (const name of patternNames(d.id)) scope.names.add(name);
    } else if ((s.type === 'ClassDeclaration' || s.type === 'FunctionDeclaration') && s.id) scope.names.add(s.id.name);
  }
}
