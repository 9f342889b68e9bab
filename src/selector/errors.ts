import type { SelectorFailure } from './types.js';

/** A selector that could not be loaded: it does not compile, defines no `select`, or its top level failed. */
export class SelectorCompileError extends Error {
  constructor(readonly failure: SelectorFailure) {
    super(failure.line !== undefined ? `${failure.message} (line ${failure.line})` : failure.message);
    this.name = 'SelectorCompileError';
  }
}
