import type { Authenticator } from './auth/kind.js';
import { nameEndIf, pairEnd } from './query.js';

/** The parts of a client request credentials are stripped from (its own parsed head). */
export interface StrippableRequest {
  readonly headers: Record<string, string>;
  readonly rawHeaders: string[];
}

/**
 * Removes every configured method's credential (headers, query parameters) from the request before
 * it is proxied or shown to the selector; returns the query string without them. Only what a method
 * reads goes: an API with key auth in `x-api-key` keeps an `Authorization` header meant for the node.
 */
export function stripCredentials(req: StrippableRequest, rawQuery: string, methods: readonly Authenticator[]): string {
  let query = rawQuery;
  for (const m of methods) {
    for (const name of m.carriers.headers) {
      if (!Object.hasOwn(req.headers, name)) continue;
      delete req.headers[name];
      const raw = req.rawHeaders;
      for (let i = raw.length - 2; i >= 0; i -= 2) if (raw[i]!.toLowerCase() === name) raw.splice(i, 2);
    }
    for (const param of m.carriers.query) if (query !== '') query = withoutParam(query, param);
  }
  return query;
}

/** The query without every `name` or `name=…` parameter (one pass, no copy when it has none). */
function withoutParam(rawQuery: string, name: string): string {
  if (rawQuery.indexOf(name) < 0) return rawQuery;
  let out = '';
  let first = true;
  let from = 0;
  while (from <= rawQuery.length) {
    const end = pairEnd(rawQuery, from);
    if (nameEndIf(rawQuery, from, end, name) < 0) {
      out = first ? rawQuery.slice(from, end) : `${out}&${rawQuery.slice(from, end)}`;
      first = false;
    }
    from = end + 1;
  }
  return out;
}
