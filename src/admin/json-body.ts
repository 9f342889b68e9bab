import type { FastifyInstance, FastifyRequest } from 'fastify';
import { strictUtf8, unstorableText } from '../model/text.js';
import { AdminError } from './errors.js';

/**
 * Largest admin request body accepted (a selector is at most 64 KiB; the rest is small), except by
 * `POST /admin/config/apply`, which takes a config file as large as the CLI reads (CONFIG_FILE_MAX_BYTES).
 */
export const ADMIN_BODY_LIMIT = 1024 * 1024;

/** Deepest nesting of arrays and objects a body may have (a config file nests about eight deep). */
export const MAX_BODY_DEPTH = 64;

/**
 * Whether `text` nests arrays and objects deeper than `max` (a string's brackets do not count);
 * what is not JSON is left to JSON.parse. Looked at before parsing: a 16 MiB config file of
 * brackets was half a gigabyte of nested arrays and fifteen seconds of a blocked event loop before
 * the parse gave up.
 */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return true;
    } else if (c === 93 /* ] */ || c === 125 /* } */) depth--;
  }
  return false;
}

/**
 * JSON.parse that refuses bodies nested deeper than MAX_BODY_DEPTH, keys which could reach an
 * object's prototype when the value is merged later, and strings no store keeps as they are
 * (U+0000, lone surrogates).
 */
export function parseJsonBody(text: string): unknown {
  if (nestsDeeperThan(text, MAX_BODY_DEPTH))
    throw new RefusedBodyError(`the body nests arrays and objects more than ${MAX_BODY_DEPTH} deep`);
  return JSON.parse(text, (key, value: unknown) => {
    if (
      key === '__proto__' ||
      (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value)
    ) {
      throw new SyntaxError(`the key "${key}" is not allowed`);
    }
    const bad = unstorableText(key) ?? (typeof value === 'string' ? unstorableText(value) : null);
    if (bad !== null) throw new RefusedBodyError(`the field "${key}" ${bad}`);
    return value;
  });
}

/** A body refused for what it holds (a string no store keeps as it is, nesting past the bound), not for its syntax. */
class RefusedBodyError extends Error {}

/**
 * Makes `application/json` the only body type of this scope (others get 415). An empty body reads as
 * no body, so clients that always send the JSON content type can still DELETE; bad JSON is a
 * VALIDATION_FAILED like any other invalid input.
 */
export function acceptJsonBodiesOnly(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    // UTF-8 only (RFC 8259): a stray byte would otherwise be stored as U+FFFD, not as it was sent.
    const text = typeof body === 'string' ? body : strictUtf8(body);
    if (text === null) {
      done(new AdminError('VALIDATION_FAILED', 'the body is not UTF-8 text'), undefined);
      return;
    }
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, parseJsonBody(text));
    } catch (err) {
      const message =
        err instanceof RefusedBodyError ? err.message : `the body is not valid JSON: ${(err as Error).message}`;
      done(new AdminError('VALIDATION_FAILED', message), undefined);
    }
  });
}

/**
 * A path parameter or query value no store keeps as it is (U+0000, a lone surrogate) is a
 * VALIDATION_FAILED naming it, before any route looks it up (PostgreSQL would refuse the query).
 */
export async function refuseUnstorableParameters(request: FastifyRequest): Promise<void> {
  for (const [where, values] of [
    ['params', request.params],
    ['query', request.query],
  ] as const) {
    if (typeof values !== 'object' || values === null) continue;
    for (const [name, value] of Object.entries(values as Record<string, unknown>)) {
      for (const one of Array.isArray(value) ? value : [value]) {
        const bad = typeof one === 'string' ? (unstorableText(name) ?? unstorableText(one)) : null;
        if (bad !== null)
          throw new AdminError('VALIDATION_FAILED', undefined, [{ path: `${where}.${name}`, message: bad }]);
      }
    }
  }
}
