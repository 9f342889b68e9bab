import type { FastifyInstance } from 'fastify';
import { AdminError } from './errors.js';

/** Largest admin request body accepted (a selector is at most 64 KiB; the rest is small). */
export const ADMIN_BODY_LIMIT = 1024 * 1024;

/** JSON.parse that refuses keys which could reach an object's prototype when the value is merged later. */
export function parseJsonBody(text: string): unknown {
  return JSON.parse(text, (key, value: unknown) => {
    if (
      key === '__proto__' ||
      (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value)
    ) {
      throw new SyntaxError(`the key "${key}" is not allowed`);
    }
    return value;
  });
}

/**
 * Makes `application/json` the only body type of this scope (others get 415). An empty body reads as
 * no body, so clients that always send the JSON content type can still DELETE; bad JSON is a
 * VALIDATION_FAILED like any other invalid input.
 */
export function acceptJsonBodiesOnly(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, parseJsonBody(text));
    } catch (err) {
      done(new AdminError('VALIDATION_FAILED', `the body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });
}
