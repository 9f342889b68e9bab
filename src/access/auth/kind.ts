import type { AuthMethod } from '../../model/access.js';
import type { CompiledConsumer, CompiledConsumers } from '../consumers.js';
import { nameEndIf, pairEnd } from '../query.js';

/** The parts of a request authentication reads. */
export interface AuthRequest {
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The query string without `?`, or ''. */
  readonly rawQuery: string;
}

/** How one method judged a request that carried its credential. */
export type AuthOutcome =
  | { readonly ok: true; readonly consumer: CompiledConsumer | null; readonly method: AuthMethod['kind'] }
  | {
      readonly ok: false;
      readonly code: 'AUTH_FAILED' | 'AUTH_BUSY';
      readonly method: AuthMethod['kind'];
      readonly reason: string;
    };

/**
 * One configured authentication method. `find` is cheap and synchronous (is this method's
 * credential in the request?); `verify` checks it against the consumers, at once or asynchronously.
 */
export interface Authenticator {
  readonly kind: AuthMethod['kind'];
  /** The `WWW-Authenticate` challenge for a 401 (RFC 9110 §11.6.1), or null (anonymous). */
  readonly challenge: string | null;
  /** The credential as sent, or null when the request has none for this method. */
  find(req: AuthRequest): string | null;
  verify(credential: string, consumers: CompiledConsumers): AuthOutcome | Promise<AuthOutcome>;
  /** Header names (lower-cased) and query parameters the credential travels in, stripped before proxying. */
  readonly carriers: { readonly headers: readonly string[]; readonly query: readonly string[] };
}

/** A registered kind: name = folder = config value (`src/access/auth/key/` is `"key"`). */
export interface AuthKindFactory<M extends AuthMethod = AuthMethod> {
  readonly kind: M['kind'];
  create(method: M, realm: string): Authenticator;
}

const okOutcomes = new Map<AuthMethod['kind'], WeakMap<CompiledConsumer, AuthOutcome>>();

/** The `ok` outcome of `consumer` by `method`: one frozen object per consumer and config version, so success allocates nothing. */
export function okOutcome(method: AuthMethod['kind'], consumer: CompiledConsumer): AuthOutcome {
  let byConsumer = okOutcomes.get(method);
  if (byConsumer === undefined) okOutcomes.set(method, (byConsumer = new WeakMap()));
  let outcome = byConsumer.get(consumer);
  if (outcome === undefined) byConsumer.set(consumer, (outcome = Object.freeze({ ok: true, consumer, method })));
  return outcome;
}

/** A failure outcome (the reason is for explain and debug logs, never a secret). */
export function failed(method: AuthMethod['kind'], reason: string): AuthOutcome {
  return { ok: false, code: 'AUTH_FAILED', method, reason };
}

/**
 * The value of a header that may repeat (the first one). Own headers only: a configured name such as
 * `constructor` must not find what every object inherits.
 */
export function headerValue(headers: AuthRequest['headers'], name: string): string | undefined {
  const v = Object.hasOwn(headers, name) ? headers[name] : undefined;
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' ? first : undefined;
}

/** A query parameter's first value, percent-decoded; undefined when absent or malformed. */
export function queryValue(rawQuery: string, name: string): string | undefined {
  if (rawQuery === '') return undefined;
  let from = 0;
  while (from <= rawQuery.length) {
    const end = pairEnd(rawQuery, from);
    const keyEnd = nameEndIf(rawQuery, from, end, name);
    if (keyEnd >= 0) {
      const raw = keyEnd === end ? '' : rawQuery.slice(keyEnd + 1, end);
      // Most values need no decoding: skip the regex and decodeURIComponent for them.
      if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw;
      try {
        return decodeURIComponent(raw.replace(/\+/g, ' '));
      } catch {
        return undefined;
      }
    }
    from = end + 1;
  }
  return undefined;
}

/** A quoted-string for a challenge parameter (RFC 9110 §5.6.4). */
export function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}
